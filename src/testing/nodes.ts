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

export interface NodeSetDeps {
  spec: TestClusterSpec;
  clock: VirtualClock;
  hub: Hub;
  rec: Recorder;
  activity: { busy: number };
  /** A node's actor gave up (past its restart budget). */
  onFatal: (slot: Slot, incarnation: number, err: unknown) => void;
}

export class NodeSet {
  readonly slots = new Map<string, Slot>();

  constructor(
    private readonly d: NodeSetDeps,
    plans: readonly NodePlan[],
  ) {
    for (const plan of plans) this.slots.set(plan.id, { plan, incarnation: 0, alive: false, paused: false, node: undefined, view: undefined, runs: undefined, attrs: { ...(plan.app?.attrs ?? {}) }, startedAt: -1 });
  }

  get(id: string, what: string): Slot {
    const s = this.slots.get(id);
    if (!s) throw new UnknownNodeError(id, what);
    return s;
  }

  /** The client a run is for: the verified id the handler context carries. */
  private clientOf = (task: TaskContext): string => task.client;

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
    let handlers: Record<string, Handler> | undefined;
    const app = slot.plan.app;
    if (app) {
      const runs = new RunWrapper(rec, { server: id, incarnation: inc, capacity: app.capacity, attrs: () => slot.attrs, clientOf: this.clientOf });
      slot.runs = runs;
      handlers = {};
      for (const name of app.apps) {
        const user = spec.handlers?.[name];
        // The built-ins too (their `sleep` sleeps on the node's timers: the virtual clock).
        const base = user ?? builtinHandlers[name];
        if (base) handlers[name] = runs.wrap(name, base);
      }
    }
    const common = {
      listen: "127.0.0.1:0",
      timers: view,
      entropy: src,
      incarnation: inc,
      activity,
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
    const config: NodeConfig = { ...slot.plan.config, ...common };
    slot.node = await startNode(spec.configure ? spec.configure(id, config) : config);
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
    node.kill();
  }
}
