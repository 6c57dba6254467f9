import type { TaskSpec } from "../node/config.js";
import { credentialsFor, startMasterSlaveCluster, startTieredCluster } from "../node/cluster.js";
import { generateClusterKey } from "../node/credentials.js";
import type { AppSpec } from "../node/cluster.js";
import { isLogLevel } from "../node/logger.js";
import { startNode } from "../node/node.js";
import { nativeCodec } from "../node/config.js";
import { CliError, logFormatFlag, oneOf, parseIntFlag } from "./errors.js";
import { ASSIGN_MODES } from "../node/config.js";
import { parseFlags } from "./flags.js";
import { OUTPUT_OPTIONS, outputFormat } from "./output.js";
import { formatSummary, progressLine, runLoad } from "./load.js";

export const DEMO_HELP = `allot demo [--topology tiered|master-slave] [--tasks N] [--concurrency C] [-o text|json]

Starts a whole cluster in this process on loopback, submits N tasks (default 1000; a mix of echo
and hash) through its entry, shows progress, and prints a summary.

  --topology tiered        (default) 2 vips, 2 tier-1 and 2 tier-2 distributors and 4 app
                           servers with mixed applications and power; the entry is vip-1
  --topology master-slave  2 peered masters, 2 slaves (one proxy, one direct) and the same 4
                           app servers; the entry is master-1, and the summary counts tasks per
                           slave too
  --assign grant|indicate  master-slave: how masters hand out servers (default grant)
  --tasks N                tasks to submit (default 1000)
  --concurrency C          tasks in flight (default 64)
  -o json, --json          print the summary as JSON (the shape of submit -o json)
  --insecure               run the cluster without credentials (by default every node gets
                           one, issued in memory by a throwaway cluster key, and proves itself)
  --log-level LEVEL        default warn
  --log-format FORMAT      json, pretty (human lines) or auto (default: pretty when stderr is
                           a terminal, JSON otherwise)
`;

/** The demo fleet: different applications, power and regions, so selection has work to do. */
export const DEMO_APPS: AppSpec[] = [
  { id: "app-1", apps: ["echo", "hash"], capacity: 8, power: 1, attrs: { region: "eu" } },
  { id: "app-2", apps: ["echo"], capacity: 8, power: 2, attrs: { region: "us" } },
  { id: "app-3", apps: ["echo", "hash", "sleep"], capacity: 16, power: 4, attrs: { region: "eu", gpu: true } },
  { id: "app-4", apps: ["hash", "echo"], capacity: 8, power: 2, attrs: { region: "us" } },
];

const OPTIONS = {
  tasks: { type: "string" },
  concurrency: { type: "string" },
  ...OUTPUT_OPTIONS,
  topology: { type: "string" },
  assign: { type: "string" },
  "log-level": { type: "string" },
  "log-format": { type: "string" },
  insecure: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

export async function demo(argv: string[]): Promise<number> {
  const { values: v } = parseFlags(argv, OPTIONS);
  if (v.help) {
    process.stdout.write(DEMO_HELP);
    return 0;
  }
  const json = outputFormat(v) === "json";
  const tasks = parseIntFlag("--tasks", v.tasks, 1000, 1, 10_000_000);
  const concurrency = parseIntFlag("--concurrency", v.concurrency, 64, 1, 100_000);
  const logLevel = v["log-level"] ?? "warn";
  if (!isLogLevel(logLevel)) throw new CliError(`unknown level ${JSON.stringify(logLevel)}`, "--log-level");

  const logs = { logLevel, ...logFormatFlag(v["log-format"]) };
  const topology = oneOf("--topology", ["tiered", "master-slave"] as const, v.topology) ?? "tiered";
  const assign = oneOf("--assign", ASSIGN_MODES, v.assign) ?? "grant";
  // Credentials issued in memory by a throwaway cluster key: the demo runs authenticated, as a real cluster should.
  const issuer = v.insecure ? undefined : generateClusterKey();
  const cluster =
    topology === "tiered" ? await startTieredCluster({ apps: DEMO_APPS, common: logs, ...(issuer ? { issuer } : {}) }) : await startMasterSlaveCluster({ apps: DEMO_APPS, assign, common: logs, ...(issuer ? { issuer } : {}) });
  const client = await startNode({ ...logs, ...credentialsFor(issuer, "client", "demo-client"), role: "client", id: "demo-client", entries: [cluster.entry] });
  try {
    const auth = issuer ? "authenticated (credentials issued in memory)" : "WITHOUT authentication (--insecure)";
    if (!json) process.stderr.write(`${topology} cluster up: entry ${cluster.entry}, ${cluster.nodes.length} nodes, ${auth}, msgpackr native codec ${nativeCodec ? "on" : "off"}\n`);
    const spec = (i: number): TaskSpec => (i % 4 === 3 ? { app: "hash", payload: { rounds: 200, data: `task-${i}` } } : { app: "echo", payload: { i } });
    const progress = progressLine(tasks, "tasks");
    const run = await runLoad(client.submit, tasks, concurrency, spec, progress.update);
    progress.end();
    for (const e of run.errors) process.stderr.write(`error: ${e}\n`);
    process.stdout.write(json ? `${JSON.stringify(run.summary)}\n` : `${formatSummary(run.summary)}\n`);
    return run.summary.failed > 0 ? 1 : 0;
  } finally {
    await client.stop();
    await cluster.stop();
  }
}
