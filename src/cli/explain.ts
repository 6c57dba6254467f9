import { randomBytes } from "node:crypto";
import type { Explanation, Task } from "../protocol/index.js";
import { MAX_ID } from "../protocol/index.js";
import { queryExplain } from "../node/query.js";
import { CliError, idFlag, parseIntFlag, urls } from "./errors.js";
import { TLS_OPTIONS, tlsFlags, tlsHelp, wssOnly } from "./tls-flags.js";
import { CREDENTIAL_HELP, CREDENTIAL_OPTIONS, credentialFlags } from "./credentials.js";
import { parseFlags } from "./flags.js";
import { OUTPUT_OPTIONS, outputFormat } from "./output.js";
import { TASK_MATCH_HELP, TASK_MATCH_OPTIONS, taskMatchFlags } from "./task-flags.js";

export const EXPLAIN_HELP = `allot explain --entry URL --app NAME [--require …] [--prefer …] [--user U] [-o json]

A dry run of one placement at a tier-2 distributor or a master (there: the server a slave
would be given), or through a vip in front of them: how many servers offer the application, how many each hard constraint
removed, the top candidates with their scores, and why the chosen one wins or why none fits.
Nothing is reserved and no policy state moves (a stateful policy is explained by a fresh
instance of it; a random one by a source seeded from the task).

${TASK_MATCH_HELP}  --id CLIENT           the client whose stored attributes apply (default: this command's own
                        id); with authentication on, a client is always asked about as itself
  -o json, --json       print one JSON object: {"app","policy","offering","live","eligible",
                        "removedBy":{CONSTRAINT:N,…},"maxScore","candidates":[{"id","rank",
                        "score","load","reserved","capacity","free","power","idlePower",
                        "chosen"}],"chosen":ID|null,"reason","retryable"}
  --timeout-ms N        default 5000
${tlsHelp(false)}${CREDENTIAL_HELP}With authentication on, a principal that is not an admin sees no server ids but the chosen
one's (what a placement would tell it).
Exits 0 when a server would be chosen, 1 when none fits (the reason on stderr), 2 on a usage
error.
`;

const OPTIONS = {
  entry: { type: "string" },
  app: { type: "string" },
  ...TASK_MATCH_OPTIONS,
  id: { type: "string" },
  "timeout-ms": { type: "string" },
  ...OUTPUT_OPTIONS,
  ...TLS_OPTIONS,
  ...CREDENTIAL_OPTIONS,
  help: { type: "boolean", short: "h" },
} as const;

export async function explain(argv: string[]): Promise<number> {
  const { values: v } = parseFlags(argv, OPTIONS);
  if (v.help) {
    process.stdout.write(EXPLAIN_HELP);
    return 0;
  }
  const entry = urls("--entry", v.entry, true);
  if (entry.length !== 1) throw new CliError("takes one node URL (a tier-2 distributor or a master)", "--entry");
  if (!v.app) throw new CliError("is required", "--app");
  const app = idFlag("--app", v.app, MAX_ID);
  const match = taskMatchFlags(v);
  const json = outputFormat(v) === "json";
  const timeoutMs = parseIntFlag("--timeout-ms", v["timeout-ms"], 5000, 1, 600_000);
  const client = v.id === undefined ? undefined : idFlag("--id", v.id, MAX_ID);
  const options = { timeoutMs, ...tlsFlags(v, false), ...credentialFlags(v) };
  wssOnly(options.tls, "--entry", v.entry);
  const id = `explain-${randomBytes(4).toString("hex")}`;
  const task: Task = {
    id,
    key: id,
    app,
    deadline: Date.now() + timeoutMs,
    require: match.require,
    ...(match.prefer ? { prefer: match.prefer } : {}),
    ...(match.user !== undefined ? { user: match.user } : {}),
    ...(match.cost !== undefined ? { cost: match.cost } : {}),
    clientAttrs: match.clientAttrs ?? {},
    prefs: {},
    payload: null,
  };
  const x = await queryExplain(entry[0] as string, task, client, options);
  process.stdout.write(json ? `${JSON.stringify(x)}\n` : `${formatExplanation(x).join("\n")}\n`);
  if (x.chosen === null) {
    process.stderr.write(`allot explain: no server fits: ${x.reason}\n`);
    return 1;
  }
  return 0;
}

/** The explanation as lines for people. */
export function formatExplanation(x: Explanation): string[] {
  const lines = [
    `application ${JSON.stringify(x.app)}, policy ${x.policy}`,
    `offering ${x.offering}, live ${x.live}, eligible ${x.eligible}`,
    `removed by: ${Object.entries(x.removedBy)
      .map(([k, n]) => `${k} ${n}`)
      .join(", ")}`,
  ];
  if (x.candidates.length > 0) {
    const rows = [["", "RANK", "ID", "SCORE", "LOAD", "RESERVED", "CAPACITY", "FREE", "POWER", "IDLE-POWER"]];
    for (const c of x.candidates)
      rows.push([c.chosen ? "*" : "", String(c.rank), c.id ?? "-", `${c.score}/${x.maxScore}`, String(c.load), String(c.reserved), String(c.capacity), String(c.free), String(c.power), String(c.idlePower)]);
    const widths = (rows[0] as string[]).map((_, i) => Math.max(...rows.map((r) => (r[i] as string).length)));
    lines.push(`candidates (best first, ${x.candidates.length} of ${x.eligible} eligible):`);
    for (const r of rows) lines.push(`  ${r.map((cell, i) => cell.padEnd(widths[i] as number)).join("  ").trimEnd()}`);
  }
  lines.push(`chosen: ${x.chosen ?? "none"}`, `reason: ${x.reason}`);
  return lines;
}
