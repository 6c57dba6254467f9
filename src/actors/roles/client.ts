import { AllotError, ErrorCode, MAX_BATCH_BYTES, MAX_BATCH_TASKS, MAX_LEASE_SLOTS, PROTOCOL_VERSION, checkPlainData } from "../../protocol/index.js";
import type { Attrs, Bodies, ClientRef, Constraint, Message, PlacedOne, RefusedOne, Task } from "../../protocol/index.js";
import { MAX_AVOID } from "../../protocol/index.js";
import { DEFAULT_RETRY_BUDGET, RetryBudget, Unreachable } from "../../state/index.js";
import type { RetryBudgetOptions } from "../../state/index.js";
import type { Channel, Peer } from "../../transport/index.js";
import type { Behaviour, RoleContext } from "../runtime/context.js";
import { firstConnected } from "../runtime/forward.js";
import { BoundedMap } from "../runtime/bounded-map.js";
import { PeerPool } from "../runtime/peer-pool.js";
import { ClientLeases, DEFAULT_LEASE_TTL_MS, leaseClassKey, leaseClassOf } from "../runtime/client-leases.js";
import type { LeaseSlotTaken } from "../runtime/client-leases.js";
import { unknownType } from "../runtime/role-actor.js";

/** What a caller asks for; everything but `app` has a default. */
export interface TaskSpec {
  app: string;
  payload?: unknown;
  require?: Constraint[];
  /** Weighted soft constraints: a server meeting one scores its `weight` (default 1) more. */
  prefer?: Array<Constraint & { weight?: number }>;
  clientAttrs?: Attrs;
  prefs?: Attrs;
  /** The user the task runs for; their stored preferences (at the allocators) join `prefs`. */
  user?: string;
  /** Idempotency key; defaults to the task id. Give the same key to make a resubmission return the first result. */
  key?: string;
  /** Total time allowed, retries included. */
  timeoutMs?: number;
  /** Expected cost in work units, when known: a master sends it to a server with that much idle power. */
  cost?: number;
  /**
   * Cancels the task wherever it is: the submit rejects CANCELLED at once (a task still waiting for
   * a server, or backing off, is not placed again), and a server already running it is told to
   * stop (its handler's signal fires), through a proxying slave too.
   */
  signal?: AbortSignal;
  /**
   * Run this task under a lease of up to `lease` slots for its class (its application, hard
   * constraints and preferences): the client asks its tier-2 for the lease once per class, then
   * runs the class's tasks on the leased servers directly, without a placement each, renewing the
   * lease before it expires. While the lease is on its way, exhausted, revoked or expired, a task
   * is placed on its own as without `lease`. A task given its own `key` is always placed on its
   * own (a repeat must reach the server its key went to). A whole number from 1 to 10,000;
   * absent: per-task placement (the default).
   */
  lease?: number;
}

export interface TaskResult {
  taskId: string;
  serverId: string;
  result: unknown;
  /** true when the server returned a stored result for the key instead of running again. */
  cached: boolean;
  attempts: number;
  /** The slave that took the task, in the master/slave design. */
  slaveId?: string;
}

export interface ClientConfig {
  /** Entry points: vips or distributors of one set, or masters; the client rotates through them. */
  entries: readonly string[];
  timeoutMs?: number;
  backoffMinMs?: number;
  backoffMaxMs?: number;
  /**
   * Longest wait for an entry's answer to a placement before asking the next entry (a hung
   * entry must not hold a task to its deadline). Default 5 000 ms.
   */
  entryTimeoutMs?: number;
  attrs?: Attrs;
  /**
   * Failures one task may meet (a member gone, silent or failing) before it fails
   * RETRIES_EXHAUSTED; waiting for capacity (NO_SERVER "all at capacity", OVERLOADED) does not
   * count, the deadline bounds it. Default DEFAULT_MAX_ATTEMPTS (10).
   */
  maxAttempts?: number;
  /**
   * The client's retry budget: retries after failures are at most `ratio` of its tasks plus
   * `minPerSecond`, with `burst` saved up; past it a task fails RETRIES_EXHAUSTED instead of
   * retrying, so an outage does not become a retry storm. Default DEFAULT_RETRY_BUDGET (20 %,
   * 10/s, 100).
   */
  retryBudget?: Partial<RetryBudgetOptions>;
  /**
   * How long a server or slave this client could not reach (its link lost or silent, or a dial
   * that timed out) is avoided by the client's new tasks as well, ms; 0 turns it off. Default
   * DEFAULT_AVOID_UNREACHABLE_MS (5 s). For when the client alone is cut off from a server its
   * allocators still see alive.
   */
  avoidUnreachableMs?: number;
  /** How long a lease is asked for (tasks submitted with `lease`), ms; a tier-2 may grant less. Default 30 000. */
  leaseTtlMs?: number;
}

/** See ClientConfig.avoidUnreachableMs. */
export const DEFAULT_AVOID_UNREACHABLE_MS = 5000;

/** Failures a task may meet before the client gives up on it (see ClientConfig.maxAttempts). */
export const DEFAULT_MAX_ATTEMPTS = 10;

/** What a placement asks to avoid: this task's failures, then members the client could not reach lately (at most MAX_AVOID; a copy). */
function withUnreachable(avoid: readonly string[] | undefined, lately: readonly string[] | undefined): string[] | undefined {
  if (lately === undefined) return avoid === undefined ? undefined : [...avoid];
  const out = avoid === undefined ? [] : [...avoid];
  for (const id of lately) if (out.length < MAX_AVOID && !out.includes(id)) out.push(id);
  return out;
}

/** A refusal that means "no room yet", not a failure: it is waited out with backoff, not counted. */
function isWait(e: AllotError): boolean {
  return e.code === ErrorCode.NO_SERVER || e.code === ErrorCode.OVERLOADED;
}

function exhausted(id: string, why: string, last: AllotError): AllotError {
  return new AllotError(ErrorCode.RETRIES_EXHAUSTED, `task ${id} was not retried: ${why}; last error: ${last.message}`, { cause: last, retryable: false });
}

export interface ClientBehaviour extends Behaviour {
  submit(spec: TaskSpec): Promise<TaskResult>;
  /**
   * `submit` without a promise: `done` is called once, with the result or the error (after
   * `submitWith` has returned, even for a task refused at once). For callers that submit at a
   * high rate: the client then keeps one object per task and no promise chain.
   */
  submitWith(spec: TaskSpec, done: Done): void;
}

/** How a task submitted with `submitWith` ends: an error, or its result. */
export type Done = (err: AllotError | undefined, result: TaskResult | undefined) => void;

function cancelled(signal: AbortSignal): AllotError {
  return new AllotError(ErrorCode.CANCELLED, "the task was cancelled", { cause: signal.reason, retryable: false });
}

/** One submitted task, from its submit until it settles: everything the client keeps for it. */
interface Job {
  readonly task: Task;
  /** The task as placements carry it: its payload travels once, to the server. */
  readonly placement: Task;
  readonly deadline: number;
  readonly signal: AbortSignal | undefined;
  readonly done: Done;
  attempt: number;
  /** Servers and slaves this task failed on: the next placement asks to avoid them (made on the first failure). */
  avoid: string[] | undefined;
  lastError: AllotError | undefined;
  failures: number;
  waits: number;
  /** The member the task is with now: nobody yet (its entry), a slave, a server. */
  at: string | undefined;
  /** The slave that took it (master/slave design). */
  slaveId: string | undefined;
  askedAt: number;
  /** Tells the member running it to stop (set while a run or a slave's submit is out). */
  cancel: (() => void) | undefined;
  /** Cancels the wait before its next attempt. */
  timer: (() => void) | undefined;
  /** Slots of a lease to ask for its class (`TaskSpec.lease`), 0 for none; set to 0 once a run under a lease failed. */
  lease: number;
  /** Its lease class's key, when `lease` is set. */
  classKey: string;
  onAbort: (() => void) | undefined;
  settled: boolean;
}

/** An entry's placements waiting for the end of this turn, to leave as one batch. */
interface EntryBatch {
  /** Whether the entry leads to tier-2s that take batches: it answered a `task.place` with `task.placed`, and never refused a batch. */
  batches: boolean;
  /** It refused a batch: one at a time through it from now on. */
  refused: boolean;
  jobs: Job[];
  avoids: Array<string[] | undefined>;
  /** Estimated encoded bytes of the waiting placements. */
  bytes: number;
  scheduled: boolean;
}

/** What a batch may hold by the client's own estimate: half the limit, for what the estimate misses. */
const BATCH_BYTES = MAX_BATCH_BYTES / 2;

/** An upper bound on a string's msgpack size: UTF-8 takes at most three bytes per UTF-16 unit. */
const strBytes = (s: string): number => 5 + 3 * s.length;

function attrsBytes(a: Attrs): number {
  let n = 5;
  for (const k in a) {
    const v = a[k];
    n += strBytes(k) + (typeof v === "string" ? strBytes(v) : 9);
  }
  return n;
}

function constraintBytes(c: Constraint): number {
  let n = 16 + strBytes(c.key);
  const v = c.value;
  if (Array.isArray(v)) for (const x of v) n += typeof x === "string" ? strBytes(x) : 9;
  else n += typeof v === "string" ? strBytes(v) : 9;
  return n;
}

/** An upper bound on what one placement adds to a batch's body, without encoding it. */
function placementBytes(t: Task, avoid: readonly string[] | undefined): number {
  let n = 128 + strBytes(t.id) + strBytes(t.key) + strBytes(t.app) + (t.user === undefined ? 0 : strBytes(t.user));
  for (const c of t.require) n += constraintBytes(c);
  if (t.prefer) for (const c of t.prefer) n += constraintBytes(c) + 9;
  n += attrsBytes(t.clientAttrs) + attrsBytes(t.prefs);
  if (avoid) for (const a of avoid) n += strBytes(a);
  return n;
}

/** Recent keys whose entry a client remembers (see keyEntries): as many as an allocator remembers per client by default. */
const KEY_ENTRIES = 10_000;

/**
 * The client: places a task through an entry, then runs it on the chosen server over a direct,
 * pooled connection. When the entry is a master, its answer names a slave instead: the task goes
 * to that slave, which either relays the result (proxy) or names the server to run it on
 * (direct). A member that fails (its connection lost, or silent: the channel's detector closes
 * it) costs the task one attempt and the task is placed again at once, through the next entry,
 * telling the allocator which servers (and slaves) to avoid; the same key goes with it, so a
 * server that already ran it returns the stored result. The first answer settles the task, once.
 * Waits for capacity (no room, overloaded) back off until the deadline. Retries are bounded per
 * task (maxAttempts) and per client (retryBudget).
 */
/**
 * The lease class key of a task: the app alone for the common task that names nothing else to
 * match (the client's own attributes are the same for all its tasks), else the full class's key.
 */
function classKeyOf(spec: TaskSpec, task: Task): string {
  const plain = task.require.length === 0 && task.prefer === undefined && task.user === undefined && task.cost === undefined && spec.clientAttrs === undefined && spec.prefs === undefined;
  return plain ? `\u0000${task.app}` : leaseClassKey(leaseClassOf(task));
}

export function createClient(ctx: RoleContext, config: ClientConfig): ClientBehaviour {
  if (config.entries.length === 0) throw new TypeError("a client needs at least one entry URL");
  const entries: Peer[] = config.entries.map((u) => ctx.connect(u));
  const batchOf = new Map<Peer, EntryBatch>(entries.map((p) => [p, { batches: false, refused: false, jobs: [], avoids: [], bytes: 0, scheduled: false }]));
  const servers = new PeerPool(ctx);
  const slaves = new PeerPool(ctx);
  const timeoutMs = config.timeoutMs ?? 30_000;
  const entryTimeoutMs = config.entryTimeoutMs ?? 5000;
  const backoffMin = config.backoffMinMs ?? 20;
  const backoffMax = config.backoffMaxMs ?? 1000;
  const maxAttempts = config.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  if (!Number.isSafeInteger(maxAttempts) || maxAttempts < 1) throw new RangeError(`maxAttempts must be a whole number >= 1, got ${maxAttempts}`);
  const budget = new RetryBudget({ ...DEFAULT_RETRY_BUDGET, ...config.retryBudget }, ctx.now());
  const unreachable = new Unreachable(config.avoidUnreachableMs ?? DEFAULT_AVOID_UNREACHABLE_MS, MAX_AVOID);
  // The client's own reference, as placements name it: the first hop stamps the verified one.
  const self: ClientRef = { id: ctx.id, addr: "" };
  let next = 0;
  let seq = 0;
  let replaced = 0;
  const leaseTtlMs = config.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS;
  if (!Number.isSafeInteger(leaseTtlMs) || leaseTtlMs < 1) throw new RangeError(`leaseTtlMs must be a whole number of ms >= 1, got ${leaseTtlMs}`);
  const leases = new ClientLeases(ctx, { client: self, entry: () => nextEntry(), timeoutMs: entryTimeoutMs });
  let leasedRuns = 0;
  let leaseFallbacks = 0;
  let leaseExpired = 0;
  let batchesSent = 0;
  let batchedTasks = 0;
  const bySlave = new Map<string, number>();
  const prefix = `${ctx.id}-${ctx.incarnation.toString(36)}`;

  // Round robin over the entries, skipping those whose connection is down while one is up: a
  // dead entry would only fail at once, and cost the task a backoff.
  function nextEntry(): Peer {
    const at = firstConnected(entries, next);
    next = (at + 1) % entries.length;
    return entries[at] as Peer;
  }

  /**
   * The entry each recent key of this client was last placed through (the last KEY_ENTRIES keys).
   * A submit of such a key places its first attempt through that same entry (while it is
   * connected), not the next one of the round robin: members of a set share their key placements
   * only after the fact (peer.keys), so a repeat placed through another tier-2 before the news
   * reached it went to another server and ran again, both servers healthy — two concurrent
   * submits of one key, or a resubmission just after the first answer (found by
   * test/testing/invariants.test.ts, "(j)" and "(k)"). Through one entry, the repeat finds the
   * first placement in that member's key memory and goes to the same server, whose single flight
   * or stored result answers it. Retries still rotate (a failed entry is not asked again first).
   */
  const keyEntries = new BoundedMap<string, Peer>(KEY_ENTRIES);

  function entryFor(key: string, attempt: number): Peer {
    const pinned = keyEntries.get(key);
    const entry = attempt === 1 && pinned?.current !== undefined ? pinned : nextEntry();
    if (entries.length > 1) keyEntries.set(key, entry);
    return entry;
  }

  function submitWith(spec: TaskSpec, done: Done): void {
    try {
      checkPlainData(spec.payload ?? null);
    } catch (err) {
      const e = new AllotError(ErrorCode.INVALID, err instanceof Error ? err.message : String(err), { cause: err });
      queueMicrotask(() => done(e, undefined));
      return;
    }
    const lease = spec.lease ?? 0;
    if (spec.lease !== undefined && !(Number.isSafeInteger(lease) && lease >= 1 && lease <= MAX_LEASE_SLOTS)) {
      const e = new AllotError(ErrorCode.INVALID, `lease must be a whole number of slots from 1 to ${MAX_LEASE_SLOTS}, got ${String(spec.lease)}`, { retryable: false });
      queueMicrotask(() => done(e, undefined));
      return;
    }
    const id = `${prefix}-${(++seq).toString(36)}`;
    const deadline = ctx.now() + (spec.timeoutMs ?? timeoutMs);
    const task: Task = {
      id,
      key: spec.key ?? id,
      ...(spec.user !== undefined ? { user: spec.user } : {}),
      app: spec.app,
      ...(spec.cost !== undefined ? { cost: spec.cost } : {}),
      deadline,
      require: spec.require ?? [],
      ...(spec.prefer !== undefined && spec.prefer.length > 0 ? { prefer: spec.prefer.map((p) => ({ key: p.key, op: p.op, value: p.value, weight: p.weight ?? 1 })) } : {}),
      clientAttrs: { ...config.attrs, ...spec.clientAttrs },
      prefs: spec.prefs ?? {},
      payload: spec.payload ?? null,
    };
    const job: Job = {
      task,
      placement: { ...task, payload: null },
      deadline,
      signal: spec.signal,
      done,
      attempt: 0,
      avoid: undefined,
      lastError: undefined,
      failures: 0,
      waits: 0,
      at: undefined,
      slaveId: undefined,
      askedAt: 0,
      cancel: undefined,
      timer: undefined,
      onAbort: undefined,
      settled: false,
      // A task with a key of its own may be a repeat: it goes where the allocators' key memory
      // sends it, so it never runs beside its first run on another leased server.
      lease: spec.key === undefined ? lease : 0,
      classKey: lease > 0 && spec.key === undefined ? classKeyOf(spec, task) : "",
    };
    budget.request(ctx.now());
    const signal = spec.signal;
    if (signal) {
      if (signal.aborted) {
        job.settled = true;
        queueMicrotask(() => done(cancelled(signal), undefined));
        return;
      }
      // The run (or the slave's submit) is told to stop; a placement's late answer is ignored.
      job.onAbort = () => {
        job.cancel?.();
        settle(job, cancelled(signal), undefined);
      };
      signal.addEventListener("abort", job.onAbort, { once: true });
    }
    attempt(job);
  }

  /** The job's next attempt: placed through an entry (batched with this turn's others where it can be). */
  function attempt(job: Job): void {
    job.timer = undefined;
    if (job.settled) return;
    const remaining = job.deadline - ctx.now();
    if (remaining <= 0) return settle(job, new AllotError(ErrorCode.TIMEOUT, `task ${job.task.id} did not complete before its deadline; last error: ${job.lastError?.message ?? "none"}`, { cause: job.lastError, retryable: false }), undefined);
    job.attempt++;
    job.at = undefined;
    job.cancel = undefined;
    if (job.lease > 0) {
      const slot = leases.take(job.classKey, () => ({ class: leaseClassOf(job.task), slots: job.lease, ttlMs: leaseTtlMs }));
      if (slot !== undefined) return runLeased(job, slot);
      leaseFallbacks++;
    }
    const entry = entryFor(job.task.key, job.attempt);
    const asked = withUnreachable(job.avoid, unreachable.active(ctx.now()));
    job.askedAt = ctx.now();
    const b = batchOf.get(entry) as EntryBatch;
    // A task whose deadline is nearer than an entry's timeout goes alone: a batch waits up to that timeout.
    if (!b.batches || remaining < entryTimeoutMs) return placeOne(entry, job, asked);
    const bytes = placementBytes(job.placement, asked);
    if (bytes > BATCH_BYTES) return placeOne(entry, job, asked);
    if (b.bytes + bytes > BATCH_BYTES || b.jobs.length >= MAX_BATCH_TASKS) flush(entry, b);
    b.jobs.push(job);
    b.avoids.push(asked);
    b.bytes += bytes;
    if (!b.scheduled) {
      b.scheduled = true;
      // After this turn, with every task submitted in it; it never waits for more.
      ctx.defer(() => flush(entry, b));
    }
  }

  function placeOne(entry: Peer, job: Job, asked: string[] | undefined): void {
    const body = asked ? { task: job.placement, client: self, avoid: asked } : { task: job.placement, client: self };
    entry.call("task.place", body, Math.min(job.deadline - ctx.now(), entryTimeoutMs), (err, m) => {
      if (err) return failed(job, err);
      const placed = m as Message;
      const b = batchOf.get(entry) as EntryBatch;
      if (placed.type === "task.placed" && !b.refused) b.batches = true;
      onPlaced(job, placed);
    });
  }

  /** Sends the entry's waiting placements: one alone as a `task.place`, several as one `task.placeBatch`. */
  function flush(entry: Peer, b: EntryBatch): void {
    b.scheduled = false;
    const jobs = b.jobs;
    const avoids = b.avoids;
    if (jobs.length === 0) return;
    b.jobs = [];
    b.avoids = [];
    b.bytes = 0;
    if (jobs.length === 1) placeOne(entry, jobs[0] as Job, avoids[0]);
    else {
      const tasks = jobs.map((j, i) => {
        const avoid = avoids[i];
        return avoid ? { task: j.placement, avoid } : { task: j.placement };
      });
      let longest = 0;
      for (const j of jobs) longest = Math.max(longest, j.deadline - ctx.now());
      batchesSent++;
      batchedTasks += jobs.length;
      entry.call("task.placeBatch", { tasks, client: self }, Math.min(longest, entryTimeoutMs), (err, m) => onPlacedBatch(entry, b, jobs, avoids, err, m));
    }
    // Written now rather than at the end of the next turn: the batch already waited for this one.
    entry.current?.flushNow();
  }

  function onPlacedBatch(entry: Peer, b: EntryBatch, jobs: Job[], avoids: Array<string[] | undefined>, err: AllotError | undefined, m: Message | undefined): void {
    if (err?.code === ErrorCode.UNKNOWN_TYPE) {
      // A set that does not take batches (an older tier-2 or forwarder): one at a time from now on, these too.
      b.batches = false;
      b.refused = true;
      ctx.log.debug({ entry: entry.url, err: err.message }, "entry does not take batched placements");
      jobs.forEach((j, i) => j.settled || placeOne(entry, j, avoids[i]));
      return;
    }
    if (err) return jobs.forEach((j) => failed(j, err));
    const results = m?.type === "task.placedBatch" ? m.body.results : undefined;
    if (results === undefined || results.length !== jobs.length) {
      const bad = new AllotError(ErrorCode.INVALID, `entry answered ${m?.type ?? "nothing"} with ${results?.length ?? 0} results to a batch of ${jobs.length}`);
      return jobs.forEach((j) => failed(j, bad));
    }
    for (let i = 0; i < jobs.length; i++) {
      const job = jobs[i] as Job;
      const r = results[i] as PlacedOne | RefusedOne;
      if (r.taskId !== job.task.id) failed(job, new AllotError(ErrorCode.INVALID, `a batch's answer ${i} names task ${r.taskId}, not ${job.task.id}`));
      else if ("error" in r) failed(job, AllotError.fromWire(r.error));
      else onPlaced(job, { v: PROTOCOL_VERSION, type: "task.placed", id: 0, re: 0, from: "", body: r });
    }
  }

  function onPlaced(job: Job, placed: Message): void {
    if (job.settled) return;
    ctx.metrics.observe("allot_placement_seconds", (ctx.now() - job.askedAt) / 1000);
    if (placed.type === "task.placed") return run(job, placed.body);
    if (placed.type === "slave.picked") return submitToSlave(job, placed.body);
    failed(job, new AllotError(ErrorCode.INVALID, `entry answered ${placed.type} to task.place`));
  }

  function run(job: Job, placed: Bodies["task.placed"]): void {
    const { serverId, serverUrl, ticket } = placed;
    const task = job.task;
    job.at = serverId;
    const server = servers.get(serverUrl);
    if (job.signal) job.cancel = () => server.current?.notify("task.cancel", { taskId: task.id, ticket });
    const body = { taskId: task.id, key: task.key, app: task.app, ticket, payload: task.payload, deadline: job.deadline, attempt: job.attempt };
    server.call("task.run", body, Math.max(1, job.deadline - ctx.now()), (err, m) => {
      if (job.settled) return;
      if (err) return failed(job, err);
      const res = m as Message;
      if (res.type !== "task.result") return failed(job, new AllotError(ErrorCode.INVALID, `server ${serverId} answered ${res.type} to task.run`));
      done(job, res.body);
    });
  }

  /**
   * A run under a lease: straight to the leased server with the lease's ticket. A lease the server
   * no longer holds (LEASE_EXPIRED) is dropped and the task goes again at once, not counted as a
   * failure; any other failure counts as it would without a lease, and the task's later attempts
   * are placed on their own.
   */
  function runLeased(job: Job, slot: LeaseSlotTaken): void {
    const task = job.task;
    job.at = slot.serverId;
    leasedRuns++;
    const server = servers.get(slot.serverUrl);
    if (job.signal) job.cancel = () => server.current?.notify("task.cancel", { taskId: task.id, ticket: slot.ticket });
    const body = { taskId: task.id, key: task.key, app: task.app, ticket: slot.ticket, payload: task.payload, deadline: job.deadline, attempt: job.attempt };
    server.call("task.run", body, Math.max(1, job.deadline - ctx.now()), (err, m) => {
      leases.done(slot);
      if (job.settled) return;
      if (err) {
        if (err.code === ErrorCode.LEASE_EXPIRED) leaseExpired++;
        if (err.code === ErrorCode.LEASE_EXPIRED || err.code === ErrorCode.UNREACHABLE) leases.revoked(slot.leaseId);
        if (err.code === ErrorCode.LEASE_EXPIRED || err.code === ErrorCode.OVERLOADED) {
          // Not the task's failure: the lease, not the server, is gone or full. Placed on its own, now.
          job.attempt--;
          if (err.code === ErrorCode.OVERLOADED) job.lease = 0;
          job.lastError = err;
          return attempt(job);
        }
        job.lease = 0;
        return failed(job, err);
      }
      const res = m as Message;
      if (res.type !== "task.result") return failed(job, new AllotError(ErrorCode.INVALID, `server ${slot.serverId} answered ${res.type} to task.run`));
      done(job, res.body);
    });
  }

  /** A master picked a slave: the task (with its payload) goes there. */
  function submitToSlave(job: Job, picked: Bodies["slave.picked"]): void {
    const { slaveId, slaveUrl, pick } = picked;
    const task = job.task;
    job.at = slaveId;
    const slave = slaves.get(slaveUrl);
    // A proxying slave runs the task for us: a cancel goes to it, and it tells the server.
    if (job.signal) job.cancel = () => slave.current?.notify("task.cancel", { taskId: task.id, ticket: pick });
    const asked = withUnreachable(job.avoid, unreachable.active(ctx.now()));
    slave.call("task.submit", asked ? { task, pick, avoid: asked } : { task, pick }, Math.max(1, job.deadline - ctx.now()), (err, m) => {
      if (job.settled) return;
      if (err) return failed(job, err);
      const answer = m as Message;
      job.slaveId = slaveId;
      if (answer.type === "task.placed") return run(job, answer.body);
      if (answer.type === "task.result") return done(job, answer.body);
      failed(job, new AllotError(ErrorCode.INVALID, `slave ${slaveId} answered ${answer.type} to task.submit`));
    });
  }

  function done(job: Job, r: Bodies["task.result"]): void {
    const result: TaskResult = { taskId: job.task.id, serverId: r.serverId, result: r.result, cached: r.cached, attempts: job.attempt };
    if (job.slaveId !== undefined) {
      result.slaveId = job.slaveId;
      bySlave.set(job.slaveId, (bySlave.get(job.slaveId) ?? 0) + 1);
    }
    settle(job, undefined, result);
  }

  /**
   * An attempt failed. A wait for capacity backs off (not counted); a failure avoids the member it
   * came from and goes again at once the first time, later after a backoff, within the task's
   * attempts and the client's budget; anything not retryable settles the task.
   */
  function failed(job: Job, e: AllotError): void {
    if (job.settled) return;
    job.cancel = undefined;
    job.lastError = e;
    if (!e.retryable) return settle(job, e, undefined);
    const signal = job.signal;
    if (signal?.aborted) return settle(job, cancelled(signal), undefined);
    let wait: number;
    if (isWait(e)) wait = backoff(++job.waits);
    else {
      job.failures++;
      const at = job.at;
      if (at !== undefined && e.code === ErrorCode.UNREACHABLE) unreachable.mark(at, ctx.now());
      if (at !== undefined && job.avoid?.includes(at) !== true) {
        job.avoid ??= [];
        if (job.avoid.length >= MAX_AVOID) job.avoid.shift();
        job.avoid.push(at);
      }
      if (job.failures >= maxAttempts) return settle(job, exhausted(job.task.id, `it failed ${job.failures} times (maxAttempts ${maxAttempts})`, e), undefined);
      if (!budget.tryRetry(ctx.now())) return settle(job, exhausted(job.task.id, "the client's retry budget is spent", e), undefined);
      replaced++;
      ctx.log.debug({ task: job.task.id, key: job.task.key, at, avoid: job.avoid, err: e.message }, "placing the task again");
      wait = job.failures === 1 ? 0 : backoff(job.failures - 1);
    }
    job.timer = ctx.after(Math.min(Math.max(0, job.deadline - ctx.now()), wait), () => attempt(job));
  }

  function settle(job: Job, err: AllotError | undefined, result: TaskResult | undefined): void {
    if (job.settled) return;
    job.settled = true;
    job.cancel = undefined;
    job.timer?.();
    job.timer = undefined;
    if (job.onAbort) job.signal?.removeEventListener("abort", job.onAbort);
    try {
      job.done(err, result);
    } catch (thrown) {
      // The caller's callback: its throw must not reach the connection that delivered the answer.
      ctx.log.error({ task: job.task.id, err: thrown instanceof Error ? thrown.message : String(thrown) }, "a submit's callback threw");
    }
  }

  /** Jittered exponential backoff for the n-th wait of a task (n >= 1). */
  function backoff(n: number): number {
    const ceiling = Math.min(backoffMax, backoffMin * 2 ** Math.min(n - 1, 16));
    return ceiling / 2 + (ctx.random() * ceiling) / 2;
  }

  return {
    submit: (spec) => new Promise<TaskResult>((resolve, reject) => submitWith(spec, (err, r) => (err ? reject(err) : resolve(r as TaskResult)))),
    submitWith,
    handle(m: Message, ch: Channel) {
      ch.replyError(m, unknownType("client", m));
    },
    stats: () => ({
      submitted: seq,
      servers: servers.size,
      slaves: slaves.size,
      bySlave: Object.fromEntries(bySlave),
      retries: { replaced, granted: budget.granted, refused: budget.refused },
      batches: { sent: batchesSent, tasks: batchedTasks },
      leases: { ...leases.stats(), runs: leasedRuns, fallbacks: leaseFallbacks, expired: leaseExpired },
    }),
    stop: () => {
      // Their slots go back to the tier-2s at once, not when the leases expire.
      leases.release();
      for (const p of entries) p.close();
      servers.close();
      slaves.close();
    },
  };
}
