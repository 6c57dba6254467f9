// The soak of issue 13: a steady stream for a long run, one random fault every 20 s (seeded:
// FAULTS_SEED, default 1), each undone a few seconds later; memory and open handles of the
// processes that lived through it measured at its start and end: RSS, open fds and the JS heap
// after a full GC (the nodes preload mem-probe.js), so a heap that grows tells a leak from RSS
// that only the allocator keeps.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { startNode } from "../src/node/node.js";
import type { RunningClient } from "../src/node/node.js";
import { Rng } from "../src/sim/rng.js";
import { ClientLedger, readRuns } from "../test/helpers/ledger.js";
import type { FailureEvent } from "../test/helpers/ledger.js";
import { MEM_PROBE, clientLog, procFootprint } from "./faults-cluster.js";
import type { Cluster } from "./faults-cluster.js";
import { DEFAULT_RUN, recordFailures, stream, summarize } from "./faults-run.js";
import type { FaultContext, Report } from "./faults-run.js";
import { APPS, buildTopology } from "./faults-topology.js";
import { probe } from "./mem-probe.js";
import type { MemProbe } from "./mem-probe.js";

export interface SoakReport {
  report: Report;
  faults: string[];
  /** Memory and handles at the start and end, as text for the bench's output. */
  footprint: string;
}

type Fault = (c: Cluster, app: string, record: Pick<FaultContext, "failed" | "killed">) => Promise<string>;

const HOLD_MS = 3000;

const FAULTS: Fault[] = [
  async (c, app, { killed }) => {
    killed(app, "SIGKILL");
    await c.signal(app, "SIGKILL");
    await delay(HOLD_MS);
    await c.restart(app);
    return `SIGKILL ${app}`;
  },
  async (c, app, { failed }) => {
    failed(app, "SIGSTOP");
    await c.signal(app, "SIGSTOP");
    await delay(HOLD_MS);
    await c.signal(app, "SIGCONT");
    return `SIGSTOP ${app}`;
  },
  async (c) => {
    await c.signal("tier2-b", "SIGKILL");
    await delay(HOLD_MS);
    await c.restart("tier2-b");
    return "SIGKILL tier2-b";
  },
  async (c, app, { failed }) => {
    failed(app, "partitioned from the client");
    c.proxies.get(app)?.partition();
    await delay(HOLD_MS);
    c.proxies.get(app)?.heal();
    return `partition client|${app}`;
  },
  async (c, app) => {
    c.proxies.get(app)?.delay(200, 50);
    await delay(HOLD_MS);
    c.proxies.get(app)?.heal();
    return `delay ${app}`;
  },
  async (c, app, { failed }) => {
    failed(app, "connections reset");
    c.proxies.get(app)?.cut({ reset: true });
    return `reset client|${app}`;
  },
];

interface Footprint {
  rssKb: number;
  fds: number;
  /** JS heap after a full GC, kB (0 when the process's probe did not answer). */
  heapKb: number;
}

/** What a node's memory probe wrote after SIGUSR2 (bounded wait), or undefined. */
async function probeNode(dir: string, pid: number): Promise<MemProbe | undefined> {
  const file = join(dir, `${pid}.json`);
  rmSync(file, { force: true });
  try {
    process.kill(pid, "SIGUSR2");
  } catch {
    return undefined;
  }
  for (let i = 0; i < 100; i++) {
    if (existsSync(file)) return JSON.parse(readFileSync(file, "utf8")) as MemProbe;
    await delay(20);
  }
  return undefined;
}

/** RSS, fds and heap after GC of each process by pid (the bench's own last), at one moment. */
async function sample(c: Cluster, probeDir: string): Promise<Map<number, Footprint>> {
  const out = new Map<number, Footprint>();
  for (const n of c.nodes.values()) {
    const pid = n.proc.pid;
    if (pid === undefined) continue;
    const heap = MEM_PROBE === undefined ? undefined : await probeNode(probeDir, pid);
    const f = procFootprint(pid);
    if (f) out.set(pid, { ...f, heapKb: Math.round((heap?.heapUsed ?? 0) / 1024) });
  }
  const heap = probe();
  const self = procFootprint(process.pid);
  if (self) out.set(process.pid, { ...self, heapKb: Math.round(heap.heapUsed / 1024) });
  return out;
}

function compare(a: Map<number, Footprint>, b: Map<number, Footprint>, handles: [number, number]): string {
  const kept = [...a.keys()].filter((pid) => b.has(pid) && pid !== process.pid);
  const sum = (m: Map<number, Footprint>, k: keyof Footprint): number => kept.reduce((s, pid) => s + (m.get(pid)?.[k] ?? 0), 0);
  const self = (m: Map<number, Footprint>): Footprint => m.get(process.pid) ?? { rssKb: 0, fds: 0, heapKb: 0 };
  const mb = (kb: number): string => (kb / 1024).toFixed(1);
  const heaps = kept.map((pid) => `${mb(a.get(pid)?.heapKb ?? 0)} → ${mb(b.get(pid)?.heapKb ?? 0)}`).join(", ");
  return [
    `  ${kept.length} node processes that lived through the soak: RSS ${mb(sum(a, "rssKb"))} → ${mb(sum(b, "rssKb"))} MB, JS heap after GC ${mb(sum(a, "heapKb"))} → ${mb(sum(b, "heapKb"))} MB (${heaps}), open fds ${sum(a, "fds")} → ${sum(b, "fds")}`,
    `  the client's (bench) process: RSS ${mb(self(a).rssKb)} → ${mb(self(b).rssKb)} MB, JS heap after GC ${mb(self(a).heapKb)} → ${mb(self(b).heapKb)} MB (the bench's ledger keeps every task), open fds ${self(a).fds} → ${self(b).fds}, active handles ${handles[0]} → ${handles[1]}`,
  ].join("\n");
}

export async function runSoak(durationMs: number, seed = Number(process.env.FAULTS_SEED ?? "1")): Promise<SoakReport> {
  const o = DEFAULT_RUN;
  const dir = mkdtempSync(join(tmpdir(), "faults-soak-"));
  const runsFile = join(dir, "runs.jsonl");
  const probeDir = join(dir, "mem");
  mkdirSync(probeDir);
  const built = await buildTopology({ topology: "tier2", ledgerFile: runsFile, failFile: join(dir, "fail"), capacity: o.capacity, proxiedApps: APPS, memProbe: probeDir });
  const rng = new Rng(seed);
  let client: RunningClient | undefined;
  try {
    client = await startNode({ role: "client", entries: built.entries, ...clientLog(), backoffMinMs: 10, backoffMaxMs: 200 });
    const ledger = new ClientLedger();
    const failures: FailureEvent[] = [];
    const record = recordFailures(built.cluster, failures);
    const load = stream(client, ledger, o);
    await delay(Math.min(5000, durationMs / 4));
    const before = await sample(built.cluster, probeDir);
    const handles0 = process.getActiveResourcesInfo().length;
    const faults: string[] = [];
    const end = Date.now() + durationMs;
    // One fault every 20 s: a fault takes at most HOLD_MS plus a restart, well inside its slot.
    for (let slot = 0; slot < 10_000 && Date.now() + 20_000 <= end; slot++) {
      const fault = FAULTS[rng.int(FAULTS.length)] as Fault;
      const app = APPS[rng.int(APPS.length)] as string;
      const started = Date.now();
      faults.push(await fault(built.cluster, app, record));
      await delay(Math.max(0, started + 20_000 - Date.now()));
    }
    await delay(Math.max(0, end - Date.now()));
    const after = await sample(built.cluster, probeDir);
    const handles1 = process.getActiveResourcesInfo().length;
    load.stop();
    await Promise.race([load.done, delay(o.deadlineMs + 3000)]);
    const report = summarize(`soak ${Math.round(durationMs / 1000)} s`, ledger, readRuns(runsFile), failures, Object.fromEntries(APPS.map((a) => [a, o.capacity])));
    return { report, faults, footprint: compare(before, after, [handles0, handles1]) };
  } finally {
    await client?.stop();
    await built.cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
