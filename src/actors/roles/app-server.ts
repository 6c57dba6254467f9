import { AllotError, ErrorCode, applyServerAttrs, isReservedAttr } from "../../protocol/index.js";
import type { Attrs, Bodies, Message, Role, RunningTaskRow, StatusBody } from "../../protocol/index.js";
import type { Channel } from "../../transport/index.js";
import { BoundedMap } from "../runtime/bounded-map.js";
import type { Behaviour, RoleContext } from "../runtime/context.js";
import { linkStatus } from "../runtime/link-status.js";
import type { Handler } from "../runtime/handlers.js";
import { describeThrown } from "../runtime/handler-boundary.js";
import type { Outcome } from "../runtime/handler-boundary.js";
import type { HandlerRunner } from "../runtime/handler-runner.js";
import { LazyAbort, RunContext } from "../runtime/run-context.js";
import { ReplayWindows } from "../runtime/replay-window.js";
import { RunHealth } from "../runtime/run-health.js";
import { TICKET_SKEW_MS, checkLeaseTicket, checkTicket, isLeaseTicket, leaseIdOf, newTicketKey, parseTicket } from "../runtime/ticket.js";
import { LeaseSlots } from "../runtime/lease-slots.js";
import type { LeaseSlot } from "../runtime/lease-slots.js";
import { DEFAULT_REPORT, createReporter, validateReportModes } from "../runtime/reporter.js";
import type { ReportModes } from "../runtime/reporter.js";
import { unknownType } from "../runtime/role-actor.js";

export type { ReportModes };
export { DEFAULT_REPORT };

export interface AppServerConfig {
  apps: readonly string[];
  /** Tasks run at once, counting the ones expected but not yet started. */
  capacity: number;
  /** Relative computing power (a power-4 server is worth four power-1 servers). */
  power: number;
  /** Free-form attributes matched against task constraints (region, gpu, …). */
  attrs?: Attrs;
  /** Distributors to register with and report load to. */
  join: readonly string[];
  /**
   * Handlers by application, run inline on the event loop; or the path of an ES or CommonJS
   * module whose named exports are handlers by application (and optionally `setup`/`teardown`),
   * run on worker threads. Applications without one use the built-in of that name (echo, sleep, hash).
   */
  handlers?: Readonly<Record<string, Handler>> | string;
  /** Worker threads for a handler module and the CPU-bound built-in `hash`; 0 runs them inline. Default: the number of cores. */
  workers?: number;
  /** The longest a run may take whatever deadline its client asks for, ms. Default 600 000 (10 min). */
  maxRunMs?: number;
  /** The longest an announced ticket holds a slot while its run has not come, whatever expiry it names, ms. Default 60 000. */
  maxTicketMs?: number;
  /** `broadcast` (default): report to every distributor in `join`; `registered`: to one, which relays. */
  mode?: "broadcast" | "registered";
  /** When to report: on load changes (`event`), every `periodicMs` (0: never), or both. Default both, 1000 ms. */
  report?: ReportModes;
  /**
   * How long a drain waits for the running tasks to finish before it stops them as a plain stop
   * does (answered `DRAINING`, aborted), ms. Default 30 000.
   */
  drainTimeoutMs?: number;
}

/** See AppServerConfig.drainTimeoutMs. */
export const DEFAULT_DRAIN_TIMEOUT_MS = 30_000;

interface Expected {
  taskId: string;
  key: string;
  /** The client the ticket was issued for: stored results are kept per client and key. */
  client: string;
  expiresAt: number;
  /** The ticket as its announcement checked it: a run that matches needs no second MAC. */
  checked: { issuer: string; seq: number; expiresAt: number };
}

/** Results are stored by client and key: a key is a client's own, not a way to read another's result. */
const cacheKey = (client: string, key: string): string => `${client}\u0000${key}`;


type Run = Extract<Message, { type: "task.run" }>;

/** A run holding a slot: from its start until its handler has really stopped. */
interface Running {
  taskId: string;
  app: string;
  /** Where its result is stored: (client, key). */
  stored: string;
  startedAt: number;
  deadline: number;
  /** Its deadline is this server's limit, sooner than the client's own. */
  capped: boolean;
  /** The run's answer has gone (its result, or TIMEOUT / DRAINING before the handler stopped). */
  answered: boolean;
  abort: LazyAbort;
  /** Runs of the same (client, key) that arrived while this one ran: they share its outcome (single flight). */
  waiters: Array<[Run, Channel]> | undefined;
  /** Why this server stopped it before it ended (its deadline, its client's cancel, draining), if it did. */
  stopped: AllotError | undefined;
  /** Set only for a run still going after its handler returned: a synchronous one needs none. */
  /** Cancels the deadline's timer. */
  timer: (() => void) | undefined;
  /** The lease it runs under, whose slot it holds; undefined for a run of its own ticket. */
  lease: LeaseSlot | undefined;
  m: Run;
  ch: Channel;
}

/** Runs of one key waiting for its first run, past which a duplicate is answered OVERLOADED. */
export const MAX_WAITERS = 1024;

export function validateAppServerConfig(c: AppServerConfig): void {
  if (c.apps.length === 0) throw new TypeError("an app server needs at least one application (--apps)");
  if (!Number.isInteger(c.capacity) || c.capacity < 1) throw new RangeError(`capacity must be an integer >= 1, got ${c.capacity}`);
  if (!(c.power > 0) || !Number.isFinite(c.power)) throw new RangeError(`power must be a positive number, got ${c.power}`);
  if (c.maxRunMs !== undefined && !(c.maxRunMs >= 1)) throw new RangeError(`maxRunMs must be at least 1, got ${c.maxRunMs}`);
  if (c.drainTimeoutMs !== undefined && !(Number.isInteger(c.drainTimeoutMs) && c.drainTimeoutMs >= 0)) throw new RangeError(`drainTimeoutMs must be a whole number of ms >= 0, got ${c.drainTimeoutMs}`);
  if (c.maxTicketMs !== undefined && !(c.maxTicketMs >= 1)) throw new RangeError(`maxTicketMs must be at least 1, got ${c.maxTicketMs}`);
  const reserved = Object.keys(c.attrs ?? {}).find(isReservedAttr);
  if (reserved !== undefined) throw new TypeError(`attribute ${reserved} is a built-in field, not an attribute (power and capacity have settings of their own)`);
  validateReportModes(c.report ?? DEFAULT_REPORT, "an app server");
}

/**
 * An application server: runs tasks of the applications it offers, but only for a client holding
 * a ticket a distributor issued for that task, and never more than its capacity at once. It
 * registers with its distributors and reports its load on every task start and end.
 */
export interface AppServerBehaviour extends Behaviour {
  /** Changes attributes at run time (call inside the actor): `power` and `capacity` change the server's own; `unset` removes attributes. */
  setAttrs(attrs: Attrs, unset?: readonly string[]): void;
  /**
   * Starts draining (call inside the actor; a second call joins the first): allocators are told
   * at once (a report saying `draining`), new runs and announcements are refused `DRAINING`
   * (retryable: clients place them elsewhere), running tasks finish — stopped as by `stop` past
   * `drainTimeoutMs` — and then the server leaves every allocator. Resolves once it has left.
   */
  drain(): Promise<void>;
  /** Resolves once a drain, however started (`drain`, a `server.drain` message), has finished. */
  readonly drained: Promise<void>;
}

export function createAppServer(ctx: RoleContext, config: AppServerConfig, runner: HandlerRunner): AppServerBehaviour {
  validateAppServerConfig(config);
  const apps = new Set(config.apps);
  const maxRunMs = config.maxRunMs ?? 600_000;
  const maxTicketMs = config.maxTicketMs ?? 60_000;
  const drainTimeoutMs = config.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS;
  // Draining: set once, never cleared (a drained server leaves and exits; it comes back as a new incarnation).
  let draining = false;
  let leaving = false;
  let drainStarted: Promise<void> | undefined;
  let cancelDrainTimer: (() => void) | undefined;
  let resolveDrained: () => void = () => {};
  const drained = new Promise<void>((resolve) => (resolveDrained = resolve));
  const reportModes = config.report ?? DEFAULT_REPORT;
  // Attributes can change at run time (attrs.set); every report carries the current set.
  let attrs: Attrs = { ...config.attrs };
  const expected = new Map<string, Expected>();
  // Tickets whose expect was refused: their run is answered OVERLOADED so the client places again.
  const refused = new BoundedMap<string, true>(10_000);
  const results = new BoundedMap<string, unknown>(10_000);
  const runs = new Map<string, Running>();
  // The run of each (client, key) in flight on this server: a duplicate waits for it, never runs beside it.
  const flights = new Map<string, Running>();
  let completed = 0;
  /** Runs not started because their requester had closed the link before they were handled. */
  let abandoned = 0;
  let shared = 0;
  let escaped = 0;
  let timedOut = 0;
  // No expected ticket expires before this (a lower bound): the sweep skips the walk over all of
  // them until then, instead of walking every expected ticket four times a second.
  let nextExpiry = Infinity;

  // Leases this server holds for clients' classes of tasks (lease-slots.ts).
  const leases = new LeaseSlots();
  // A slot is held from a run's start until its handler has stopped, answered or not; a live
  // lease holds its slots whether runs use them or not (a run under it is one of them).
  const load = (): number => runs.size + expected.size + leases.unused();
  // Self-checking tickets: allocators sign what they issue for this server with this key (new each
  // start), and the server counts each issuer's tickets, so it runs one without waiting for its
  // expect, and never twice, with no set of used tickets to keep.
  const ticketKey = newTicketKey(ctx.entropy);
  const replays = new ReplayWindows();
  // Runs failed in a row (not by the handler's own error), in every report: allocators eject on it.
  const health = new RunHealth();
  const reporter = createReporter(ctx, {
    join: config.join,
    mode: config.mode ?? "broadcast",
    modes: reportModes,
    load,
    build: (version) => ({
      id: ctx.id,
      url: ctx.url,
      apps: [...config.apps],
      capacity: config.capacity,
      power: config.power,
      load: load(),
      attrs,
      version,
      ...(reportModes.periodicMs > 0 ? { periodMs: reportModes.periodicMs } : {}),
      ticketKey,
      ...(health.failures > 0 ? { failures: health.failures } : {}),
      ...(draining ? { draining: true } : {}),
    }),
  });
  const changed = (): void => reporter.changed();
  // The answer tells the allocator the load: this turn's event report need not go to it as well.
  const carriedLoad = (ch: Channel): { load: number; version: [number, number] } => {
    const body = { load: load(), version: reporter.version() };
    reporter.carried(ch, body);
    return body;
  };

  /**
   * One announced ticket, alone or in a batch: undefined when it is accepted (a slot held, or none
   * needed), the error to answer when it is refused.
   */
  function expectOne(b: Bodies["task.expect"], by: string): AllotError | undefined {
    // An announcement holds a slot: only for a ticket this server's allocators signed, for this task and client.
    const signed = checkTicket(ticketKey, b.ticket, { taskId: b.taskId, key: b.key, serverId: ctx.id, client: b.client.id });
    if (!signed) return new AllotError(ErrorCode.UNAUTHORIZED, "not a ticket of this server's allocators for this task and client");
    if (draining) return drainingError();
    if (refused.has(b.ticket)) return new AllotError(ErrorCode.OVERLOADED, `server ${ctx.id} refused this ticket's run: at capacity`);
    // Its run came first and has its slot already: the expect holds nothing more.
    if (replays.used(signed.issuer, signed.seq)) return undefined;
    const stored = cacheKey(b.client.id, b.key);
    // Its run will share a run in flight or take a stored result: it needs no slot of its own.
    if (flights.has(stored) || results.has(stored)) return undefined;
    if (load() >= config.capacity) {
      refused.set(b.ticket, true);
      return new AllotError(ErrorCode.OVERLOADED, `server ${ctx.id} is at capacity ${config.capacity}`);
    }
    // An expiry years away would hold the slot for good: a peer's number is clamped to this server's limit.
    const expiresAt = Math.min(b.expiresAt, ctx.now() + maxTicketMs);
    expected.set(b.ticket, { taskId: b.taskId, key: b.key, client: b.client.id, expiresAt, checked: signed });
    ctx.log.debug({ task: b.taskId, by }, "ticket announced");
    if (expiresAt < nextExpiry) nextExpiry = expiresAt;
    changed();
    return undefined;
  }

  function onExpect(m: Extract<Message, { type: "task.expect" }>, ch: Channel): void {
    const err = expectOne(m.body, ch.peerId);
    if (err) return ch.replyError(m, err);
    ch.reply(m, "task.expected", carriedLoad(ch));
  }

  /** A batch of announced tickets: each as `task.expect` would take it, one answer with the load after all of them. */
  function onExpectBatch(m: Extract<Message, { type: "task.expectBatch" }>, ch: Channel): void {
    const expects = m.body.expects;
    let no: Bodies["task.expectedBatch"]["refused"];
    for (let i = 0; i < expects.length; i++) {
      const err = expectOne(expects[i] as Bodies["task.expect"], ch.peerId);
      if (err) (no ??= []).push({ at: i, error: err.toWire() });
    }
    const { load: now, version } = carriedLoad(ch);
    ch.reply(m, "task.expectedBatch", { load: now, version, ...(no === undefined ? {} : { refused: no }) });
  }

  function onRun(m: Run, ch: Channel, lookedAgain = false): void {
    // A run whose requester has already closed the link (a client that judged this server silent
    // while it was paused, the run still in its socket buffer) is not started: its answer could
    // not arrive, and the client has placed the task elsewhere.
    if (!ch.open) {
      abandoned++;
      return;
    }
    // Just back from a stall, with the run read before it: the requester's close may be waiting
    // unread. Look again after this turn's reads (the actor's next turn comes after them).
    if (!lookedAgain && ch.stalled) return ctx.enqueue(() => onRun(m, ch, true));
    // Every allocator signs the tickets it issues for this server; an unsigned one is nobody's.
    if (isLeaseTicket(m.body.ticket)) return onLeaseRun(m, ch);
    if (parseTicket(m.body.ticket) === undefined) return ch.replyError(m, new AllotError(ErrorCode.UNAUTHORIZED, "not a ticket of this server's allocators"));
    onSignedRun(m, ch);
  }


  /**
   * A run with a self-checking ticket: valid only if signed under this server's key for this task,
   * this server and the client it comes from (or a slave's, on a client's behalf), unexpired and
   * never used — whether or not its expect has arrived.
   */
  function onSignedRun(m: Run, ch: Channel): void {
    const b = m.body;
    const client = ch.peerRole === "slave" && b.client !== undefined ? b.client : ch.peerId;
    const exp = expected.get(b.ticket);
    // Announced, and for this very task and client: its MAC was checked when it was announced.
    const t = exp !== undefined && exp.taskId === b.taskId && exp.key === b.key && exp.client === client ? exp.checked : checkTicket(ticketKey, b.ticket, { taskId: b.taskId, key: b.key, serverId: ctx.id, client });
    // Retryable: a server that restarted has a new key, and the client's next placement gets a good ticket.
    if (!t) return ch.replyError(m, new AllotError(ErrorCode.UNAUTHORIZED, "ticket does not check: not issued by this server's allocators for this task, client and server", { retryable: true }));
    if (t.expiresAt + TICKET_SKEW_MS <= ctx.now()) return ch.replyError(m, new AllotError(ErrorCode.UNAUTHORIZED, "ticket expired", { retryable: true }));
    if (!apps.has(b.app)) return ch.replyError(m, new AllotError(ErrorCode.INVALID, `server ${ctx.id} does not run ${JSON.stringify(b.app)}`));
    const announced = exp !== undefined;
    const stored = cacheKey(client, b.key);
    // At most one run per (client, key) on this server: a repeat takes the stored result, or
    // waits for the run in flight and shares its outcome; neither needs a slot.
    const flight = flights.get(stored);
    if (flight !== undefined || results.has(stored)) {
      if (flight !== undefined && (flight.waiters?.length ?? 0) >= MAX_WAITERS) return ch.replyError(m, new AllotError(ErrorCode.OVERLOADED, `${MAX_WAITERS} runs of this key already wait on server ${ctx.id}`));
      if (!replays.use(t.issuer, t.seq)) return ch.replyError(m, new AllotError(ErrorCode.UNAUTHORIZED, "ticket already used"));
      if (announced) expected.delete(b.ticket);
      changed();
      if (flight === undefined) return ch.reply(m, "task.result", { taskId: b.taskId, serverId: ctx.id, result: results.get(stored), cached: true });
      shared++;
      ctx.log.debug({ task: b.taskId, running: flight.taskId }, "run waits for the run of its key in flight");
      (flight.waiters ??= []).push([m, ch]);
      return;
    }
    // Draining: only a repeat of a key in flight or stored (above) is still answered here.
    if (draining) return ch.replyError(m, drainingError());
    // Capacity first, so a refused run leaves its ticket unused for the retry that follows.
    if (!announced && load() >= config.capacity) {
      // Its expect, if it comes later, must not hold a slot for a run that will not come.
      refused.set(b.ticket, true);
      return ch.replyError(m, new AllotError(ErrorCode.OVERLOADED, `server ${ctx.id} is at capacity ${config.capacity}`));
    }
    if (!replays.use(t.issuer, t.seq)) return ch.replyError(m, new AllotError(ErrorCode.UNAUTHORIZED, "ticket already used"));
    if (announced) expected.delete(b.ticket);
    start(m, ch, stored, client);
  }

  /** A lease.grant: holds (or renews) the lease if its ticket checks and its slots fit. */
  function onLeaseGrant(m: Extract<Message, { type: "lease.grant" }>, ch: Channel): void {
    const b = m.body;
    if (!checkLeaseTicket(ticketKey, b.ticket, { leaseId: b.leaseId, client: b.client.id, serverId: ctx.id, slots: b.slots })) {
      return ch.replyError(m, new AllotError(ErrorCode.UNAUTHORIZED, "not a lease ticket of this server's allocators for this lease, client and slots"));
    }
    if (draining) return ch.replyError(m, drainingError());
    const l = leases.grant({ leaseId: b.leaseId, client: b.client.id, slots: b.slots, ticket: b.ticket, expiresAt: b.expiresAt }, ctx.now(), config.capacity - load());
    if (l instanceof AllotError) return ch.replyError(m, l);
    ctx.log.debug({ lease: b.leaseId, slots: b.slots, by: ch.peerId }, "lease held");
    changed();
    ch.reply(m, "task.expected", carriedLoad(ch));
  }

  /**
   * A run under a lease: its ticket was checked when the lease was granted, so the run is only
   * compared with it. It takes one of the lease's slots (adding nothing to the load); past them OVERLOADED.
   */
  function onLeaseRun(m: Run, ch: Channel): void {
    const b = m.body;
    const client = ch.peerRole === "slave" && b.client !== undefined ? b.client : ch.peerId;
    const id = leaseIdOf(b.ticket);
    if (id === undefined) return ch.replyError(m, new AllotError(ErrorCode.UNAUTHORIZED, "not a lease ticket of this server's allocators"));
    const held = leases.size;
    const l = leases.admit(id, b.ticket, client, ctx.now());
    if (leases.size !== held) changed(); // it found its lease expired: the slots are free
    if (l instanceof AllotError) return ch.replyError(m, l);
    if (!apps.has(b.app)) return ch.replyError(m, new AllotError(ErrorCode.INVALID, `server ${ctx.id} does not run ${JSON.stringify(b.app)}`));
    const stored = cacheKey(client, b.key);
    // Single flight per (client, key), as for any run: a repeat shares the run in flight or its result, and takes no slot.
    const flight = flights.get(stored);
    if (flight !== undefined) {
      if ((flight.waiters?.length ?? 0) >= MAX_WAITERS) return ch.replyError(m, new AllotError(ErrorCode.OVERLOADED, `${MAX_WAITERS} runs of this key already wait on server ${ctx.id}`));
      shared++;
      (flight.waiters ??= []).push([m, ch]);
      return;
    }
    if (results.has(stored)) return ch.reply(m, "task.result", { taskId: b.taskId, serverId: ctx.id, result: results.get(stored), cached: true });
    if (draining) return ch.replyError(m, drainingError());
    // Runs under one lease are told apart by task id (they share the ticket).
    const slot = `${b.ticket}\u0000${b.taskId}`;
    if (runs.has(slot)) return ch.replyError(m, new AllotError(ErrorCode.INVALID, `task ${b.taskId} is already running under lease ${id}`));
    leases.begin(l);
    start(m, ch, stored, client, slot, l);
  }

  /** Starts a run behind the handler boundary: whatever the handler does becomes this run's answer and nothing else. */
  function start(m: Run, ch: Channel, stored: string, client: string, slot: string = m.body.ticket, lease?: LeaseSlot): void {
    const b = m.body;
    const now = ctx.now();
    // The client's deadline, but never past what this server allows a run: a peer's number is not a promise.
    const asked = b.deadline ?? Infinity;
    const deadline = Math.min(asked, now + maxRunMs);
    const abort = new LazyAbort();
    const run: Running = { taskId: b.taskId, app: b.app, stored, startedAt: now, deadline, capped: deadline < asked, answered: false, abort, waiters: undefined, stopped: undefined, m, ch, timer: undefined, lease };
    runs.set(slot, run);
    flights.set(stored, run);
    ctx.metrics.inc("allot_tasks_run_total");
    changed();
    let sync = true;
    try {
      runner.run(b.app, b.payload, new RunContext(b.taskId, b.key, b.app, b.attempt ?? 1, deadline, abort, client, ctx), (o) => {
        // A synchronous handler ends in this actor turn; anything later re-enters the actor.
        if (sync) guarded(slot, run, o);
        else ctx.enqueue(() => guarded(slot, run, o));
      });
    } catch (err) {
      // Past the boundary all the same: the run is answered on its own connection, its slot freed.
      sync = false;
      return escape(slot, run, err);
    }
    sync = false;
    if (runs.get(slot) === run) {
      run.timer = ctx.after(deadline - now, () => overdue(run));
    }
  }

  /** Answers a run that has not ended by its deadline, and aborts it; its slot stays taken until it stops. */
  function overdue(run: Running): void {
    if (run.answered) return;
    timedOut++;
    if (health.failed()) reporter.urgent();
    // Cut off by this server's own limit, not the client's deadline: running it again would end the same way.
    const err = run.capped
      ? new AllotError(ErrorCode.TIMEOUT, `${run.app} ran past server ${ctx.id}'s limit of ${maxRunMs} ms for a run`, { retryable: false })
      : new AllotError(ErrorCode.TIMEOUT, `${run.app} did not finish by its deadline on server ${ctx.id}`);
    stopRun(run, err);
  }

  function stopRun(run: Running, err: AllotError): void {
    run.stopped ??= err;
    if (!run.answered) {
      ctx.metrics.inc("allot_tasks_failed_total", { code: err.code });
      run.answered = true;
      run.ch.replyError(run.m, err);
    }
    run.abort.abort(err);
  }

  /**
   * `finish`, but a throw in it (or in the handler's own failure, past the boundary) is answered
   * on the run's connection — the client's or its slave's, never that of whatever message this
   * turn was handling — and then raised inside the actor for its supervisor.
   */
  function guarded(ticket: string, run: Running, o: Outcome): void {
    try {
      finish(ticket, run, o);
    } catch (err) {
      escape(ticket, run, err);
    }
  }

  function escape(ticket: string, run: Running, err: unknown): void {
    escaped++;
    // describeThrown never throws, whatever `err` is (even `instanceof` may, on a proxy).
    const e = new AllotError(ErrorCode.INTERNAL, `${run.app} failed on server ${ctx.id}: ${describeThrown(err)}`, { cause: err });
    // Whatever `finish` got done before it threw, the slot, the key's flight and every answer are settled here.
    run.timer?.();
    if (runs.get(ticket) === run) {
      runs.delete(ticket);
      if (run.lease) leases.end(run.lease);
    }
    if (flights.get(run.stored) === run) flights.delete(run.stored);
    const waiters = run.waiters ?? [];
    run.waiters = undefined;
    for (const [m, ch] of waiters) ch.replyError(m, e);
    if (!run.answered) {
      ctx.metrics.inc("allot_tasks_failed_total", { code: e.code });
      run.answered = true;
      run.ch.replyError(run.m, e);
    }
    run.ch.flushNow();
    changed();
    idleCheck();
    // Raised in a mailbox turn of its own, with no request to answer: the supervisor counts it.
    ctx.enqueue(() => {
      throw err;
    });
  }

  function finish(ticket: string, run: Running, o: Outcome): void {
    run.timer?.();
    if (runs.delete(ticket) && run.lease) leases.end(run.lease);
    if (flights.get(run.stored) === run) flights.delete(run.stored);
    completed++;
    changed();
    const m = ctx.metrics;
    if (m.on) {
      m.observe("allot_task_run_seconds", (ctx.now() - run.startedAt) / 1000);
      // A run already answered (timed out, cancelled, draining) was counted then.
      if (!run.answered) {
        if (o.ok) m.inc("allot_tasks_completed_total");
        else m.inc("allot_tasks_failed_total", { code: o.error.code });
      }
    }
    if (o.ok) results.set(run.stored, o.result);
    if (draining) ctx.enqueue(idleCheck); // after this run's answer has gone
    const waiters = run.waiters;
    run.waiters = undefined;
    if (waiters) answerWaiters(run, waiters, o);
    if (run.answered) return;
    run.answered = true;
    if (health.ended(o)) reporter.urgent(); // the count's change reaches the allocators now, not with the next period
    if (!o.ok) return run.ch.replyError(run.m, o.error);
    run.ch.reply(run.m, "task.result", { taskId: run.taskId, serverId: ctx.id, result: o.result, cached: false } satisfies Bodies["task.result"]);
  }

  /**
   * The runs that waited for `run` share how it ended: its result, or its error — the TIMEOUT it
   * was stopped with, rather than whatever its handler made of the abort. A run stopped by its
   * own client's cancel failed for that client alone: the others are told to place again
   * (retryable), and the next run of the key runs it.
   */
  function answerWaiters(run: Running, waiters: Array<[Run, Channel]>, o: Outcome): void {
    const stopped = run.stopped;
    const err = o.ok ? undefined : stopped === undefined ? o.error : stopped.code === ErrorCode.CANCELLED ? new AllotError(ErrorCode.OVERLOADED, `the run of this key on server ${ctx.id} was cancelled by its client; place it again`, { retryable: true }) : stopped;
    for (const [m, ch] of waiters) {
      if (err) ch.replyError(m, err);
      else ch.reply(m, "task.result", { taskId: m.body.taskId, serverId: ctx.id, result: o.ok ? o.result : null, cached: true });
    }
  }

  function drainingError(): AllotError {
    return new AllotError(ErrorCode.DRAINING, `server ${ctx.id} is draining`);
  }

  function drain(): Promise<void> {
    if (drainStarted) return drainStarted;
    draining = true;
    // Announced tickets hold slots for runs that will now be refused: they hold nothing more.
    expected.clear();
    leases.clear();
    ctx.log.info({ running: runs.size, timeoutMs: drainTimeoutMs }, "draining: refusing new runs, finishing the running ones");
    reporter.urgent(); // the allocators stop choosing it now
    cancelDrainTimer = ctx.after(drainTimeoutMs, () => {
      if (leaving) return;
      ctx.log.warn({ running: runs.size, timeoutMs: drainTimeoutMs }, "drain timed out: stopping the runs still going");
      stopAll(new AllotError(ErrorCode.DRAINING, `server ${ctx.id} is stopping: its drain timed out`));
      leave();
    });
    drainStarted = drained;
    idleCheck();
    return drained;
  }

  /** Drained once nothing runs: leave. */
  function idleCheck(): void {
    if (draining && !leaving && runs.size === 0) leave();
  }

  function leave(): void {
    leaving = true;
    cancelDrainTimer?.();
    ctx.log.info({ completed }, "drained: leaving the allocators");
    void reporter.leave(ctx.id).then(() => {
      ctx.log.info({}, "left every allocator");
      resolveDrained();
    });
  }

  function stopAll(err: AllotError): void {
    for (const run of runs.values()) {
      stopRun(run, err);
      for (const [m, ch] of run.waiters ?? []) ch.replyError(m, err);
      run.waiters = undefined;
    }
  }

  /** Merges `next` into the attributes; a change is a triggering event in any mode: report now. */
  function setAttrs(next: Attrs, unset: readonly string[] = []): void {
    // issue 11: power and capacity are the server's own figures. `config` is re-bound (the
    // caller's object is left as it was), so every read of config.power/capacity sees the change.
    const f = applyServerAttrs({ power: config.power, capacity: config.capacity, attrs }, next, unset);
    config = { ...config, power: f.power, capacity: f.capacity };
    attrs = f.attrs;
    ctx.log.info({ attrs, power: f.power, capacity: f.capacity }, "attributes changed");
    reporter.urgent();
  }

  /** The runs holding a slot. Overdue: answered TIMEOUT, but its handler has not stopped yet, so it keeps its slot. */
  function runRows(): RunningTaskRow[] {
    const now = ctx.now();
    const rows: RunningTaskRow[] = [];
    for (const r of runs.values()) {
      if (rows.length >= 10_000) break; // the status answer's bound
      rows.push({ taskId: r.taskId, app: r.app, ageMs: now - r.startedAt, deadline: r.deadline, overdue: r.deadline <= now });
    }
    return rows;
  }

  function sweep(): void {
    const now = ctx.now();
    if (nextExpiry <= now) {
      let dropped = 0;
      nextExpiry = Infinity;
      for (const [t, e] of expected) {
        if (e.expiresAt <= now) expected.delete(t), dropped++;
        else if (e.expiresAt < nextExpiry) nextExpiry = e.expiresAt;
      }
      if (dropped > 0) changed();
    }
    if (leases.sweep(now) > 0) changed();
  }
  const stopSweeper = ctx.every(250, sweep);
  return {
    setAttrs,
    drain,
    drained,
    handle(m: Message, ch: Channel) {
      if (m.type === "server.drain") {
        if (m.body.id !== ctx.id) return ch.replyError(m, new AllotError(ErrorCode.INVALID, `this app server is ${ctx.id}, not ${JSON.stringify(m.body.id)}`, { retryable: false }));
        void drain();
        return ch.reply(m, "ack", {});
      }
      if (m.type === "task.run") return onRun(m, ch);
      if (m.type === "task.expect") return onExpect(m, ch);
      if (m.type === "task.expectBatch") return onExpectBatch(m, ch);
      if (m.type === "lease.grant") return onLeaseGrant(m, ch);
      if (m.type === "lease.revoke") {
        if (leases.revoke(m.body.leaseId)) changed();
        return ch.reply(m, "ack", {});
      }
      if (m.type === "task.cancel") {
        // Only the connection that sent the run may stop it: a ticket is not a secret from the allocators.
        const run = runs.get(m.body.ticket) ?? (isLeaseTicket(m.body.ticket) ? runs.get(`${m.body.ticket}\u0000${m.body.taskId}`) : undefined);
        if (run && run.taskId === m.body.taskId && run.ch === ch) stopRun(run, new AllotError(ErrorCode.CANCELLED, `the client cancelled ${run.app}`));
        return;
      }
      if (m.type === "attrs.set" || m.type === "attrs.unset") {
        if (m.body.table !== "server" || m.body.id !== ctx.id) {
          return ch.replyError(m, new AllotError(ErrorCode.INVALID, `this app server is ${ctx.id}; it sets only its own server attributes, not ${m.body.table} ${m.body.id}`));
        }
        if (m.type === "attrs.set") setAttrs(m.body.attrs);
        else setAttrs({}, m.body.keys);
        return ch.reply(m, "ack", {});
      }
      if (m.type === "status.get") {
        const registrations = reporter.links().map((p) => linkStatus(p));
        const body: StatusBody = { role: "app", node: ctx.id, url: ctx.url, apps: [...config.apps], capacity: config.capacity, power: config.power, load: load(), runningCount: runs.size, expected: expected.size, completed, attrs, version: reporter.version(), registrations, running: runRows(), ...(draining ? { draining: true } : {}) };
        return ch.reply(m, "status", body);
      }
      ch.replyError(m, unknownType("app server", m));
    },
    notReady: () => (reporter.registered() > 0 ? undefined : `registered with no allocator (of ${config.join.length} to join)`),
    stats: () => {
      return {
        running: runs.size,
        draining,
        runs: runRows(),
        expected: expected.size,
        leases: leases.size,
        leaseSlotsUnused: leases.unused(),
        completed,
        abandoned,
        timedOut,
        shared,
        escaped,
        failures: health.failures,
        load: load(),
        capacity: config.capacity,
        handlers: runner.placement,
        pool: runner.stats(),
        version: reporter.version(),
      };
    },
    async stop() {
      stopSweeper();
      cancelDrainTimer?.();
      reporter.stop();
      // Every run still going is answered (retryable, so its client places it again elsewhere)
      // and told to stop through its abort signal. A drain first lets them finish.
      stopAll(new AllotError(ErrorCode.DRAINING, `server ${ctx.id} is stopping`));
      await runner.close();
    },
  };
}
