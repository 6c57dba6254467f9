import { AllotError, ErrorCode, checkPlainData } from "../protocol/index.js";
import type { Attrs, Bodies, Message, ServerReport } from "../protocol/index.js";
import type { Channel, Peer } from "../transport/index.js";
import { BoundedMap } from "./bounded-map.js";
import type { Behaviour, RoleContext } from "./context.js";
import { builtinHandlers } from "./handlers.js";
import type { Handler } from "./handlers.js";
import { unknownType } from "./role-actor.js";

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
  /** Handlers by application; the built-ins (echo, sleep, hash) unless replaced. */
  handlers?: Readonly<Record<string, Handler>>;
  /** How long a run may wait for its ticket's expect to arrive. */
  parkMs?: number;
  /** `broadcast` (default): report to every distributor in `join`; `registered`: to one, which relays. */
  mode?: "broadcast" | "registered";
  /** When to report: on load changes (`event`), every `periodicMs` (0: never), or both. Default both, 1000 ms. */
  report?: ReportModes;
}

export interface ReportModes {
  /** Report after every turn in which a task started or ended (coalesced). */
  event: boolean;
  /** Report at least this often, so allocators can tell a silent server from an idle one; 0 = off. */
  periodicMs: number;
  /** Event mode: at least this long between two event reports (default 0). */
  eventMinMs?: number;
  /** Event mode: report only when the load moved by at least this much since the last (default 0: every change). */
  eventThreshold?: number;
}

export const DEFAULT_REPORT: ReportModes = { event: true, periodicMs: 1000 };

interface Expected {
  taskId: string;
  key: string;
  expiresAt: number;
}

interface Parked {
  m: Extract<Message, { type: "task.run" }>;
  ch: Channel;
  until: number;
}

type Run = Extract<Message, { type: "task.run" }>;

function isThenable(x: unknown): x is PromiseLike<unknown> {
  return typeof x === "object" && x !== null && typeof (x as { then?: unknown }).then === "function";
}

export function validateAppServerConfig(c: AppServerConfig): void {
  if (c.apps.length === 0) throw new TypeError("an app server needs at least one application (--apps)");
  if (!Number.isInteger(c.capacity) || c.capacity < 1) throw new RangeError(`capacity must be an integer >= 1, got ${c.capacity}`);
  if (!(c.power > 0) || !Number.isFinite(c.power)) throw new RangeError(`power must be a positive number, got ${c.power}`);
  const r = c.report ?? DEFAULT_REPORT;
  if (!Number.isInteger(r.periodicMs) || r.periodicMs < 0) throw new RangeError(`periodic report interval must be a whole number of ms >= 0, got ${r.periodicMs}`);
  if (!r.event && r.periodicMs === 0) throw new TypeError("an app server must report on events, periodically, or both");
  const handlers = { ...builtinHandlers, ...c.handlers };
  for (const app of c.apps) if (!handlers[app]) throw new TypeError(`no handler for application ${JSON.stringify(app)}; built in: ${Object.keys(builtinHandlers).join(", ")}`);
}

/**
 * An application server: runs tasks of the applications it offers, but only for a client holding
 * a ticket a distributor issued for that task, and never more than its capacity at once. It
 * registers with its distributors and reports its load on every task start and end.
 */
export interface AppServerBehaviour extends Behaviour {
  /** Changes attributes at run time (call inside the actor). */
  setAttrs(attrs: Attrs): void;
}

export function createAppServer(ctx: RoleContext, config: AppServerConfig): AppServerBehaviour {
  validateAppServerConfig(config);
  const handlers: Readonly<Record<string, Handler>> = { ...builtinHandlers, ...config.handlers };
  const apps = new Set(config.apps);
  const parkMs = config.parkMs ?? 1000;
  const reportModes = config.report ?? DEFAULT_REPORT;
  // Attributes can change at run time (attrs.set); every report carries the current set.
  let attrs: Attrs = { ...config.attrs };
  const expected = new Map<string, Expected>();
  const parked = new Map<string, Parked>();
  const used = new BoundedMap<string, true>(100_000);
  // Tickets whose expect was refused: their run is answered OVERLOADED so the client places again.
  const refused = new BoundedMap<string, true>(10_000);
  const results = new BoundedMap<string, unknown>(10_000);
  const incarnation = ctx.now();
  let seq = 0;
  let running = 0;
  let completed = 0;
  let reportScheduled = false;
  // No expected ticket expires before this (a lower bound): the sweep skips the walk over all of
  // them until then, instead of walking every expected ticket four times a second.
  let nextExpiry = Infinity;

  const load = (): number => running + expected.size;
  const report = (): ServerReport => ({
    id: ctx.id,
    url: ctx.url,
    apps: [...config.apps],
    capacity: config.capacity,
    power: config.power,
    load: load(),
    attrs,
    version: [incarnation, seq],
    ...(reportModes.periodicMs > 0 ? { periodMs: reportModes.periodicMs } : {}),
  });

  // Registered with one allocator, the server asks it to pass each report on to its peers.
  const relay = (config.mode ?? "broadcast") === "registered";
  const reportBody = (): Bodies["server.report"] => (relay ? { server: report(), relay: true } : { server: report() });

  // At most one report in flight per distributor: a newer report supersedes an older one, so
  // while one is unanswered the next waits and carries the latest load (backpressure, no flood).
  const inFlight = new Set<Channel>();
  const dirty = new Set<Channel>();
  function sendReport(ch: Channel): void {
    if (inFlight.has(ch)) {
      dirty.add(ch);
      return;
    }
    inFlight.add(ch);
    dirty.delete(ch);
    ch.request("server.report", reportBody()).then(
      () => {
        inFlight.delete(ch);
        if (dirty.has(ch) && !ch.closed) sendReport(ch);
      },
      (err: unknown) => {
        inFlight.delete(ch);
        dirty.delete(ch);
        const e = AllotError.from(err);
        if (e.code !== ErrorCode.UNREACHABLE) ctx.log.warn({ to: ch.label(), err: e.message }, "load report not acknowledged");
      },
    );
  }
  // A (re)connection registers with a fresh seq: a distributor that marked this server dead when
  // the old link dropped must see a newer version, or it would ignore the report as stale.
  const register = (ch: Channel): void => {
    seq++;
    sendReport(ch);
  };
  // broadcast: report to every distributor joined. registered: to one at a time (the next on
  // the list when it is lost), which relays to its peers.
  let peers: Peer[] = [];
  let registeredAt = 0;
  let stopped = false;
  const joinNext = (): void => {
    const url = config.join[registeredAt++ % config.join.length] as string;
    const p = ctx.connect(url, {
      onOpen: register,
      onDown: (down) => {
        if (stopped || !peers.includes(down)) return;
        down.close();
        peers = [];
        joinNext();
      },
    });
    peers = [p];
  };
  if (relay) joinNext();
  else peers = config.join.map((url) => ctx.connect(url, { onOpen: register }));

  let lastEventAt = -Infinity;
  let lastEventLoad = 0;
  /**
   * Load changed: one report per turn however many tasks started or ended in it, and none
   * sooner than `eventMinMs` after the last, nor for a change of load under `eventThreshold`
   * (the periodic report carries those). So a busy server does not flood its distributors.
   */
  function changed(): void {
    seq++;
    if (reportScheduled || !reportModes.event) return;
    const wait = lastEventAt + (reportModes.eventMinMs ?? 0) - ctx.now();
    reportScheduled = true;
    const fire = (): void => {
      reportScheduled = false;
      if (Math.abs(load() - lastEventLoad) < (reportModes.eventThreshold ?? 0)) return;
      lastEventAt = ctx.now();
      lastEventLoad = load();
      for (const p of peers) {
        const ch = p.current;
        if (ch) sendReport(ch);
      }
    };
    if (wait > 0) setTimeout(() => ctx.enqueue(fire), wait).unref();
    else setImmediate(fire);
  }

  function onExpect(m: Extract<Message, { type: "task.expect" }>, ch: Channel): void {
    const b = m.body;
    if (ch.peerRole !== "tier2") {
      ch.replyError(m, new AllotError(ErrorCode.UNAUTHORIZED, `only a tier-2 distributor may announce tickets, not a ${ch.peerRole || "stranger"}`));
      return;
    }
    if (load() >= config.capacity) {
      const err = new AllotError(ErrorCode.OVERLOADED, `server ${ctx.id} is at capacity ${config.capacity}`);
      refused.set(b.ticket, true);
      ch.replyError(m, err);
      const early = parked.get(b.ticket);
      if (early) {
        parked.delete(b.ticket);
        early.ch.replyError(early.m, err);
      }
      return;
    }
    expected.set(b.ticket, { taskId: b.taskId, key: b.key, expiresAt: b.expiresAt });
    if (b.expiresAt < nextExpiry) nextExpiry = b.expiresAt;
    changed();
    ch.reply(m, "task.expected", { load: load(), version: [incarnation, seq] });
    const early = parked.get(b.ticket);
    if (early) {
      parked.delete(b.ticket);
      onRun(early.m, early.ch);
    }
  }

  function onRun(m: Run, ch: Channel): void {
    const b = m.body;
    const exp = expected.get(b.ticket);
    if (!exp) {
      if (used.has(b.ticket)) return ch.replyError(m, new AllotError(ErrorCode.UNAUTHORIZED, "ticket already used"));
      if (refused.has(b.ticket)) return ch.replyError(m, new AllotError(ErrorCode.OVERLOADED, `server ${ctx.id} refused this ticket: at capacity`));
      if (parked.has(b.ticket) || parked.size >= 10_000) return ch.replyError(m, new AllotError(ErrorCode.UNAUTHORIZED, "unknown ticket"));
      parked.set(b.ticket, { m, ch, until: ctx.now() + parkMs });
      return;
    }
    if (exp.taskId !== b.taskId || exp.key !== b.key) return ch.replyError(m, new AllotError(ErrorCode.UNAUTHORIZED, "ticket was issued for another task"));
    const handler = handlers[b.app];
    if (!apps.has(b.app) || !handler) return ch.replyError(m, new AllotError(ErrorCode.INVALID, `server ${ctx.id} does not run ${JSON.stringify(b.app)}`));
    expected.delete(b.ticket);
    used.set(b.ticket, true);
    if (results.has(b.key)) {
      changed();
      return ch.reply(m, "task.result", { taskId: b.taskId, serverId: ctx.id, result: results.get(b.key), cached: true });
    }
    running++;
    changed();
    const done = (type: "ok" | "err", value: unknown): void => {
      running--;
      completed++;
      changed();
      if (type === "err") return ch.replyError(m, AllotError.from(value));
      let result: unknown;
      try {
        result = checkPlainData(value, "handler result");
      } catch (err) {
        return ch.replyError(m, new AllotError(ErrorCode.INVALID, err instanceof Error ? err.message : String(err)));
      }
      results.set(b.key, result);
      ch.reply(m, "task.result", { taskId: b.taskId, serverId: ctx.id, result, cached: false } satisfies Bodies["task.result"]);
    };
    let out: unknown;
    try {
      out = handler(b.payload, { taskId: b.taskId, key: b.key, app: b.app });
    } catch (err) {
      return done("err", err);
    }
    // A synchronous handler finishes in this actor turn; an async one re-enters the actor when done.
    if (!isThenable(out)) return done("ok", out);
    out.then(
      (v) => ctx.enqueue(() => done("ok", v)),
      (err: unknown) => ctx.enqueue(() => done("err", err)),
    );
  }

  /** Merges `next` into the attributes; a change is a triggering event in any mode: report now. */
  function setAttrs(next: Attrs): void {
    attrs = { ...attrs, ...next };
    ctx.log.info({ attrs }, "attributes changed");
    seq++;
    for (const p of peers) {
      const c = p.current;
      if (c) sendReport(c);
    }
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
    for (const [t, p] of parked) {
      if (p.until > now) continue;
      parked.delete(t);
      // Retryable: the distributor's expect may have been lost with its connection; placing again is safe.
      p.ch.replyError(p.m, new AllotError(ErrorCode.TIMEOUT, `no distributor announced this ticket within ${parkMs} ms`));
    }
  }
  const sweeper = setInterval(() => ctx.enqueue(sweep), Math.max(10, Math.min(250, parkMs / 4)));
  sweeper.unref();
  // A periodic report carries a new seq even when nothing changed: it is what tells an
  // allocator the server is still there. It goes as a notice, unanswered: the next period
  // repeats it, and an answer would cost each allocator a write per report. While an
  // acknowledged report is in flight, its answer sends the newest state instead.
  const ticker =
    reportModes.periodicMs > 0
      ? setInterval(
          () =>
            ctx.enqueue(() => {
              seq++;
              for (const p of peers) {
                const ch = p.current;
                if (!ch) continue;
                if (inFlight.has(ch)) dirty.add(ch);
                else ch.notify("server.report", reportBody());
              }
            }),
          reportModes.periodicMs,
        )
      : undefined;
  ticker?.unref();

  return {
    setAttrs,
    handle(m: Message, ch: Channel) {
      if (m.type === "task.run") return onRun(m, ch);
      if (m.type === "task.expect") return onExpect(m, ch);
      if (m.type === "attrs.set") {
        if (m.body.table !== "server" || m.body.id !== ctx.id) {
          return ch.replyError(m, new AllotError(ErrorCode.INVALID, `this app server is ${ctx.id}; it sets only its own server attributes, not ${m.body.table} ${m.body.id}`));
        }
        setAttrs(m.body.attrs);
        return ch.reply(m, "ack", {});
      }
      ch.replyError(m, unknownType("app server", m));
    },
    stats: () => ({ running, expected: expected.size, parked: parked.size, completed, load: load(), capacity: config.capacity, version: [incarnation, seq] }),
    stop: () => {
      clearInterval(sweeper);
      clearInterval(ticker);
      stopped = true;
      for (const p of peers) p.close();
    },
  };
}
