import { AllotError, ErrorCode, applyServerAttrs, checkPlainData, isReservedAttr } from "../protocol/index.js";
import type { Attrs, Bodies, Message, Role, StatusBody } from "../protocol/index.js";
import type { Channel } from "../transport/index.js";
import { BoundedMap } from "./bounded-map.js";
import type { Behaviour, RoleContext } from "./context.js";
import { builtinHandlers } from "./handlers.js";
import { linkStatus } from "./link-status.js";
import type { Handler } from "./handlers.js";
import { DEFAULT_REPORT, createReporter, validateReportModes } from "./reporter.js";
import type { ReportModes } from "./reporter.js";
import { unknownType } from "./role-actor.js";

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
  /** Handlers by application; the built-ins (echo, sleep, hash) unless replaced. */
  handlers?: Readonly<Record<string, Handler>>;
  /** How long a run may wait for its ticket's expect to arrive. */
  parkMs?: number;
  /** `broadcast` (default): report to every distributor in `join`; `registered`: to one, which relays. */
  mode?: "broadcast" | "registered";
  /** When to report: on load changes (`event`), every `periodicMs` (0: never), or both. Default both, 1000 ms. */
  report?: ReportModes;
}

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

/** Roles that may announce a ticket: the allocators, and a slave linking a client to this server. */
const ANNOUNCERS: ReadonlySet<Role> = new Set<Role>(["tier2", "master", "slave"]);

function isThenable(x: unknown): x is PromiseLike<unknown> {
  return typeof x === "object" && x !== null && typeof (x as { then?: unknown }).then === "function";
}

export function validateAppServerConfig(c: AppServerConfig): void {
  if (c.apps.length === 0) throw new TypeError("an app server needs at least one application (--apps)");
  if (!Number.isInteger(c.capacity) || c.capacity < 1) throw new RangeError(`capacity must be an integer >= 1, got ${c.capacity}`);
  if (!(c.power > 0) || !Number.isFinite(c.power)) throw new RangeError(`power must be a positive number, got ${c.power}`);
  const reserved = Object.keys(c.attrs ?? {}).find(isReservedAttr);
  if (reserved !== undefined) throw new TypeError(`attribute ${reserved} is a built-in field, not an attribute (power and capacity have settings of their own)`);
  validateReportModes(c.report ?? DEFAULT_REPORT, "an app server");
  const handlers = { ...builtinHandlers, ...c.handlers };
  for (const app of c.apps) if (!handlers[app]) throw new TypeError(`no handler for application ${JSON.stringify(app)}; built in: ${Object.keys(builtinHandlers).join(", ")}`);
}

/**
 * An application server: runs tasks of the applications it offers, but only for a client holding
 * a ticket a distributor issued for that task, and never more than its capacity at once. It
 * registers with its distributors and reports its load on every task start and end.
 */
export interface AppServerBehaviour extends Behaviour {
  /** Changes attributes at run time (call inside the actor): `power` and `capacity` change the server's own; `unset` removes attributes. */
  setAttrs(attrs: Attrs, unset?: readonly string[]): void;
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
  let running = 0;
  let completed = 0;
  // No expected ticket expires before this (a lower bound): the sweep skips the walk over all of
  // them until then, instead of walking every expected ticket four times a second.
  let nextExpiry = Infinity;

  const load = (): number => running + expected.size;
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
    }),
  });
  const changed = (): void => reporter.changed();

  function onExpect(m: Extract<Message, { type: "task.expect" }>, ch: Channel): void {
    const b = m.body;
    if (!ANNOUNCERS.has(ch.peerRole as Role)) {
      ch.replyError(m, new AllotError(ErrorCode.UNAUTHORIZED, `only a tier-2 distributor, a master or a slave may announce tickets, not a ${ch.peerRole || "stranger"}`));
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
    ctx.log.debug({ task: b.taskId, by: ch.peerId }, "ticket announced");
    if (b.expiresAt < nextExpiry) nextExpiry = b.expiresAt;
    changed();
    ch.reply(m, "task.expected", { load: load(), version: reporter.version() });
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
  function setAttrs(next: Attrs, unset: readonly string[] = []): void {
    // issue 11: power and capacity are the server's own figures. `config` is re-bound (the
    // caller's object is left as it was), so every read of config.power/capacity sees the change.
    const f = applyServerAttrs({ power: config.power, capacity: config.capacity, attrs }, next, unset);
    config = { ...config, power: f.power, capacity: f.capacity };
    attrs = f.attrs;
    ctx.log.info({ attrs, power: f.power, capacity: f.capacity }, "attributes changed");
    reporter.urgent();
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
  return {
    setAttrs,
    handle(m: Message, ch: Channel) {
      if (m.type === "task.run") return onRun(m, ch);
      if (m.type === "task.expect") return onExpect(m, ch);
      if (m.type === "attrs.set" || m.type === "attrs.unset") {
        if (m.body.table !== "server" || m.body.id !== ctx.id) {
          return ch.replyError(m, new AllotError(ErrorCode.INVALID, `this app server is ${ctx.id}; it sets only its own server attributes, not ${m.body.table} ${m.body.id}`));
        }
        if (m.type === "attrs.set") setAttrs(m.body.attrs);
        else setAttrs({}, m.body.keys);
        return ch.reply(m, "ack", {});
      }
      // issue 11 (status branch): answered from what exists today; `running` rows are the lead's to fill.
      if (m.type === "status.get") {
        const registrations = reporter.links().map((p) => linkStatus(p));
        const body: StatusBody = { role: "app", node: ctx.id, url: ctx.url, apps: [...config.apps], capacity: config.capacity, power: config.power, load: load(), runningCount: running, expected: expected.size, completed, attrs, version: reporter.version(), registrations, running: [] };
        return ch.reply(m, "status", body);
      }
      ch.replyError(m, unknownType("app server", m));
    },
    stats: () => ({ running, expected: expected.size, parked: parked.size, completed, load: load(), capacity: config.capacity, version: reporter.version() }),
    stop: () => {
      clearInterval(sweeper);
      reporter.stop();
    },
  };
}
