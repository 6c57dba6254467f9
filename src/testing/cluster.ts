import type { TaskResult, TaskSpec } from "../actors/roles/client.js";
import type { RunningClient, RunningNode } from "../node/node.js";
import type { Attrs } from "../protocol/index.js";
import { VirtualClock } from "./clock.js";
import { seededSource } from "./entropy.js";
import { StartupTimeoutError, UnknownNodeError } from "./errors.js";
import { applyFault, createFaults } from "./faults.js";
import type { Faults } from "./faults.js";
import type { History, TablesEvent } from "./history.js";
import { Hub } from "./hub.js";
import type { HubCounters } from "./hub.js";
import { NodeSet } from "./nodes.js";
import type { Slot } from "./nodes.js";
import { Recorder } from "./recorder.js";
import { Engine } from "./run.js";
import type { RunOptions, RunResult } from "./run.js";
import { pickerFor } from "./scheduler.js";
import { expandCounts, validateSpec } from "./spec.js";
import type { TestClusterSpec } from "./spec.js";
import { clientSpecs, planOf } from "./topology.js";

/**
 * createTestCluster: the whole cluster in this process, on one virtual clock, over the hub,
 * with its history. It composes the pieces (spec → plans → nodes; clock, hub, scheduler →
 * engine; recorder; faults) and is the only file that knows them all.
 */

/** A node of the cluster, across its incarnations. */
export interface NodeHandle {
  readonly id: string;
  readonly role: string;
  /** 1 at first start, one more at each restart. */
  readonly incarnation: number;
  readonly alive: boolean;
  readonly paused: boolean;
  /** The node's stats now (undefined while crashed). */
  stats(): Record<string, unknown> | undefined;
}

/** A submitted task: settles when its client answers (during a `run`). */
export interface SubmitHandle {
  readonly op: number;
  readonly client: string;
  readonly key: string;
  readonly promise: Promise<TaskResult>;
  readonly settled: boolean;
  readonly result: TaskResult | undefined;
  readonly error: unknown;
}

export interface ClientHandle {
  readonly id: string;
  submit(task: TaskSpec): SubmitHandle;
}

export interface TestCluster extends Faults {
  readonly spec: TestClusterSpec;
  readonly nodes: Readonly<Record<string, NodeHandle>>;
  /** Everything recorded so far. */
  readonly history: History;
  /** Virtual time: ms since the cluster was made (the history's `t`, and `run({ until })`'s). */
  readonly now: number;
  /** Scheduler steps taken so far. */
  readonly steps: number;
  /** The hub's frame counters (sent, delivered, dropped, duplicated). */
  readonly counters: Readonly<HubCounters>;
  node(id: string): NodeHandle;
  client(id: string): ClientHandle;
  /** Submits a task through a client (a key is made up when none is given: `CLIENT-opN`). */
  submit(clientId: string, task: TaskSpec): SubmitHandle;
  /** Runs until `until` (default: every submit settled), or nothing is left to happen. */
  run(o?: RunOptions): Promise<RunResult>;
  /** Changes an app server's attributes (recorded in later run.start events). */
  setAttrs(serverId: string, attrs: Attrs): void;
  /** Records (and returns) what every allocator holds and what every live server says of itself. */
  snapshotTables(): TablesEvent;
  /** Kills every node; the cluster is unusable after. */
  dispose(): Promise<void>;
}

type Row = { id?: unknown; version?: unknown; status?: unknown };

function rows(n: RunningNode | undefined, key: "servers" | "slaves"): Row[] {
  const v = n?.stats()[key];
  return Array.isArray(v) ? (v as Row[]) : [];
}

const DEFAULT_CLIENT_TIMEOUT_MS = 30_000;

export async function createTestCluster(given: TestClusterSpec): Promise<TestCluster> {
  validateSpec(given);
  const spec = expandCounts(given);
  const seed = spec.seed ?? 1;
  const clock = new VirtualClock();
  const activity = { busy: 0 };
  const hub = new Hub(seededSource(seed, "hub", 0), () => clock.now);
  let engine: Engine | undefined;
  const rec = new Recorder(() => ({ t: clock.elapsed, step: engine?.step ?? 0 }));
  const own = clock.view("cluster");
  const plans = planOf(spec);
  let faults: Faults | undefined;
  const nodes = new NodeSet(
    {
      spec,
      clock,
      hub,
      rec,
      activity,
      onFatal: (slot: Slot, inc: number, err: unknown) => {
        rec.record({ kind: "fatal", node: slot.plan.id, error: err instanceof Error ? err.message : String(err) });
        // A node that gave up exits: a crash, done after the current turn (we are inside its actor).
        own.defer(() => {
          if (slot.alive && slot.incarnation === inc) faults?.crash(slot.plan.id);
        });
      },
    },
    plans,
  );
  faults = createFaults(hub, nodes, rec);
  const f = faults;
  engine = new Engine(clock, hub, pickerFor(spec.delivery), activity, () => rec.tail());
  const eng = engine;

  const handles: Record<string, NodeHandle> = {};
  for (const [id, slot] of nodes.slots) {
    handles[id] = {
      id,
      role: slot.plan.role,
      get incarnation() {
        return slot.incarnation;
      },
      get alive() {
        return slot.alive;
      },
      get paused() {
        return slot.paused;
      },
      stats: () => (slot.alive ? slot.node?.stats() : undefined),
    };
  }
  const timeouts = new Map(clientSpecs(spec).map((c) => [c.id, c.timeoutMs ?? DEFAULT_CLIENT_TIMEOUT_MS]));
  const unsettled = new Set<{ settled: boolean }>();
  let op = 0;

  const submit = (clientId: string, task: TaskSpec): SubmitHandle => {
    const slot = nodes.get(clientId, "submit");
    if (slot.plan.role !== "client") throw new UnknownNodeError(clientId, "submit (not a client)");
    const n = ++op;
    const key = task.key ?? `${clientId}-op${n}`;
    const timeoutMs = task.timeoutMs ?? timeouts.get(clientId) ?? DEFAULT_CLIENT_TIMEOUT_MS;
    rec.record({ kind: "submit", op: n, client: clientId, key, app: task.app, require: task.require ?? [], deadline: clock.elapsed + timeoutMs });
    const state: { settled: boolean; result: TaskResult | undefined; error: unknown } = { settled: false, result: undefined, error: undefined };
    unsettled.add(state);
    const node = slot.node as RunningClient | undefined;
    const promise: Promise<TaskResult> =
      slot.alive && node ? node.submit({ ...task, key }) : Promise.reject(new Error(`client ${clientId} is not running`));
    promise.then(
      (r) => {
        state.settled = true;
        state.result = r;
        unsettled.delete(state);
        rec.record({ kind: "settle", op: n, client: clientId, key, ok: true, taskId: r.taskId, serverId: r.serverId, cached: r.cached, attempts: r.attempts });
      },
      (err: unknown) => {
        state.settled = true;
        state.error = err;
        unsettled.delete(state);
        const code = typeof err === "object" && err !== null && typeof (err as { code?: unknown }).code === "string" ? (err as { code: string }).code : "ERROR";
        rec.record({ kind: "settle", op: n, client: clientId, key, ok: false, code, message: err instanceof Error ? err.message : String(err) });
      },
    );
    return {
      op: n,
      client: clientId,
      key,
      promise,
      get settled() {
        return state.settled;
      },
      get result() {
        return state.result;
      },
      get error() {
        return state.error;
      },
    };
  };

  const snapshotTables = (): TablesEvent => {
    const allocators = [...nodes.slots.values()].filter((s) => s.alive && (s.plan.role === "tier2" || s.plan.role === "master"));
    const members = allocators.map((s) => {
      const servers: Record<string, { version: [number, number]; status: string }> = {};
      for (const r of [...rows(s.node, "servers"), ...rows(s.node, "slaves")]) {
        if (typeof r.id === "string" && Array.isArray(r.version)) servers[r.id] = { version: [Number(r.version[0]), Number(r.version[1])], status: String(r.status) };
      }
      return { node: s.plan.id, servers };
    });
    const truth: Record<string, [number, number]> = {};
    for (const s of nodes.slots.values()) {
      if (!s.alive || (s.plan.role !== "app" && s.plan.role !== "slave")) continue;
      const v = s.node?.stats().version;
      if (Array.isArray(v)) truth[s.plan.id] = [Number(v[0]), Number(v[1])];
    }
    const set = spec.tiered ? "tier2" : "masters";
    rec.record({ kind: "tables", sets: [{ set, members }], truth });
    return rec.events[rec.events.length - 1] as TablesEvent;
  };

  /** Start-up is done when every allocator an app server (or slave) joined shows it alive. */
  const started = (): boolean => {
    for (const s of nodes.slots.values()) {
      const joins = s.plan.app?.join ?? s.plan.joins;
      if (!joins) continue;
      const key = s.plan.role === "slave" ? "slaves" : "servers";
      for (const a of joins) {
        const alloc = nodes.slots.get(a);
        if (!alloc?.alive) continue;
        if (!rows(alloc.node, key).some((r) => r.id === s.plan.id && r.status === "alive")) return false;
      }
    }
    return true;
  };

  const disposeAll = (): void => {
    for (const s of nodes.slots.values()) nodes.kill(s);
    own.dispose();
  };

  try {
    for (const plan of plans) await nodes.start(nodes.get(plan.id, "start"));
    const startupMs = spec.startupMs ?? 30_000;
    const r = await eng.run({ maxSteps: 1_000_000 }, started, clock.now + startupMs);
    if (r.reason !== "until") throw new StartupTimeoutError("every allocator to see every server and slave alive", startupMs);
  } catch (err) {
    disposeAll();
    throw err;
  }
  for (const fs of spec.faults ?? []) {
    own.after(fs.at, () => {
      activity.busy++;
      void applyFault(fs, f).finally(() => {
        activity.busy--;
      });
    });
  }

  return {
    spec,
    nodes: handles,
    get history() {
      return rec.events;
    },
    get now() {
      return clock.elapsed;
    },
    get steps() {
      return eng.step;
    },
    counters: hub.counters,
    node(id) {
      const h = handles[id];
      if (!h) throw new UnknownNodeError(id, "node");
      return h;
    },
    client(id) {
      const s = nodes.get(id, "client");
      if (s.plan.role !== "client") throw new UnknownNodeError(id, "client (not a client)");
      return { id, submit: (task: TaskSpec) => submit(id, task) };
    },
    submit,
    run: (o = {}) => eng.run(o, () => unsettled.size === 0),
    setAttrs(serverId, attrs) {
      const s = nodes.get(serverId, "setAttrs");
      if (s.plan.role !== "app") throw new UnknownNodeError(serverId, "setAttrs (not an app server)");
      const node = s.node as (RunningNode & { setAttrs?: (a: Attrs) => void }) | undefined;
      node?.setAttrs?.(attrs);
      const before = s.attrs;
      s.attrs = { ...s.attrs, ...attrs };
      rec.record({ kind: "attrs", node: serverId, before: { ...before }, after: { ...s.attrs } });
    },
    snapshotTables,
    link: (a, b) => f.link(a, b),
    partition: (a, b) => f.partition(a, b),
    heal: () => f.heal(),
    crash: (id) => f.crash(id),
    restart: (id) => f.restart(id),
    pause: (id) => f.pause(id),
    resume: (id) => f.resume(id),
    async dispose() {
      disposeAll();
      // Let killed nodes' last callbacks run out before the caller moves on.
      await new Promise((r) => setImmediate(r));
    },
  };
}
