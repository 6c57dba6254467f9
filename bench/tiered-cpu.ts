// Where the tiered path spends its CPU: every role in its own process, 256 tasks in flight for
// 4 s, and each process's CPU time (from /proc, Linux only) divided by the tasks completed.
//   npm run build && node dist/bench/tiered-cpu.js
// BENCH_SECONDS=N measures for N s instead (e.g. 300 for the detector's false-positive check: the
// children log "peer silent; closing" at warn, on this stderr, and the client's count is printed).
import { readFileSync } from "node:fs";
import { startNode } from "../src/node/node.js";
import { killAll, spawnReady } from "./procs.js";
import type { Proc } from "./procs.js";

const quiet = ["--log-level", "warn"];
/** utime + stime of a process in µs (fields 14 and 15 of /proc/PID/stat, in 1/100 s ticks). */
function cpuMicros(pid: number): number {
  const fields = (readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1] ?? "").split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

async function main(): Promise<void> {
  const procs: Record<string, Proc> = {};
  try {
    procs["tier2"] = await spawnReady(["--role", "distributor", "--tier", "2", ...quiet]);
    procs["app"] = await spawnReady(["--role", "app", "--join", procs["tier2"].url, "--apps", "echo", "--capacity", "100000", ...quiet]);
    procs["vip-2"] = await spawnReady(["--role", "vip", "--to", procs["tier2"].url, ...quiet]);
    procs["tier1"] = await spawnReady(["--role", "distributor", "--tier", "1", "--to", procs["vip-2"].url, ...quiet]);
    procs["vip-1"] = await spawnReady(["--role", "vip", "--to", procs["tier1"].url, ...quiet]);
    const client = await startNode({ role: "client", entries: [procs["vip-1"].url], logLevel: "warn" });
    await client.submit({ app: "echo", payload: 0 });
    let stop = false;
    let done = 0;
    const workers = Array.from({ length: 256 }, async () => {
      while (!stop) {
        await client.submit({ app: "echo", payload: { i: done } });
        done++;
      }
    });
    await new Promise((r) => setTimeout(r, 1000));
    const pids = Object.entries(procs).map(([role, p]) => [role, p.proc.pid as number] as const);
    const before = pids.map(([, pid]) => cpuMicros(pid));
    const self0 = process.cpuUsage();
    const [n0, t0] = [done, performance.now()];
    await new Promise((r) => setTimeout(r, Number(process.env.BENCH_SECONDS ?? 4) * 1000));
    const after = pids.map(([, pid]) => cpuMicros(pid));
    const self = process.cpuUsage(self0);
    const [tasks, ms] = [done - n0, performance.now() - t0];
    stop = true;
    await Promise.all(workers);
    const silent = (client.stats().traffic as { closedSilent?: number }).closedSilent ?? 0;
    await client.stop();
    console.log(`links closed as silent at the client: ${silent} (a false positive unless a node was stopped)`);
    console.log(`tiered path: ${Math.round((tasks / ms) * 1000)} tasks/s; CPU per task by process:`);
    let total = 0;
    const rows: Array<[string, number]> = pids.map(([role], i) => [role, ((after[i] as number) - (before[i] as number)) / tasks]);
    rows.push(["client", (self.user + self.system) / tasks]);
    for (const [role, us] of rows) {
      total += us;
      console.log(`  ${role.padEnd(7)} ${us.toFixed(1).padStart(6)} µs   ${((us * tasks) / ms / 10).toFixed(0).padStart(3)}% of a core`);
    }
    console.log(`  total   ${total.toFixed(1).padStart(6)} µs per task (2 cores allow ${Math.round(2e6 / total)} tasks/s if CPU were the only limit)`);
  } finally {
    killAll(Object.values(procs));
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
