// Runs one fault scenario: a cluster of real processes, an in-process client with a steady stream
// of short tasks, a fault injected mid-stream, then the ledger checked and the figures measured.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { startNode } from "../src/node/node.js";
import type { RunningClient } from "../src/node/node.js";
import { queryStatus } from "../src/node/query.js";
import type { StatusBody } from "../src/protocol/index.js";
import { ClientLedger, checkLedger, readRuns, reExecutions } from "../test/helpers/ledger.js";
import type { FailureEvent, RunEntry, TaskEntry, Violation } from "../test/helpers/ledger.js";
import { clientLog } from "./faults-cluster.js";
import type { Cluster } from "./faults-cluster.js";
import { tappedTransport } from "./faults-tap.js";
import { buildTopology } from "./faults-topology.js";
import type { Built, Topology, TopologyOptions } from "./faults-topology.js";

/** What a scenario's fault does, given the running cluster. */
export interface FaultContext {
  built: Built;
  cluster: Cluster;
  /** Records a failure the ledger may take as the reason for a re-execution. */
  failed(server: string, what: string): void;
  /** Records that `server`'s process is killed now (call it just before): its runs count as failed, even one it starts before the signal lands. */
  killed(server: string, what: string): void;
  /** Creates app-1's fail file: from now on it fails every second run. */
  grayFail(): void;
}

/** Whose view tells that the fault was noticed: `target` out of selection at every one of `observers`. */
export interface Watch {
  observers: string[];
  target: string;
}

export interface Scenario {
  name: string;
  topology: Topology;
  proxiedApps?: readonly string[];
  proxyAllocatorA?: boolean;
  /** Whose status shows the fault noticed (watched from just before the injection), if anyone's can. */
  watch?: Watch;
  /** Else the node whose link from the client shows it: detection is when the client's connection to it closed. */
  clientWatch?: string;
  /** Waits (bounded) until the fault would hit something in flight; default: nothing more. */
  ready?: (f: FaultContext, runsFile: string) => Promise<void>;
  /** Injects the fault. */
  inject(f: FaultContext): Promise<void>;
  /** Undoes what must be undone before the cluster stops (SIGCONT, heal), after the stream drained. */
  undo?: (f: FaultContext) => Promise<void>;
}

export interface RunOptions {
  /** Stream before the fault, ms. */
  warmupMs: number;
  /** Stream after the fault, ms. */
  afterMs: number;
  concurrency: number;
  taskMs: number;
  deadlineMs: number;
  capacity: number;
}

export const DEFAULT_RUN: RunOptions = { warmupMs: 2000, afterMs: 5000, concurrency: 8, taskMs: 200, deadlineMs: 10_000, capacity: 4 };

export interface Report {
  name: string;
  tasks: number;
  completed: number;
  failed: number;
  lost: number;
  twice: number;
  reJustified: number;
  reUnjustified: number;
  /** Fault → the target out of selection at every observer; undefined when unseen or unobservable. */
  detectionMs?: number;
  detectionObservable: boolean;
  /** How long detection was watched for, ms (from the fault until the stream drained). */
  watchedMs?: number;
  /** Whether there was one fault to time the recovery from (not in the soak). */
  recoveryObservable: boolean;
  /** Fault → the last answer of a task it hit (see `summarize`); undefined when one never was answered. */
  recoveryMs?: number;
  violations: Violation[];
  errors: Record<string, number>;
}

/** Whether `target` is out of selection (or its link down) in a node's status. */
export function outOfSelection(s: StatusBody, target: { id: string; url: string }): boolean {
  switch (s.role) {
    case "tier2":
    case "master": {
      const row = [...s.servers, ...(s.slaves ?? [])].find((r) => r.id === target.id);
      return row === undefined || row.status !== "alive";
    }
    case "vip":
    case "tier1":
      return s.members.find((m) => m.url === target.url)?.state !== "open";
    case "slave":
      return s.masters.find((m) => m.url === target.url)?.state !== "open";
    case "app":
      return s.registrations.find((m) => m.url === target.url)?.state !== "open";
  }
}

/** Polls the observers every 50 ms until each shows the target out; resolves the time, or undefined once `stop()` holds. */
async function detect(c: Cluster, w: Watch, stop: () => boolean): Promise<number | undefined> {
  const t = c.node(w.target);
  const target = { id: t.name, url: t.url };
  const seen = new Set<string>();
  for (let i = 0; i < 100_000 && !stop(); i++) {
    await Promise.all(
      w.observers
        .filter((o) => !seen.has(o))
        .map(async (o) => {
          try {
            if (outOfSelection(await queryStatus(c.node(o).ownUrl, { timeoutMs: 1000 }), target)) seen.add(o);
          } catch {
            // An observer that does not answer has not shown anything.
          }
        }),
    );
    if (seen.size === w.observers.length) return Date.now();
    await delay(50);
  }
  return undefined;
}

/** One scenario, start to finish; everything it starts is stopped before it resolves. */
export async function runScenario(sc: Scenario, o: RunOptions = DEFAULT_RUN): Promise<Report> {
  const dir = mkdtempSync(join(tmpdir(), `faults-${sc.name}-`));
  const runsFile = join(dir, "runs.jsonl");
  const failFile = join(dir, "fail");
  const topo: TopologyOptions = { topology: sc.topology, ledgerFile: runsFile, failFile, capacity: o.capacity, ...(sc.proxiedApps ? { proxiedApps: sc.proxiedApps } : {}), ...(sc.proxyAllocatorA ? { proxyAllocatorA: true } : {}) };
  const built = await buildTopology(topo);
  let client: RunningClient | undefined;
  try {
    const tap = tappedTransport();
    client = await startNode({ role: "client", entries: built.entries, ...clientLog(), backoffMinMs: 10, backoffMaxMs: 200, transport: tap.transport });
    const failures: FailureEvent[] = [];
    const f: FaultContext = { built, cluster: built.cluster, ...recordFailures(built.cluster, failures), grayFail: () => writeFileSync(failFile, "") };
    const ledger = new ClientLedger();
    const load = stream(client, ledger, o);
    await delay(o.warmupMs);
    await sc.ready?.(f, runsFile);
    const watch = sc.watch;
    let streaming = true;
    const t0 = Date.now();
    const detected = watch ? detect(built.cluster, watch, () => !streaming) : Promise.resolve(undefined);
    await sc.inject(f);
    await delay(o.afterMs);
    load.stop();
    // Bounded: every task answers by its deadline; past that (and a margin) what is left is lost.
    await Promise.race([load.done, delay(o.deadlineMs + 3000)]);
    streaming = false;
    const watchedMs = Date.now() - t0;
    const clientUrl = sc.clientWatch === undefined ? undefined : built.cluster.node(sc.clientWatch).url;
    const seenAt = (await detected) ?? (clientUrl === undefined ? undefined : tap.closedSince(clientUrl, t0));
    await sc.undo?.(f);
    // A resumed server finishes what it held: let its last runs reach the ledger.
    if (sc.undo) await delay(1000);
    const report = summarize(sc.name, ledger, readRuns(runsFile), failures, Object.fromEntries(built.apps.map((a) => [a, o.capacity])), t0, 5 * o.taskMs);
    return { ...report, ...(seenAt !== undefined ? { detectionMs: seenAt - t0 } : {}), detectionObservable: watch !== undefined || clientUrl !== undefined, watchedMs };
  } finally {
    await client?.stop();
    await built.cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A scenario's figures from its ledger. `t0` is the fault; the recovery time runs from it to the
 * last answer of a task the fault hit: one in flight at the fault, or one submitted after it that
 * failed or took more than `slowMs` (undefined when one of them was never answered).
 */
export function summarize(name: string, ledger: ClientLedger, runs: RunEntry[], failures: FailureEvent[], capacity: Record<string, number>, t0?: number, slowMs = 1000): Report {
  const violations = checkLedger({ tasks: ledger.tasks, runs, failures, capacity });
  const re = reExecutions(runs, failures);
  const errors: Record<string, number> = {};
  for (const t of ledger.tasks) for (const x of t.outcomes) if (x.kind === "error") errors[x.code] = (errors[x.code] ?? 0) + 1;
  const hit = (t: TaskEntry): boolean => {
    if (t0 === undefined) return false;
    const o = t.outcomes[0];
    if (t.submittedAt <= t0) return o === undefined || o.at > t0;
    return o === undefined || o.kind === "error" || o.at - t.submittedAt > slowMs;
  };
  const answered = ledger.tasks.filter(hit).map((t) => t.outcomes[0]?.at);
  return {
    name,
    tasks: ledger.tasks.length,
    completed: ledger.tasks.filter((t) => t.outcomes.some((x) => x.kind === "result")).length,
    failed: ledger.tasks.filter((t) => t.outcomes.some((x) => x.kind === "error")).length,
    lost: ledger.pending(),
    twice: ledger.tasks.filter((t) => t.outcomes.length > 1).length,
    reJustified: re.filter((x) => x.justified).length,
    reUnjustified: re.filter((x) => !x.justified).length,
    detectionObservable: false,
    recoveryObservable: t0 !== undefined,
    ...(t0 !== undefined && answered.every((a) => a !== undefined) ? { recoveryMs: Math.max(0, ...answered.map((a) => (a as number) - t0)) } : {}),
    violations,
    errors,
  };
}

/** `concurrency` loops, each submitting one task after another until stopped; every answer in the ledger. */
export function stream(client: RunningClient, ledger: ClientLedger, o: Pick<RunOptions, "concurrency" | "taskMs" | "deadlineMs">): { stop(): void; done: Promise<void> } {
  let on = true;
  let n = 0;
  const loop = async (): Promise<void> => {
    while (on) {
      const key = `${client.id}-k${++n}`;
      ledger.submitted(client.id, key, Date.now() + o.deadlineMs);
      try {
        const r = await client.submit({ app: "sleep", payload: { ms: o.taskMs }, key, timeoutMs: o.deadlineMs });
        ledger.answered(key, { kind: "result", at: Date.now(), taskId: r.taskId, serverId: r.serverId, attempts: r.attempts, cached: r.cached });
      } catch (err) {
        const code = typeof err === "object" && err !== null && "code" in err && typeof err.code === "string" ? err.code : "THROWN";
        ledger.answered(key, { kind: "error", at: Date.now(), code, message: err instanceof Error ? err.message : String(err) });
      }
    }
  };
  const done = Promise.all(Array.from({ length: o.concurrency }, loop)).then(() => undefined);
  return { stop: () => void (on = false), done };
}

/** `failed` and `killed` of a FaultContext, appending to `failures`; a kill names the process (FailureEvent.pid). */
export function recordFailures(cluster: Cluster, failures: FailureEvent[]): Pick<FaultContext, "failed" | "killed"> {
  return {
    failed: (server, what) => void failures.push({ server, at: Date.now(), what }),
    killed: (server, what) => {
      const pid = cluster.node(server).proc.pid;
      failures.push({ server, at: Date.now(), what, ...(pid === undefined ? {} : { pid }) });
    },
  };
}
