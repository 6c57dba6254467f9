// `npm run bench:cpu`: where the tiered path spends its CPU, with authentication on (the
// default) and off. Every role in its own process, 256 tasks in flight; each process's CPU time
// (from /proc, Linux only) over a timed window, divided by the tasks completed. Rounds alternate
// the order of the two setups (on, off; off, on; …) so a drift of this shared machine hits both
// alike; the summary is each setup's median and spread, and the difference of the medians beside
// the spread. Then the cost of one ticket (sign at the allocator, check at the server), in process.
//   npm run bench:cpu          (BENCH_CPU_ROUNDS, default 5; BENCH_CPU_SECONDS, default 3)
// Each figure also counts the links the client closed as silent: a false positive of the failure
// detector, since no node is stopped here (BENCH_CPU_ROUNDS=1 BENCH_CPU_SECONDS=300 makes that a
// 5-minute check at full load; the children log "peer silent; closing" at warn on this stderr).
// BENCH_CPU_HTTP=1 compares instead the monitoring port on and off (authentication on in both):
// with it every node serves --http on a port of its own, and this process scrapes every node's
// /metrics with an admin token every BENCH_CPU_SCRAPE_MS (default 1000) through the window, so
// the figure includes counting on the hot path and serving the scrapes.
import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import { createAdminToken } from "../src/node/admin-token.js";
import { readFileSync } from "node:fs";
import { newTicketKey, signTicket, checkTicket } from "../src/actors/runtime/ticket.js";
import { startNode } from "../src/node/node.js";
import { BenchKeys, authFlags } from "./creds.js";
import { killAll, spawnReady } from "./procs.js";
import type { Proc } from "./procs.js";

const ROUNDS = Number(process.env.BENCH_CPU_ROUNDS ?? 5);
const SECONDS = Number(process.env.BENCH_CPU_SECONDS ?? 3);
const quiet = ["--log-level", "warn"];
const HTTP = process.env.BENCH_CPU_HTTP === "1";
const SCRAPE_MS = Number(process.env.BENCH_CPU_SCRAPE_MS ?? 1000);

/** A port free now (listen on 0, close): the children are told theirs, so none has to be read from a log. */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** utime + stime of a process in µs (fields 14 and 15 of /proc/PID/stat, in 1/100 s ticks). */
function cpuMicros(pid: number): number {
  const fields = (readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1] ?? "").split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

interface CpuFigure {
  tasksPerSec: number;
  /** µs of CPU per task, by process, the client (this process) last. */
  rows: Array<[string, number]>;
  total: number;
  /** Links the client closed as silent during the figure. */
  silent: number;
}

async function measure(keys: BenchKeys | undefined, http = false): Promise<CpuFigure> {
  const procs: Record<string, Proc> = {};
  const scraped: string[] = [];
  const port = async (): Promise<string[]> => {
    if (!http) return [];
    const addr = `127.0.0.1:${await freePort()}`;
    scraped.push(`http://${addr}/metrics`);
    return ["--http", addr];
  };
  let scraper: ReturnType<typeof setInterval> | undefined;
  try {
    procs["tier2"] = await spawnReady(["--role", "distributor", "--tier", "2", ...authFlags(keys, "tier2", "bench-tier2"), ...(await port()), ...quiet]);
    procs["app"] = await spawnReady(["--role", "app", "--join", procs["tier2"].url, "--apps", "echo", "--capacity", "100000", ...authFlags(keys, "app", "bench-app"), ...(await port()), ...quiet]);
    procs["vip-2"] = await spawnReady(["--role", "vip", "--to", procs["tier2"].url, ...authFlags(keys, "vip", "bench-vip-2"), ...(await port()), ...quiet]);
    procs["tier1"] = await spawnReady(["--role", "distributor", "--tier", "1", "--to", procs["vip-2"].url, ...authFlags(keys, "tier1", "bench-tier1"), ...(await port()), ...quiet]);
    procs["vip-1"] = await spawnReady(["--role", "vip", "--to", procs["tier1"].url, ...authFlags(keys, "vip", "bench-vip-1"), ...(await port()), ...quiet]);
    const client = await startNode({ role: "client", id: "bench-client", ...(keys ? keys.config("client", "bench-client") : {}), entries: [procs["vip-1"].url], logLevel: "warn" });
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
    if (http) {
      const headers: Record<string, string> = keys ? { authorization: `Bearer ${createAdminToken(keys.credential("admin", "bench-ops"), 3_600_000, Date.now())}` } : {};
      const scrape = (): void => {
        for (const u of scraped) {
          void fetch(u, { headers }).then(
            async (r) => {
              const text = await r.text();
              if (r.status !== 200) throw new Error(`${u}: ${r.status} ${text}`);
            },
            (err: unknown) => console.error(`scrape of ${u} failed: ${String(err)}`),
          );
        }
      };
      scrape();
      scraper = setInterval(scrape, SCRAPE_MS);
    }
    const pids = Object.entries(procs).map(([role, p]) => [role, p.proc.pid as number] as const);
    const before = pids.map(([, pid]) => cpuMicros(pid));
    const self0 = process.cpuUsage();
    const [n0, t0] = [done, performance.now()];
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    const after = pids.map(([, pid]) => cpuMicros(pid));
    const self = process.cpuUsage(self0);
    const [tasks, ms] = [done - n0, performance.now() - t0];
    stop = true;
    await Promise.all(workers);
    const silent = (client.stats().traffic as { closedSilent?: number }).closedSilent ?? 0;
    await client.stop();
    const rows: Array<[string, number]> = pids.map(([role], i) => [role, ((after[i] as number) - (before[i] as number)) / tasks]);
    rows.push(["client", (self.user + self.system) / tasks]);
    return { tasksPerSec: Math.round((tasks / ms) * 1000), rows, total: rows.reduce((s, [, us]) => s + us, 0), silent };
  } finally {
    if (scraper) clearInterval(scraper);
    killAll(Object.values(procs));
  }
}

const line = (what: string, f: CpuFigure): string =>
  `  ${what.padEnd(8)} ${String(f.tasksPerSec).padStart(6)} tasks/s  ${f.total.toFixed(1).padStart(6)} µs/task  (${f.rows.map(([r, us]) => `${r} ${us.toFixed(1)}`).join(", ")}); links closed as silent ${f.silent}`;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? (s[s.length >> 1] as number) : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
};

/** One ticket's cost: the allocator's sign and the server's check, each timed over many tickets. */
function ticketCost(): { signUs: number; checkUs: number } {
  const key = newTicketKey();
  const n = 200_000;
  const fields = (i: number) => ({ taskId: `client-1-${i.toString(36)}`, key: `client-1-${i.toString(36)}`, serverId: "app-1", client: "client-1", expiresAt: Date.now() + 60_000, issuer: "dGllcjItMQ", seq: i });
  const tickets: string[] = new Array(n);
  for (let i = 0; i < 20_000; i++) checkTicket(key, signTicket(key, fields(i)), fields(i)); // warm-up
  let t0 = performance.now();
  for (let i = 0; i < n; i++) tickets[i] = signTicket(key, fields(i));
  const signUs = ((performance.now() - t0) * 1000) / n;
  let bad = 0;
  t0 = performance.now();
  for (let i = 0; i < n; i++) if (!checkTicket(key, tickets[i] as string, fields(i))) bad++;
  const checkUs = ((performance.now() - t0) * 1000) / n;
  if (bad > 0) throw new Error(`${bad} of ${n} tickets did not check`);
  return { signUs, checkUs };
}

async function main(): Promise<void> {
  console.log(`bench:cpu: the tiered path (client → vip → tier-1 → vip → tier-2 → app), 256 in flight, ${SECONDS} s per figure, ${ROUNDS} rounds of ${HTTP ? "the monitoring port" : "authentication"} on and off, alternating order; node ${process.version}`);
  const keys = new BenchKeys();
  const on: CpuFigure[] = [];
  const off: CpuFigure[] = [];
  if (HTTP) console.log(`BENCH_CPU_HTTP=1: the monitoring port on and off instead (authentication on in both), every node scraped every ${SCRAPE_MS} ms while on`);
  const [onName, offName] = HTTP ? ["http on", "http off"] : ["auth on", "auth off"];
  for (let r = 1; r <= ROUNDS; r++) {
    console.log(`round ${r}`);
    for (const first of r % 2 === 1 ? [true, false] : [false, true]) {
      const f = HTTP ? await measure(keys, first) : await measure(first ? keys : undefined);
      (first ? on : off).push(f);
      console.log(line(first ? onName : offName, f));
    }
  }
  const summarize = (xs: CpuFigure[]): { median: number; min: number; max: number } => {
    const t = xs.map((f) => f.total);
    return { median: median(t), min: Math.min(...t), max: Math.max(...t) };
  };
  const a = summarize(on);
  const b = summarize(off);
  const spread = Math.max(a.max - a.min, b.max - b.min);
  const diff = a.median - b.median;
  console.log(`CPU per task, median (min–max) over ${ROUNDS} rounds: ${onName} ${a.median.toFixed(1)} µs (${a.min.toFixed(1)}–${a.max.toFixed(1)}), ${offName} ${b.median.toFixed(1)} µs (${b.min.toFixed(1)}–${b.max.toFixed(1)})`);
  console.log(`difference of the medians ${diff >= 0 ? "+" : ""}${diff.toFixed(1)} µs/task; the wider round spread ${spread.toFixed(1)} µs: ${Math.abs(diff) <= spread ? "within" : "OUTSIDE"} the spread`);
  const t = ticketCost();
  console.log(`one ticket: sign ${t.signUs.toFixed(2)} µs (allocator), check ${t.checkUs.toFixed(2)} µs (app server), in this process`);
  const medians = HTTP ? { httpOnUsPerTask: a.median, httpOffUsPerTask: b.median } : { authOnUsPerTask: a.median, authOffUsPerTask: b.median };
  console.log(JSON.stringify({ rounds: ROUNDS, ...medians, spreadUs: spread, diffUs: diff, ticketSignUs: t.signUs, ticketCheckUs: t.checkUs }));
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
