/** Roles a node can play. */
export const Role = {
  vip: "vip",
  tier1: "tier1",
  tier2: "tier2",
  app: "app",
  client: "client",
  master: "master",
  slave: "slave",
} as const;
export type Role = (typeof Role)[keyof typeof Role];

/**
 * Roles a credential's claim may grant: every node role, plus `admin` (may read `status`, set and
 * unset attributes and drain), which no node runs as.
 */
export const CLAIM_ROLES = [...Object.values(Role), "admin"] as const;
export type ClaimRole = Role | "admin";

/**
 * What the cluster key vouches for: the node key it binds, the roles it grants, the id (or id
 * prefix) it covers and when it expires (ms since the epoch). Exactly one of `id`, `idPrefix`.
 */
export interface Claim {
  roles: ClaimRole[];
  id?: string;
  idPrefix?: string;
  expires: number;
  /** The node's Ed25519 public key, 32 raw bytes. */
  key: Uint8Array;
}

/** One side's answer to the handshake challenge: its claim, the cluster's signature over it, and its own over the transcript. */
export interface Proof {
  claim: Claim;
  /** Ed25519 signature of the claim by a cluster key (64 bytes). */
  claimSig: Uint8Array;
  /** Ed25519 signature by the claim's key over both nonces, both node ids, the side and the protocol version (64 bytes). */
  sig: Uint8Array;
}

export type AttrValue = string | number | boolean;
/** Free-form attributes: region, labels, gpu=true, … */
export type Attrs = Record<string, AttrValue>;

export const CONSTRAINT_OPS = ["=", "!=", ">=", "<=", ">", "<", "in"] as const;
export type ConstraintOp = (typeof CONSTRAINT_OPS)[number];
/**
 * A condition on one server value: `key=value`, `key!=value`, `key>=N` … or `key in (a,b,c)`.
 * `value` is a list for `in` (the set of accepted values, at least one) and a single value for
 * every other op. In `require` it is a hard constraint a server must meet to be selected.
 */
export interface Constraint {
  key: string;
  op: ConstraintOp;
  value: AttrValue | AttrValue[];
}

/**
 * A soft constraint: a server that meets it scores `weight` (a finite number >= 0) more; the
 * best-scoring eligible servers are the ones the policy chooses among.
 */
export interface Preference extends Constraint {
  weight: number;
}

/** Who asked for a task: the id it chose and the address the first hop saw it at. */
export interface ClientRef {
  id: string;
  addr: string;
}

/** A computing task, as a client submits it. */
export interface Task {
  id: string;
  /** Idempotency key: a retried task with the same key returns the first run's result. */
  key: string;
  /** The user the task runs for: their stored preferences join the task's own. */
  user?: string;
  app: string;
  /**
   * Expected cost in work units (a server of power P does P units a second), when the client
   * knows it; a task type's `cost` default applies otherwise. A costly task goes to a server with
   * that much idle power when there is one.
   */
  cost?: number;
  /** Deadline on this host's clock, ms since the epoch; on the wire, the time left (wire-time.ts). */
  deadline: number;
  require: Constraint[];
  /**
   * Weighted soft constraints: each one a server meets adds its weight to the server's score
   * (on top of one point per matching client attribute or user preference).
   */
  prefer?: Preference[];
  clientAttrs: Attrs;
  prefs: Attrs;
  payload: unknown;
}

/** What an app server reports about itself; the first report registers it. */
/** One (client, key) → server placement an allocator shares with its peers. */
export interface KeyPlacementWire {
  client: string;
  key: string;
  server: string;
  /** How much longer it is remembered, ms. */
  ttlMs: number;
}

export interface ServerReport {
  id: string;
  url: string;
  apps: string[];
  capacity: number;
  power: number;
  load: number;
  attrs: Attrs;
  /** (incarnation, seq): a higher version wins, so stale reports never roll an entry back. */
  version: [number, number];
  /**
   * The server reports at least this often (ms); an allocator that hears nothing for 2 periods
   * marks it suspect, for 5 dead. Absent or 0: no periodic reports, so no expiry by age (a
   * closed connection still marks it dead).
   */
  periodMs?: number;
  /**
   * The key of the server's self-checking tickets (base64url), new each incarnation: allocators
   * sign the tickets they issue for it with this key, and the server checks them by itself. It
   * travels only to allocators (and between peers of a set); `status` never shows it.
   */
  ticketKey?: string;
  /**
   * Runs that failed in a row for a reason other than the handler's own error (the run's
   * deadline passed, its result could not be sent, its worker thread died); a success resets it,
   * and TASK_FAILED or CANCELLED neither counts nor resets. Absent: 0. Allocators eject a server
   * whose count keeps rising (outlier detection).
   */
  failures?: number;
  /**
   * The server is draining: it finishes the runs it has, refuses new ones `DRAINING`, and leaves
   * (`server.leave`) once idle. Allocators mark its entry `draining` and never choose it.
   */
  draining?: boolean;
}

/** The most a report's `failures` may say: past this the count stays. */
export const MAX_REPORTED_FAILURES = 1_000_000;

import type { WireError } from "./errors.js";

export const ATTR_TABLES = ["server", "client", "user", "task-type"] as const;
export type AttrTable = (typeof ATTR_TABLES)[number];

/** The load a slave reports with each processing-server request. */
export interface SlaveMetrics {
  /** Requests the slave holds now (received, not yet answered). */
  queue: number;
  /** The task's expected cost (task-type default `cost`, or the task's own), when known. */
  cost?: number;
  /** The slave's (incarnation, seq) for this figure: ordered with its reports. */
  version: [number, number];
}

/** An entry of a client, user or task-type table, stamped (time, node) for last-writer-wins. */
export interface AttrEntry {
  id: string;
  attrs: Attrs;
  version: [number, string];
}

/** The attribute tables an allocator set keeps besides its servers. */
export interface AttrTables {
  client: AttrEntry[];
  user: AttrEntry[];
  "task-type": AttrEntry[];
}

export const SERVER_STATUSES = ["alive", "suspect", "dead", "draining"] as const;
export type ServerStatus = (typeof SERVER_STATUSES)[number];

/** One server as an allocator's database holds it, for `allot status`. */
export interface ServerStatusRow extends ServerReport {
  status: ServerStatus;
  /** Slots this allocator reserved that the server has not yet acknowledged. */
  reserved: number;
  /** Time since the newest report was applied, ms. */
  ageMs: number;
  /** While this allocator has ejected the server for failing runs: how much longer, ms. */
  ejectedForMs?: number;
  /** While the server is in its slow start at this allocator: the slots it may be given now (below its capacity). */
  rampLimit?: number;
}

/**
 * The names a constraint reads as the server's own fields, not as attributes (`app` is met by a
 * server offering that application). An attribute cannot take one of these names: `power` and
 * `capacity` set through `attrs.set` change the server's own figures, the rest are refused.
 */
export const BUILTIN_FIELDS = ["id", "app", "power", "capacity", "load", "free"] as const;
export type BuiltinField = (typeof BUILTIN_FIELDS)[number];
/** Built-in fields `attrs.set` may change at an app server; the other built-ins and report fields are refused. */
export const SETTABLE_FIELDS = ["power", "capacity"] as const;
/** Names of a report's own fields, refused as attribute names too, so `allot status` shows one meaning for each. */
export const REPORT_FIELDS = ["url", "apps", "attrs", "version", "periodMs"] as const;

/** The states of a connection a node dialled (a `Peer`): up, being (re)opened, backing off, or given up. */
export const LINK_STATES = ["connecting", "open", "down", "closed"] as const;
export type LinkState = (typeof LINK_STATES)[number];

/** One connection a node dialled, as `allot status` shows it. */
export interface LinkStatus {
  url: string;
  /** The node id at the other end, while the connection is open. */
  id?: string;
  state: LinkState;
  /** Requests this node sent on it that await an answer. */
  inFlight: number;
  /** Requests passed on to it since this node started (forwarders). */
  forwarded?: number;
}

/** One task an app server is running: how long it has run, its deadline and whether it is past it. */
export interface RunningTaskRow {
  taskId: string;
  app: string;
  /** Time since the run started, ms. */
  ageMs: number;
  /** The task's deadline, ms since the epoch. */
  deadline: number;
  overdue: boolean;
}

/** A tier-2's or a master's answer: its database (a master's slaves too) and its attribute tables. */
export interface AllocatorStatus {
  role: "tier2" | "master";
  node: string;
  servers: ServerStatusRow[];
  tables?: AttrTables;
  slaves?: ServerStatusRow[];
  /** How long a dead entry stays before it is dropped, ms. */
  deadRetentionMs?: number;
  /** Placement time since start: cumulative counts per bucket upper bound (ms), `counts` one longer than `buckets` (the +Inf bucket). */
  placementMs?: PlacementHistogram;
}

/** A histogram of placement times as a status answer carries it. */
export interface PlacementHistogram {
  buckets: number[];
  counts: number[];
  count: number;
  sum: number;
}

/** A vip's or a tier-1's answer: the members it passes requests to. */
export interface ForwarderStatus {
  role: "vip" | "tier1";
  node: string;
  /** Requests passed on (a vip) or redirected (a tier-1) since it started. */
  forwarded: number;
  /** How a tier-1 chooses among its members: a policy name, or "sequence". */
  policy?: string;
  members: LinkStatus[];
}

/** A slave's answer: its link mode and queue, the masters it registered with, the servers it reaches. */
export interface SlaveStatus {
  role: "slave";
  node: string;
  /** `proxy` or `direct`. */
  link: string;
  /** Requests held now (received, not yet answered), and at most. */
  held: number;
  capacity: number;
  received: number;
  answered: number;
  failovers: number;
  masters: LinkStatus[];
  /** Connections to app servers (pooled, dialled on first use). */
  servers: LinkStatus[];
}

/** An app server's answer: its figures, the allocators it reports to and the tasks it runs. */
export interface AppStatus {
  role: "app";
  node: string;
  url: string;
  apps: string[];
  capacity: number;
  power: number;
  /** Running plus expected: what its reports say. */
  load: number;
  /** Tasks running now (`running` lists at most 10 000 of them). */
  runningCount: number;
  /** Tickets announced whose run has not arrived yet. */
  expected: number;
  completed: number;
  attrs: Attrs;
  version: [number, number];
  /** The allocators it registers with and reports to, and the state of each connection. */
  registrations: LinkStatus[];
  running: RunningTaskRow[];
  /** Present while it drains: it refuses new runs and leaves its allocators once idle. */
  draining?: boolean;
}

/** The answer to `status.get`: each role's own view, tagged with the role. */
export type StatusBody = AllocatorStatus | ForwarderStatus | SlaveStatus | AppStatus;

/** One eligible server in a placement's explanation, best first. */
export interface ExplainCandidate {
  /** The server's id: absent for a principal that may not read the fleet (a verified client that is not an admin). */
  id?: string;
  /** 1 for the best. */
  rank: number;
  /** Points for soft preferences met (stored client attributes, user preferences, weighted `prefer`). */
  score: number;
  load: number;
  reserved: number;
  capacity: number;
  free: number;
  power: number;
  idlePower: number;
  chosen: boolean;
}

/** The answer to `placement.explain`: a dry run of one placement, reserving nothing. */
export interface Explanation {
  app: string;
  /** The policy that decides (a fresh instance of it, for the dry run). */
  policy: string;
  /** Servers this allocator knows that offer the application, whatever their status. */
  offering: number;
  /** Of those, the live ones (alive). */
  live: number;
  /** Live servers meeting every hard constraint, with a free slot: what the policy chooses among. */
  eligible: number;
  /**
   * Servers each hard constraint removed: `status` (not alive), one key per `require`
   * constraint (as written, counting each live server that fails it), `full` (meeting every
   * constraint, no free slot), `unacknowledged` (too many reservations not yet acknowledged).
   */
  removedBy: Record<string, number>;
  /** The score of a server meeting every soft preference. */
  maxScore: number;
  /** The top eligible servers, best first (at most 10), the chosen one among them. */
  candidates: ExplainCandidate[];
  /** The server a placement would choose now, or null when none fits. */
  chosen: string | null;
  /** Why it wins, or why none fits. */
  reason: string;
  /** When none fits: whether that can change by itself soon (all eligible servers busy). */
  retryable: boolean;
}

/** At most this many tasks in one `task.placeBatch`, and expects in one `task.expectBatch`. */
export const MAX_BATCH_TASKS = 256;
/** A batch's body of more bytes than this is refused whole, before it is decoded (at a forwarder too). */
export const MAX_BATCH_BYTES = 1024 * 1024;

/** One task of a batched placement: the task as `task.place` carries it, and the servers its earlier attempts failed on. */
export interface BatchTask {
  task: Task;
  avoid?: string[];
}

/**
 * A task of a batch that did not validate (its place in the batch is kept): it is answered with
 * its own INVALID naming `invalid`, and the batch's other tasks are placed.
 */
export interface BadBatchTask {
  invalid: string;
  /** The task's id, when it had a readable one. */
  taskId?: string;
}

/** One answer of a `task.placedBatch`: where to run the task and its ticket. */
export interface PlacedOne {
  taskId: string;
  serverId: string;
  serverUrl: string;
  ticket: string;
}

/** One answer of a `task.placedBatch`: why the task was not placed (the error `task.place` would have answered). */
export interface RefusedOne {
  /** "" for a task of the batch that had no readable id (its place in the batch tells which). */
  taskId: string;
  error: WireError;
}

/** What a lease covers: tasks of one class, the task's fields that matching reads (no id, key, deadline or payload). */
export type TaskClass = Omit<Task, "id" | "key" | "deadline" | "payload">;

/** The most slots one lease request may ask for. */
export const MAX_LEASE_SLOTS = 10_000;
/** The longest a lease may be asked for, ms (a tier-2 clamps it to its own limit). */
export const MAX_LEASE_TTL_MS = 3_600_000;
/** Lease ids one request may name for renewal, at most. */
export const MAX_LEASE_RENEW = 256;

/** One lease as a tier-2 grants it: `slots` concurrent runs on one server for the class, until `expiresAt`. */
export interface LeaseGrant {
  leaseId: string;
  serverId: string;
  serverUrl: string;
  slots: number;
  /** The lease ticket every run under the lease carries (it names lease, client, server, slots and expiry). */
  ticket: string;
  /** On this host's clock, ms since the epoch (the time left on the wire). */
  expiresAt: number;
}

/** Body of each message type. The keys are the wire names. */
export interface Bodies {
  /** Opens the handshake; `nonce` (32 random bytes) is the challenge the other side signs. */
  hello: { node: string; role: Role; nonce?: Uint8Array };
  /** Answers hello; a node with credentials adds its own challenge and its proof. */
  welcome: { node: string; role: Role; nonce?: Uint8Array; proof?: Proof };
  /** The dialer's proof, answering the acceptor's challenge; answered `ack`, or UNAUTHORIZED and a close. */
  auth: { proof: Proof };
  ping: Record<string, never>;
  pong: Record<string, never>;
  error: WireError;
  ack: Record<string, never>;
  /**
   * Place a task. `avoid`: servers (ids, at most MAX_AVOID) the client's earlier attempts at this
   * task failed on, silent or gone: the allocator picks among the others.
   */
  "task.place": { task: Task; client: ClientRef; avoid?: string[] };
  /**
   * Where to run a task, and the ticket for it. `announce: true` (a master in grant mode) means
   * the server has not been told of the ticket: the receiver (a slave) announces it with
   * `task.expect` before the task is run.
   */
  "task.placed": { taskId: string; serverId: string; serverUrl: string; ticket: string; announce?: boolean };
  "task.expect": { taskId: string; key: string; ticket: string; client: ClientRef; expiresAt: number };
  "task.expected": { load: number; version: [number, number] };
  /**
   * Run a task the ticket admits. `deadline` (on this host's clock; the time left on the wire) bounds the run: the
   * handler's abort signal fires then and the answer is TIMEOUT; `attempt` counts the client's tries.
   * `client`: the client a proxying slave runs it for (heeded only from a slave).
   */
  "task.run": { taskId: string; key: string; app: string; ticket: string; payload: unknown; deadline?: number; attempt?: number; client?: string };
  /** Client to the server running its task: stop it (a notice; the run is answered CANCELLED). Only the connection that sent the run may cancel it. */
  "task.cancel": { taskId: string; ticket: string };
  "task.result": { taskId: string; serverId: string; result: unknown; cached: boolean };
  /** `relay`: the server reports to this allocator alone (registered mode), which passes it on to its peers. */
  "server.report": { server: ServerReport; relay?: boolean };
  /**
   * A periodic report that changes only the load (a notice): everything else stands as the last
   * full report this connection had acknowledged. It refreshes the entry as a report does.
   */
  "server.load": { id: string; load: number; version: [number, number]; relay?: boolean };
  "status.get": Record<string, never>;
  /**
   * Sets attributes of an entry: of the app server itself (`table: "server"`, sent to that
   * server; `power` and `capacity` change its own figures), or of a client, user or task type
   * (sent to a tier-2 or a master, which spreads the entry to its peers).
   */
  "attrs.set": { table: AttrTable; id: string; attrs: Attrs };
  /** Removes attributes of an entry, where `attrs.set` would set them; a built-in field cannot be removed. */
  "attrs.unset": { table: AttrTable; id: string; keys: string[] };
  /**
   * Allocator to allocator of one set (tier-2s, or masters): server entries (a full table when
   * a peer connects, then changes); masters add their slaves' entries.
   */
  "peer.sync": { servers: ServerReport[]; tables?: AttrTables; slaves?: ServerReport[] };
  /**
   * Allocator to allocator of one set: where clients' keys were placed, each for `ttlMs` more
   * (a remaining duration, not a time: hosts' clocks differ), so a repeat of a key placed by a
   * peer goes to the same server. At most 1000 entries per message.
   */
  "peer.keys": { keys: KeyPlacementWire[] };
  status: StatusBody;
  /**
   * A dry run of one placement at a tier-2 or a master (the server a slave would be given):
   * the task as `task.place` carries it, matched with the stored attributes of `client` (the
   * sender itself when absent, and always for a verified client). Reserves nothing.
   */
  "placement.explain": { task: Task; client?: string };
  explanation: Explanation;
  /**
   * Drain app server `id`: it stops taking new runs (`DRAINING`), lets its running tasks finish,
   * leaves its allocators and exits. Sent by an operator to a tier-2 or a master (which relays it
   * to the server) or to the app server itself. Answered `ack` once draining has started.
   */
  "server.drain": { id: string };
  /**
   * App server to each allocator it reports to, once drained: drop my entry (it is removed, not
   * marked dead). Only on the connection it registered on. Answered `ack`.
   */
  "server.leave": { id: string };
  /**
   * Place several tasks of one client at once (a client sends one when several tasks wait in one
   * event-loop turn; it never waits for more). At most MAX_BATCH_TASKS tasks and MAX_BATCH_BYTES
   * of body; each task is matched and reserved on its own. Answered `task.placedBatch`, one
   * answer per task in the same order. `client` is the batch's one client (stamped by the first hop).
   */
  "task.placeBatch": { tasks: Array<BatchTask | BadBatchTask>; client: ClientRef };
  /** The answers to a `task.placeBatch`, in its order: a placement, or a typed error, per task. */
  "task.placedBatch": { results: Array<PlacedOne | RefusedOne> };
  /** A tier-2's announcements to one server of the tickets of one batch. Answered `task.expectedBatch`. */
  "task.expectBatch": { expects: Array<Bodies["task.expect"]> };
  /** The server's answer to a `task.expectBatch`: its load after it, and the expects it refused (by their index in the batch). */
  "task.expectedBatch": { load: number; version: [number, number]; refused?: Array<{ at: number; error: WireError }> };
  /**
   * Client to a tier-2 (through its entry): up to `slots` slots on one or more servers for tasks of
   * `class`, for `ttlMs`. `renew`: leases of this class the client holds, to extend (a tier-2
   * that no longer holds one grants afresh). Answered `lease.granted`, or NO_SERVER with the reason.
   */
  "lease.request": { class: TaskClass; slots: number; ttlMs: number; client: ClientRef; renew?: string[] };
  /** The leases a `lease.request` got (renewed ones first): at least one, and at most `slots` slots in all. */
  "lease.granted": { leases: LeaseGrant[] };
  /** Tier-2 to a server: hold `slots` slots for this lease until `expiresAt` (again, to renew). Answered `task.expected`. */
  "lease.grant": { leaseId: string; client: ClientRef; slots: number; ticket: string; expiresAt: number };
  /** Tier-2 to a server: the lease no longer holds (the server no longer fits its class, or the client released it). Answered `ack`. */
  "lease.revoke": { leaseId: string };
  /** Client to a tier-2: it has done with these leases (their slots go back). Answered `ack`. */
  "lease.release": { leases: string[]; client: ClientRef };
  /** A master's answer to `task.place`: send the task to this slave, with this pick. */
  "slave.picked": { taskId: string; slaveId: string; slaveUrl: string; pick: string };
  /**
   * Client to the slave a master picked: the whole task. Answered `task.result` by a proxying
   * slave, `task.placed` by a directing one (the client then runs it on the server).
   */
  "task.submit": { task: Task; pick: string; avoid?: string[] };
  /**
   * Slave to master: a processing server for this task (payload left out), with the slave's load
   * metrics: its queue, the task's expected cost when known, and the version of that queue figure.
   * `pick` is the master's pick the client brought, so the master that issued it can let go of
   * the place it held for the task. Answered `task.placed`.
   */
  "server.request": { task: Task; client: ClientRef; metrics: SlaveMetrics; pick?: string; avoid?: string[] };
  /**
   * Slave to master: the `server.request`s of one event-loop turn bound for this master (2 to
   * MAX_BATCH_TASKS), each decided on its own as a `server.request` would be. One envelope, one
   * answer and one actor turn instead of one per task. Answered `server.placedBatch`.
   */
  "server.requestBatch": { requests: Array<Bodies["server.request"]> };
  /** A master's answers to a `server.requestBatch`, in its order: a placement (as `task.placed` answers it) or the typed error, per request. */
  "server.placedBatch": { results: Array<Bodies["task.placed"] | RefusedOne> };
}
export type MessageType = keyof Bodies;

/** One frame's unit: version, type, correlation id, the id it answers (0 if none), sender, body. */
export interface Envelope<T extends MessageType = MessageType> {
  v: number;
  type: T;
  id: number;
  re: number;
  from: string;
  body: Bodies[T];
  /**
   * The client a request of CLIENT_REQUESTS is for, in the header: stamped by the first hop (the
   * verified id, the address it saw), carried on by forwarders, so none of them decodes the body.
   */
  client?: ClientRef;
}

/** Every message, discriminated by `type`. */
export type Message = { [K in MessageType]: Envelope<K> }[MessageType];

/**
 * A message a forwarding node passes on without reading its body: the header is checked, the
 * body stays the msgpack bytes it arrived as, to be validated by the node that consumes it.
 */
export interface OpaqueMessage {
  v: number;
  type: MessageType;
  id: number;
  re: number;
  from: string;
  raw: Uint8Array;
  /** The header client, as in Envelope. */
  client?: ClientRef;
}

/** What a node receives: a validated message, or (forwarders only) an opaque one. */
export type Inbound = Message | OpaqueMessage;

export function isOpaque(m: Inbound): m is OpaqueMessage {
  return "raw" in m;
}
