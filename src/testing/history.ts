import type { Attrs, Constraint } from "../protocol/index.js";

/**
 * What a test cluster records, in the order it happened: every client-visible event, every
 * handler execution, every fault, and snapshots of the allocators' tables. Times are the
 * cluster's virtual clock (ms); `step` counts the scheduler's steps, so two runs of one seed
 * give equal histories. Nothing here holds wall time or log text.
 */
export type HistoryEvent =
  | SubmitEvent
  | SettleEvent
  | RunStartEvent
  | RunEndEvent
  | FaultEvent
  | LifecycleEvent
  | FatalEvent
  | AttrsEvent
  | TablesEvent;

interface At {
  /** Virtual time: ms since the cluster was made. */
  t: number;
  /** The scheduler step it happened in. */
  step: number;
}

/** A client was asked to run a task (`op` numbers the submits of one cluster from 1). */
export interface SubmitEvent extends At {
  kind: "submit";
  op: number;
  client: string;
  key: string;
  app: string;
  require: Constraint[];
  /** Virtual time by which the task must be answered. */
  deadline: number;
}

/** The client answered the submit `op`: a result, or a typed error. */
export type SettleEvent = At & { kind: "settle"; op: number; client: string; key: string } & (
    | { ok: true; taskId: string; serverId: string; cached: boolean; attempts: number }
    | { ok: false; code: string; message: string }
  );

/** A handler began a run on an app server incarnation. */
export interface RunStartEvent extends At {
  kind: "run.start";
  server: string;
  /** The server's incarnation: 1 at first start, one more at each restart. */
  incarnation: number;
  client: string;
  key: string;
  taskId: string;
  app: string;
  attempt: number;
  /** Runs in progress on this server incarnation, this one included. */
  running: number;
  capacity: number;
  /** The server's attributes when the run began. */
  attrs: Attrs;
}

/** A run ended: returned (`ok`), threw, or was lost with its server (`lost`: crashed mid-run). */
export interface RunEndEvent extends At {
  kind: "run.end";
  server: string;
  incarnation: number;
  client: string;
  key: string;
  taskId: string;
  outcome: "ok" | "failed" | "lost";
}

/** A fault the test injected or healed, on the links between these nodes. */
export interface FaultEvent extends At {
  kind: "fault";
  fault: "drop" | "delay" | "duplicate" | "reorder" | "partition" | "heal";
  nodes: string[];
  detail?: string;
}

/** A node crashed (its state lost), restarted (a new incarnation), paused or resumed. */
export interface LifecycleEvent extends At {
  kind: "crash" | "restart" | "pause" | "resume";
  node: string;
  incarnation: number;
}

/**
 * An app server's attributes were changed (cluster.setAttrs): `before` and `after` in full. The
 * allocators learn of it by the server's report, so for a while they may still place by `before`.
 */
export interface AttrsEvent extends At {
  kind: "attrs";
  node: string;
  before: Attrs;
  after: Attrs;
}

/** A node gave up: an actor past its restart budget. */
export interface FatalEvent extends At {
  kind: "fatal";
  node: string;
  error: string;
}

/**
 * What each allocator of a set held, and what each live server itself says its version is, at
 * one moment (the cluster takes one when asked, e.g. after healing and letting it settle).
 */
export interface TablesEvent extends At {
  kind: "tables";
  /** Per allocator set (tier-2s, masters): each member's entry version and status per server id. */
  sets: Array<{ set: string; members: Array<{ node: string; servers: Record<string, { version: [number, number]; status: string }> }> }>;
  /** Each live app server's (and slave's) own current version. */
  truth: Record<string, [number, number]>;
}

export type History = readonly HistoryEvent[];

/** A checker's verdict: ok, or what broke the invariant, with the events that show it. */
export type CheckResult = { ok: true } | { ok: false; checker: string; message: string; events: HistoryEvent[] };

/** An invariant over a history. */
export type Checker = (h: History) => CheckResult;
