import type { TaskSpec } from "../node/config.js";
import { credentialsFor, startMasterSlaveCluster, startTieredCluster } from "../node/cluster.js";
import { generateClusterKey } from "../node/credentials.js";
import type { AppSpec } from "../node/cluster.js";
import { isLogLevel } from "../node/logger.js";
import { isLoopback, startNode } from "../node/node.js";
import { dashboardRoutes, serveRoutes } from "../node/dashboard/index.js";
import type { RunningNode } from "../node/node.js";
import { nativeCodec } from "../node/config.js";
import { CliError, logFormatFlag, oneOf, parseIntFlag } from "./errors.js";
import { ASSIGN_MODES } from "../node/config.js";
import { parseFlags } from "./flags.js";
import { OUTPUT_OPTIONS, outputFormat } from "./output.js";
import { formatSummary, progressLine, runLoad } from "./load.js";

export const DEMO_HELP = `allot demo [--topology tiered|master-slave] [--tasks N] [--concurrency C] [--stay] [-o text|json]

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
  --stay                   keep the cluster up after the tasks, with a live dashboard of its
                           allocator (tier2-1 or master-1), until Ctrl-C; prints the
                           dashboard's address and keeps a trickle of tasks going
  --rate N                 with --stay: tasks per second submitted while it stays (default 20;
                           0 for none)
  --dashboard HOST:PORT    where the dashboard listens (default 127.0.0.1:0, a free port;
                           loopback only, it has no authentication); without --stay it lives
                           only while the demo runs, its address on stderr
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
  stay: { type: "boolean" },
  rate: { type: "string" },
  dashboard: { type: "string" },
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
  const stay = v.stay === true;
  if (!stay && v.rate !== undefined) throw new CliError("--rate needs --stay", "--rate");
  const rate = parseIntFlag("--rate", v.rate, 20, 0, 10_000);
  const dashboardAt = v.dashboard ?? "127.0.0.1:0";
  if (!/^(\[[^\]]+\]|[^:\s]+):\d{1,5}$/.test(dashboardAt) || Number(dashboardAt.slice(dashboardAt.lastIndexOf(":") + 1)) > 65535) throw new CliError(`expected HOST:PORT, got ${JSON.stringify(dashboardAt)}`, "--dashboard");
  if (!isLoopback(dashboardAt)) throw new CliError(`${dashboardAt} is beyond loopback, and the demo's dashboard has no authentication`, "--dashboard");
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
  let dashboard: Awaited<ReturnType<typeof serveRoutes>> | undefined;
  const routes = dashboardRoutes(allocatorOf(cluster.nodes));
  try {
    try {
      dashboard = await serveRoutes([routes], dashboardAt);
    } catch (err) {
      throw new CliError(`cannot serve the dashboard on ${dashboardAt}: ${err instanceof Error ? err.message : String(err)}`, "--dashboard");
    }
    // Printed first, so the page can be opened while the tasks run. Without --stay it lives as long
    // as the demo does, and goes to stderr: stdout stays the summary alone.
    if (stay) (json ? process.stderr : process.stdout).write(`dashboard ${dashboard.url} (Ctrl-C stops the demo)\n`);
    else if (!json) process.stderr.write(`dashboard ${dashboard.url} (live while the demo runs; --stay keeps it up)\n`);
    const auth = issuer ? "authenticated (credentials issued in memory)" : "WITHOUT authentication (--insecure)";
    if (!json) process.stderr.write(`${topology} cluster up: entry ${cluster.entry}, ${cluster.nodes.length} nodes, ${auth}, msgpackr native codec ${nativeCodec ? "on" : "off"}\n`);
    const spec = (i: number): TaskSpec => (i % 4 === 3 ? { app: "hash", payload: { rounds: 200, data: `task-${i}` } } : { app: "echo", payload: { i } });
    const progress = progressLine(tasks, "tasks");
    const run = await runLoad(client.submit, tasks, concurrency, spec, progress.update);
    progress.end();
    for (const e of run.errors) process.stderr.write(`error: ${e}\n`);
    process.stdout.write(json ? `${JSON.stringify(run.summary)}\n` : `${formatSummary(run.summary)}\n`);
    if (stay) {
      if (!json) process.stderr.write(`staying up${rate > 0 ? ` with ${rate} tasks/s` : ""}: Ctrl-C stops the demo\n`);
      await stayUntilSignal(client.submit, rate, (i) => spec(tasks + i));
    }
    return run.summary.failed > 0 ? 1 : 0;
  } finally {
    routes.close();
    await dashboard?.close();
    await client.stop();
    await cluster.stop();
  }
}

/** The node the demo's dashboard shows: the first allocator (tier2-1 or master-1). */
function allocatorOf(nodes: readonly RunningNode[]): RunningNode {
  const n = nodes.find((x) => x.role === "tier2" || x.role === "master");
  if (!n) throw new Error("the demo cluster has no allocator");
  return n;
}

/** Submits `rate` tasks a second (failures are the dashboard's to show) until SIGINT or SIGTERM. */
async function stayUntilSignal(submit: (spec: TaskSpec) => Promise<unknown>, rate: number, spec: (i: number) => TaskSpec): Promise<void> {
  let i = 0;
  let inFlight = 0;
  let owed = 0;
  const tick = rate > 0 ? setInterval(() => {
    owed = Math.min(rate, owed + rate / 10);
    // At most a second's worth outstanding: a stalled cluster is not buried under more.
    for (; owed >= 1 && inFlight < rate; owed--) {
      inFlight++;
      submit(spec(i++)).then(
        () => inFlight--,
        () => inFlight--,
      );
    }
  }, 100) : setInterval(() => {}, 60_000);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolve();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
  clearInterval(tick);
}
