import type { AllotError, Bodies, Message, MessageType, OpaqueMessage, Role } from "../../protocol/index.js";
import type { Channel, Entropy, Peer } from "../../transport/index.js";

/** The logger an actor writes to: a pino child with `{ node, role }`. */
export interface RoleLog {
  error(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

/**
 * Allot's own metrics, by kind: a closed list, so a misspelt name or a counter observed as a
 * histogram fails to compile. Names follow Prometheus's conventions (base units, `_total` on
 * counters, `_seconds`); labels carry no per-task values (no ids), only small closed sets
 * (an error code, a peer role, a status).
 */
export type CounterName =
  | "allot_tasks_placed_total"
  | "allot_placements_refused_total"
  | "allot_decisions_total"
  | "allot_tasks_run_total"
  | "allot_tasks_completed_total"
  | "allot_tasks_failed_total";
export type HistogramName = "allot_placement_seconds" | "allot_decision_seconds" | "allot_task_run_seconds";
export type GaugeName = never;
export type MetricName = CounterName | HistogramName | GaugeName;
/** Label values: a few words from closed sets. */
export type MetricLabels = Readonly<Record<string, string>>;

/**
 * What a role counts with. Cheap on the hot path: one call per task at most, no allocation
 * beyond the labels object a caller passes. The node's implementation is prom-client; the
 * default does nothing.
 */
export interface Metrics {
  inc(name: CounterName, labels?: MetricLabels, n?: number): void;
  observe(name: HistogramName, seconds: number, labels?: MetricLabels): void;
  set(name: GaugeName, value: number, labels?: MetricLabels): void;
  /** Whether anything is listening: a role may skip measuring a duration when not. */
  readonly on: boolean;
  /** A monotonic clock, in seconds, for durations observed (decision time); 0 when off. */
  clock(): number;
}

/** Metrics that go nowhere: the default of a node without a monitoring port, and of tests. */
export const NO_METRICS: Metrics = {
  inc() {},
  observe() {},
  set() {},
  on: false,
  clock: () => 0,
};

/** What the node gives a role: identity, clock, randomness, logging and outbound connections. */
export interface RoleContext {
  readonly id: string;
  readonly role: Role;
  /** The address other nodes should use to reach this one. */
  readonly url: string;
  readonly log: RoleLog;
  /** Where the role counts tasks, decisions and latencies (NO_METRICS unless the node serves them). */
  readonly metrics: Metrics;
  now(): number;
  random(): number;
  /** Random bytes (ticket keys, tickets, pick nonces): the node's entropy, seeded in tests. */
  readonly entropy: Entropy;
  /**
   * This run of the node, distinct from every earlier one (reporter versions, ticket issuers,
   * client task ids): the clock at start by default; a test cluster makes it strictly increasing.
   */
  readonly incarnation: number;
  /** Runs `fn` after the current turn (outside the actor; enqueue from it to touch role state). */
  defer(fn: () => void): void;
  /** Resolves after `ms` on the node's clock; rejects with the signal's reason if it aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** A long-lived, reconnecting connection whose incoming requests reach this role's actor. */
  connect(url: string, hooks?: { onOpen?(ch: Channel): void; onDown?(peer: Peer): void }): Peer;
  /** Runs `fn` inside this role's actor, after the messages already queued. */
  enqueue(fn: () => void): void;
  /**
   * Sends a request and runs `then` inside this role's actor with its answer or its error: the
   * continuation is supervised like a message, and role state changes only inside the actor.
   */
  ask<T extends MessageType>(to: Asker, type: T, body: Bodies[T], timeoutMs: number | undefined, then: (err: AllotError | undefined, answer: Message | undefined) => void): void;
  /** Runs `fn` inside this role's actor once `ms` have passed; the function returned cancels it. */
  after(ms: number, fn: () => void): () => void;
  /** Runs `fn` inside this role's actor every `ms`; the function returned stops it. */
  every(ms: number, fn: () => void): () => void;
}

/** What `ask` sends on: a peer or a channel. */
export interface Asker {
  request<T extends MessageType>(type: T, body: Bodies[T], timeoutMs?: number): Promise<Message>;
}

/** A role's behaviour: answer every request it is handed, exactly once. */
export interface Behaviour {
  handle(m: Message, ch: Channel): void;
  /** Forwarders: which requests to take with their body unread, passed on as bytes. */
  opaque?(type: MessageType, ch: Channel): boolean;
  /** Handles a request whose body was left unread (only those `opaque` chose). */
  handleOpaque?(m: OpaqueMessage, ch: Channel): void;
  /** A connection to this node finished its handshake (inbound or outbound). */
  onHello?(ch: Channel): void;
  /** A connection to this node closed (inbound or outbound). */
  onClose?(ch: Channel): void;
  /** Counters and state for `status` and tests. */
  stats?(): Record<string, unknown>;
  /**
   * Whether the role can do its job now (the monitoring port's /readyz): undefined when it can,
   * else why not (an allocator that knows no live server, an app server registered nowhere, a
   * front with no reachable member, a slave linked to no master). Absent: always ready.
   */
  notReady?(): string | undefined;
  /** Stops timers and outbound work; the node awaits it before closing its connections. */
  stop?(): void | Promise<void>;
}
