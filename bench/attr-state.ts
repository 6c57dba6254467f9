// Attribute-state costs: (a) how long a change on a server takes to be visible at every
// allocator of a set of 3 (event mode; broadcast, and registered with relay); (b) what periodic
// reports from 1,000 servers cost one allocator, in messages and CPU.
//   npm run build && node dist/bench/attr-state.js
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { percentile } from "../src/cli/load.js";
import { startNode } from "../src/node/node.js";
import type { RunningApp, RunningNode } from "../src/node/node.js";
import { DEFAULT_PEER, Peer, createWsTransport } from "../src/transport/index.js";
import type { Transport } from "../src/transport/index.js";
import type { Role } from "../src/protocol/index.js";
import { killAll, spawnReady } from "./procs.js";

const quietLog = { warn: () => {}, debug: () => {} };

/** A connection this bench opens as node `node` of `role`: nothing logged, answers ignored. */
const benchPeer = (url: string, transport: Transport, node: string, role: Role): Peer =>
  new Peer(url, transport, { node, role, maxFrameBytes: 1 << 20, maxInFlight: 16, requestTimeoutMs: 10_000, handshakeMs: 10_000, heartbeatMs: 0, now: Date.now, log: quietLog, onMessage: () => {} }, { ...DEFAULT_PEER, random: Math.random });
const attrsAt = (n: RunningNode, id: string): Record<string, unknown> | undefined => (n.stats().servers as Array<{ id: string; attrs: Record<string, unknown> }>).find((s) => s.id === id)?.attrs;

/**
 * Latency figures of a run of changes. The first COLD changes after start run on code V8 has not
 * optimized yet, with compilations on a background thread competing for the 2 cores: they make a
 * figure of their own. A long-running allocator lives in the steady state, measured after WARM.
 */
const COLD = 1000;
const WARM = 3000;
export interface Latency {
  cold: { p50: number; p99: number };
  steady: { p50: number; p99: number };
}
function latency(times: number[]): Latency {
  const fig = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return { p50: percentile(s, 50), p99: percentile(s, 99) };
  };
  return { cold: fig(times.slice(0, COLD)), steady: fig(times.slice(WARM)) };
}

/** Changes an attribute N times and times each change until all allocators show it. */
async function propagation(mode: "broadcast" | "registered", changes: number): Promise<Latency> {
  const common = { logLevel: "silent" as const };
  const t2: RunningNode[] = [];
  t2.push(await startNode({ ...common, role: "tier2", id: "t2-1" }));
  t2.push(await startNode({ ...common, role: "tier2", id: "t2-2", peers: [(t2[0] as RunningNode).url] }));
  t2.push(await startNode({ ...common, role: "tier2", id: "t2-3", peers: t2.map((n) => n.url) }));
  const join = mode === "broadcast" ? t2.map((n) => n.url) : [(t2[0] as RunningNode).url];
  const app: RunningApp = await startNode({ ...common, role: "app", id: "src", apps: ["echo"], capacity: 4, power: 1, join, mode, report: { event: true, periodicMs: 0 } });
  try {
    const seen = (i: number): boolean => t2.every((n) => attrsAt(n, "src")?.n === i);
    const times: number[] = [];
    for (let i = 1; i <= WARM + changes; i++) {
      const t0 = performance.now();
      app.setAttrs({ n: i });
      // Checked every turn of the event loop: the resolution is a few tens of µs.
      for (let spins = 0; !seen(i); spins++) {
        if (spins > 1_000_000) throw new Error(`change ${i} never reached every allocator`);
        await new Promise((r) => setImmediate(r));
      }
      times.push(performance.now() - t0);
    }
    return latency(times);
  } finally {
    await app.stop();
    for (const n of t2.reverse()) await n.stop();
  }
}

/**
 * The broadcast path with every allocator in its own process: the bench plays the server and
 * sends each change to the 3 allocators as the app server's event report does (a request to
 * each). An allocator answers after it applied the report, so the time until the last of the 3
 * answers is an upper bound on when the change was visible at all of them.
 */
async function propagationAcrossProcesses(changes: number): Promise<Latency> {
  const t2: Awaited<ReturnType<typeof spawnReady>>[] = [];
  const peers: Peer[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const peerArgs = t2.length > 0 ? ["--peers", t2.map((p) => p.url).join(",")] : [];
      t2.push(await spawnReady(["--role", "distributor", "--tier", "2", "--id", `t2-${i + 1}`, "--log-level", "warn", ...peerArgs]));
    }
    const transport = createWsTransport();
    for (const p of t2) {
      peers.push(benchPeer(p.url, transport, "src", "app"));
    }
    await Promise.all(peers.map((p) => p.ready(10_000)));
    const report = (n: number) => ({ id: "src", url: "ws://127.0.0.1:1", apps: ["echo"], capacity: 4, power: 1, load: n % 4, attrs: { n }, version: [1, n] as [number, number] });
    const times: number[] = [];
    for (let i = 1; i <= WARM + changes; i++) {
      const t0 = performance.now();
      await Promise.all(peers.map((p) => p.request("server.report", { server: report(i) })));
      times.push(performance.now() - t0);
    }
    return latency(times);
  } finally {
    for (const p of peers) p.close();
    killAll(t2);
  }
}

function cpuMicros(pid: number): number {
  const fields = (readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1] ?? "").split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

/**
 * 1,000 simulated servers (connections from this process) reporting every `periodMs` to one
 * process: a tier-2 allocator, or the raw baseline (plain ws + msgpackr, `raw-report-sink.ts`).
 * `load`: as app servers send them once registered, a `server.load` notice (load and version);
 * `full`: the whole report every time, as a server whose attributes change every period would.
 */
async function periodicCost(target: "allocator" | "raw", kind: "load" | "full", servers: number, periodMs: number, seconds: number, warmupSeconds: number): Promise<{ reportsPerSec: number; cpuPercent: number }> {
  const t2 = target === "raw" ? await spawnReady([], fileURLToPath(new URL("./raw-report-sink.js", import.meta.url))) : await spawnReady(["--role", "distributor", "--tier", "2", "--log-level", "warn"]);
  const peers: Peer[] = [];
  try {
    const transport = createWsTransport();
    let version = 1;
    const report = (i: number) => ({ id: `sim-${i}`, url: `ws://127.0.0.1:${20000 + i}`, apps: ["echo"], capacity: 8, power: 1 + (i % 8), load: i % 8, attrs: { region: i % 2 ? "eu" : "us" }, version: [1, version] as [number, number], periodMs: periodMs });
    for (let i = 0; i < servers; i++) {
      peers.push(
        benchPeer(t2.url, transport, `sim-${i}`, "app"),
      );
    }
    await Promise.all(peers.map((p) => p.ready(10_000)));
    await Promise.all(peers.map((p, i) => p.request("server.report", { server: report(i) })));
    if (target === "allocator") {
      // One decision, so the allocator keeps every index its default policy reads current on
      // every report from here on, as a working tier-2 does (shortest-delay's delay order).
      const client = benchPeer(t2.url, transport, "bench-client", "client");
      await client.ready(10_000);
      const task = { id: "t1", key: "t1", app: "echo", deadline: Date.now() + 60_000, require: [], clientAttrs: {}, prefs: {}, payload: null };
      const placed = await client.request("task.place", { task, client: { id: "bench-client", addr: "" } });
      if (placed.type !== "task.placed") throw new Error(`expected task.placed, got ${placed.type}`);
      client.close();
    }
    let sent = 0;
    // Each server reports once a period, spread evenly over it, as independent servers would.
    const tick = setInterval(() => {
      version++;
      const slice = Math.ceil(servers / (periodMs / 10));
      for (let k = 0; k < slice; k++) {
        const i = (sent + k) % servers;
        // As an app server sends them: a notice, unanswered (the first report registered it).
        const ch = peers[i]?.current;
        if (kind === "full") ch?.notify("server.report", { server: report(i) });
        else ch?.notify("server.load", { id: `sim-${i}`, load: (i + version) % 8, version: [1, version] });
      }
      sent += slice;
    }, 10);
    // What a long-running allocator costs, not its first seconds: V8 optimizes the report path
    // only after some thousands of reports, which at 1,000/s takes seconds.
    await new Promise((r) => setTimeout(r, warmupSeconds * 1000));
    const pid = t2.proc.pid as number;
    const [c0, s0, t0] = [cpuMicros(pid), sent, performance.now()];
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const [c1, s1, t1] = [cpuMicros(pid), sent, performance.now()];
    clearInterval(tick);
    const elapsed = (t1 - t0) / 1000;
    return { reportsPerSec: Math.round((s1 - s0) / elapsed), cpuPercent: Math.round(((c1 - c0) / 1e6 / elapsed) * 1000) / 10 };
  } finally {
    for (const p of peers) p.close();
    killAll([t2]);
  }
}

/** The periodic-mode cost, each kind of report against the raw sink taking the same reports. */
async function periodicFigures() {
  const out: Record<string, { raw: number; allocator: number; reportsPerSec: number }> = {};
  for (const kind of ["load", "full"] as const) {
    const raw = await periodicCost("raw", kind, 1000, 1000, 10, 10);
    const cost = await periodicCost("allocator", kind, 1000, 1000, 10, 10);
    const what = kind === "load" ? "load-only notices (what app servers send once registered)" : "full reports every period";
    console.log(`periodic mode, 1000 servers at 1 s, ${what}: ${cost.reportsPerSec} reports/s; allocator CPU ${cost.cpuPercent}% of a core (target < 5%), raw ws+msgpackr sink ${raw.cpuPercent}% (${(cost.cpuPercent / raw.cpuPercent).toFixed(2)}×)`);
    out[kind] = { raw: raw.cpuPercent, allocator: cost.cpuPercent, reportsPerSec: cost.reportsPerSec };
  }
  return out;
}

async function main(): Promise<void> {
  if (process.env.BENCH_ONLY === "periodic") {
    console.log(JSON.stringify(await periodicFigures()));
    return;
  }
  if (process.env.BENCH_ONLY === "propagation") {
    console.log(JSON.stringify(await propagationAcrossProcesses(2000)));
    return;
  }
  const fmt = (l: Latency): string => `steady p50 ${l.steady.p50.toFixed(2)} ms  p99 ${l.steady.p99.toFixed(2)} ms (target p99 < 5 ms); first ${COLD} changes after start: p50 ${l.cold.p50.toFixed(2)} ms  p99 ${l.cold.p99.toFixed(2)} ms`;
  const separate = await propagationAcrossProcesses(2000);
  console.log(`propagation to all 3 allocators, each its own process, event report broadcast: ${fmt(separate)}`);
  const broadcast = await propagation("broadcast", 1000);
  console.log(`propagation to all 3 allocators, in one process, event mode, broadcast: ${fmt(broadcast)}`);
  const registered = await propagation("registered", 1000);
  console.log(`propagation to all 3 allocators, in one process, event mode, registered (one relay hop): ${fmt(registered)}`);
  const periodic = await periodicFigures();
  console.log(JSON.stringify({ separate, broadcast, registered, periodic }));
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
