import type { ServerStatusRow } from "../protocol/index.js";
import { queryStatus } from "../node/query.js";
import { CliError, parseIntFlag, urls } from "./errors.js";
import { parseFlags } from "./flags.js";

export const STATUS_HELP = `allot status --entry URL [--json]

Prints an allocator's (a tier-2 distributor's or a master's) database: every server with its
applications, load, reservations, capacity, power, attributes, status, version and the age of
its last report; a master's slaves too (load = requests held).

  --json          print {"node":…,"servers":[{"id","url","apps","load","capacity","power",
                  "attrs","status","version":[inc,seq],"reserved","ageMs"}],"clients":[{"id",
                  "attrs","version":[time,node]}],"users":[…],"taskTypes":[…]}, plus
                  "slaves":[…] (rows as servers) from a master
  --timeout-ms N  default 5000
`;

const OPTIONS = {
  entry: { type: "string" },
  json: { type: "boolean" },
  "timeout-ms": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

export async function status(argv: string[]): Promise<number> {
  const { values: v } = parseFlags(argv, OPTIONS);
  if (v.help) {
    process.stdout.write(STATUS_HELP);
    return 0;
  }
  const entry = urls("--entry", v.entry, true);
  if (entry.length !== 1) throw new CliError("takes one allocator URL", "--entry");
  const s = await queryStatus(entry[0] as string, { timeoutMs: parseIntFlag("--timeout-ms", v["timeout-ms"], 5000, 1, 600_000) });
  if (v.json) {
    const t = s.tables ?? { client: [], user: [], "task-type": [] };
    process.stdout.write(`${JSON.stringify({ node: s.node, servers: s.servers, clients: t.client, users: t.user, taskTypes: t["task-type"], ...(s.slaves ? { slaves: s.slaves } : {}) })}\n`);
    return 0;
  }
  const lines = [`allocator ${s.node}: ${s.servers.length} server(s)${s.slaves ? `, ${s.slaves.length} slave(s)` : ""}`];
  for (const r of [...s.servers].sort((a, b) => (a.id < b.id ? -1 : 1))) lines.push(formatRow(r));
  if (s.slaves) {
    lines.push("slaves:");
    for (const r of [...s.slaves].sort((a, b) => (a.id < b.id ? -1 : 1))) lines.push(formatRow(r));
  }
  const t = s.tables;
  if (t) {
    for (const [name, entries] of [["client", t.client], ["user", t.user], ["task-type", t["task-type"]]] as const) {
      for (const e of entries) lines.push(`  ${name} ${e.id}: ${Object.entries(e.attrs).map(([k, x]) => `${k}=${String(x)}`).join(" ")}`);
    }
  }
  process.stdout.write(`${lines.join("\n")}\n`);
  return 0;
}

function formatRow(r: ServerStatusRow): string {
  const attrs = Object.entries(r.attrs)
    .map(([k, x]) => `${k}=${String(x)}`)
    .join(",");
  return (
    `  ${r.id.padEnd(14)} ${r.status.padEnd(8)} load ${r.load}/${r.capacity}${r.reserved ? ` (+${r.reserved} reserved)` : ""}  power ${r.power}  apps ${r.apps.join(",")}` +
    `${attrs ? `  ${attrs}` : ""}  v${r.version[0]}.${r.version[1]}  ${(r.ageMs / 1000).toFixed(1)}s ago  ${r.url}`
  );
}
