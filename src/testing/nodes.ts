import { pino } from "pino";
import { builtinHandlers } from "../actors/runtime/handlers.js";
import type { Handler, TaskContext } from "../actors/runtime/handlers.js";
import { startNode } from "../node/node.js";
import type { RunningNode } from "../node/node.js";
import type { NodeConfig } from "../node/config.js";
import type { Attrs } from "../protocol/index.js";
import type { ClockView, VirtualClock } from "./clock.js";
import { seededSource } from "./entropy.js";
import { UnknownNodeError } from "./errors.js";
import type { Hub } from "./hub.js";
import { hubTransport } from "./hub-transport.js";
import type { Recorder } from "./recorder.js";
import { RunWrapper } from "./recorder.js";
import type { TestClusterSpec } from "./spec.js";
import type { NodePlan } from "./topology.js";

/**
 * Each node of the cluster across its incarnations: what starts one (a fresh clock view, entropy
 * stream, hub transport and wrapped handlers, with the seams' config), and what kills one (a
 * crash: state lost, nothing said on the way out).
 */

/** One silent logger for every node of every cluster: log lines are not history, and cost. */
const SILENT = pino({ level: "silent" });

export interface Slot {
  readonly plan: NodePlan;
  /** 0 before the first start; 1 for the first incarnation. */
  incarnation: number;
  alive: boolean;
  paused: boolean;
  node: RunningNode | undefined;
  view: ClockView | undefined;
  runs: RunWrapper | undefined;
  /** The app server's current attributes (spec, then setAttrs). */
  attrs: Attrs;
  /** Virtual time the last incarnation started. */
  startedAt: number;
}

/** The parts of the seams' NodeConfig (src/node/config.ts once merged) that testing fills. */
interface SeamConfig {
  timers: ClockView;
  entropy: { bytes(n: number): Uint8Array };
  incarnation: number;
  activity: { busy: number };
}

export interface NodeSetDeps {
  spec: TestClusterSpec;
  clock: VirtualClock;
  hub: Hub;
  rec: Recorder;
  activity: { busy: number };
  /** A node's actor gave up (past its restart budget). */
  onFatal: (slot: Slot, incarnation: number, err: unknown) => void;
}

/** The built-in `sleep`, on the virtual clock: a real timer would wake on wall time. */
function virtualSleep(view: ClockView): Handler {
  return (payload, task) => {
    const raw = typeof payload === "number" ? payload : typeof payload === "object" && payload !== null ? (payload as { ms?: unknown }).ms : undefined;
    const ms = typeof raw === "number" && Number.isFinite(raw) && raw >= 0 ? raw : 0;
    return new Promise((resolve, reject) => {
      const signal = task.signal;
      const cancel = view.after(ms, () => resolve({ slept: ms }));
      signal.addEventListener(
        "abort",
        () => {
          cancel();
          reject(signal.reason instanceof Error ? signal.reason : new Error("aborted"));
        },
        { once: true },
      );
    });
  };
}

export class NodeSet {
  readonly slots = new Map<string, Slot>();
  private readonly clients: string[];

  constructor(
    private readonly d: NodeSetDeps,
    plans: readonly NodePlan[],
  ) {
    for (const plan of plans) this.slots.set(plan.id, { plan, incarnation: 0, alive: false, paused: false, node: undefined, view: undefined, runs: undefined, attrs: { ...(plan.app?.attrs ?? {}) }, startedAt: -1 });
    // Longest first, so a client id that prefixes another does not steal its runs.
    this.clients = plans.filter((p) => p.role === "client").map((p) => p.id).sort((a, b) => b.length - a.length);
  }

  get(id: string, what: string): Slot {
    const s = this.slots.get(id);
    if (!s) throw new UnknownNodeError(id, what);
    return s;
  }

  /** The client a run is for: the handler context's (the seam), else the task id's prefix. */
  private clientOf = (task: TaskContext): string => {
    const given = (task as TaskContext & { client?: unknown }).client;
    if (typeof given === "string") return given;
    return this.clients.find((c) => task.taskId.startsWith(`${c}-`)) ?? "";
  };

  /** Starts the slot's next incarnation. */
  async start(slot: Slot): Promise<void> {
    const { clock, hub, spec, rec, activity } = this.d;
    // Versions and ticket issuers were stamped with the start time: a restart must not share its ms.
    if (clock.now <= slot.startedAt) clock.advanceTo(slot.startedAt + 1);
    const inc = ++slot.incarnation;
    const id = slot.plan.id;
    const view = clock.view(id);
    const src = seededSource(spec.seed ?? 1, id, inc);
    slot.view = view;
    slot.alive = true;
    slot.paused = false;
    slot.startedAt = clock.now;
    hub.revive(id);
    const alive = (): boolean => slot.alive && slot.incarnation === inc;
    const seams: SeamConfig = { timers: view, entropy: src, incarnation: inc, activity };
    let handlers: Record<string, Handler> | undefined;
    const app = slot.plan.app;
    if (app) {
      const runs = new RunWrapper(rec, { server: id, incarnation: inc, capacity: app.capacity, attrs: () => slot.attrs, clientOf: this.clientOf });
      slot.runs = runs;
      handlers = {};
      for (const name of app.apps) {
        const user = spec.handlers?.[name];
        const base = user ?? (name === "sleep" ? virtualSleep(view) : builtinHandlers[name]);
        if (base) handlers[name] = runs.wrap(name, base);
      }
    }
    const common = {
      listen: "127.0.0.1:0",
      transport: hubTransport(hub, id, alive),
      logger: SILENT,
      now: view.now,
      random: src.random,
      catchStrayErrors: false,
      onFatal: (err: unknown) => this.d.onFatal(slot, inc, err),
      ...(spec.heartbeatMs === undefined ? {} : { heartbeatMs: spec.heartbeatMs }),
      ...(spec.silenceMs === undefined ? {} : { silenceMs: spec.silenceMs }),
      ...(spec.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: spec.requestTimeoutMs }),
      ...(handlers ? { handlers, workers: 0 } : {}),
    };
    const config = { ...slot.plan.config, ...common, ...seams } as NodeConfig;
    slot.node = await startNode(config);
  }

  /** A crash: the hub cuts its links, its timers are gone, its runs lost, the node killed. */
  kill(slot: Slot): void {
    if (!slot.alive) return;
    slot.alive = false;
    slot.paused = false;
    this.d.hub.sever(slot.plan.id);
    slot.view?.dispose();
    slot.runs?.lose();
    const node = slot.node;
    slot.node = undefined;
    if (!node) return;
    const kill = (node as RunningNode & { kill?: () => void }).kill;
    if (typeof kill === "function") kill.call(node);
    // Before the seams' kill(): the graceful stop, whose goodbyes go nowhere (the links are cut).
    else void node.stop().catch(() => {});
  }
}
