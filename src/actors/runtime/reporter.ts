import { ErrorCode } from "../../protocol/index.js";
import type { Bodies, ServerReport } from "../../protocol/index.js";
import type { Channel, Peer } from "../../transport/index.js";
import type { RoleContext } from "./context.js";

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

export function validateReportModes(r: ReportModes, who: string): void {
  if (!Number.isInteger(r.periodicMs) || r.periodicMs < 0) throw new RangeError(`periodic report interval must be a whole number of ms >= 0, got ${r.periodicMs}`);
  if (!r.event && r.periodicMs === 0) throw new TypeError(`${who} must report on events, periodically, or both`);
}

export interface ReporterConfig {
  /** Allocators to register with and report to. */
  join: readonly string[];
  /** `broadcast`: report to every allocator in `join`; `registered`: to one at a time, which relays to its peers. */
  mode: "broadcast" | "registered";
  modes: ReportModes;
  /** The node's current state as a report, stamped with `version`. */
  build(version: [number, number]): ServerReport;
  /** The load figure the event threshold compares. */
  load(): number;
}

export interface Reporter {
  /** (incarnation, seq) of the newest state. */
  version(): [number, number];
  /** The connections to the allocators, on which this node is registered. */
  links(): readonly Peer[];
  /**
   * The load changed: an event report, coalesced per turn and held to the interval and threshold.
   * It goes to each allocator as the load alone (`server.load`) when that allocator's last
   * acknowledged full report differs from the current state only in load, else as a full report;
   * and not at all to an allocator whose link already carried the current version this turn.
   */
  changed(): void;
  /**
   * An answer just queued on `ch` (`task.expected`, `task.expectedBatch`) carries `load` at
   * `version`: if that is still the newest version when this turn's event report would go, `ch`
   * needs no report. Ignored in the `registered` mode, where the report is what the allocator
   * relays to its peers.
   */
  carried(ch: Channel, state: { load: number; version: readonly [number, number] }): void;
  /** How many allocators acknowledged a report on the connection open now (registered there). */
  registered(): number;
  /** Something that must reach the allocators now changed (attributes): report at once. */
  urgent(): void;
  /**
   * Leaves every allocator (`server.leave` on each open link) and reports no more, not even on a
   * reconnection: resolves once each has answered or failed (bounded by the request timeout).
   */
  leave(id: string): Promise<void>;
  stop(): void;
}

/**
 * Keeps a node's entry current at its allocators: it registers on every (re)connection, reports
 * events and periods as configured, and keeps at most one acknowledged report in flight per
 * allocator (a newer one supersedes, so a busy node does not flood them). A change of load alone
 * goes as a `server.load` notice, or not at all where an answer already carried it (`carried`).
 * Used by the app server (to tier-2s or masters) and the slave (to masters).
 */
export function createReporter(ctx: RoleContext, config: ReporterConfig): Reporter {
  const modes = config.modes;
  const incarnation = ctx.incarnation;
  let seq = 0;
  const relay = config.mode === "registered";
  const version = (): [number, number] => [incarnation, seq];
  const body = (): Bodies["server.report"] => (relay ? { server: config.build(version()), relay: true } : { server: config.build(version()) });

  const inFlight = new Set<Channel>();
  const dirty = new Set<Channel>();
  // Per connection, the last full report it acknowledged: a report that would differ from it only
  // in load and version goes as a `server.load`, a quarter of the bytes and of the allocator's work.
  const acked = new WeakMap<Channel, ServerReport>();
  // Per connection, the last load sent on it in any form (report, notice, or an answer that
  // carried it), and the newest seq an answer carried: seqs only grow, so a stale entry never
  // matches and none needs clearing.
  const told = new WeakMap<Channel, number>();
  const carriedSeq = new WeakMap<Channel, number>();
  // Once it has left, a report would register the node again.
  let left = false;
  /** A full, acknowledged report (at most one in flight per connection; a newer one waits for its answer). */
  function send(ch: Channel): void {
    if (left) return;
    if (inFlight.has(ch)) {
      dirty.add(ch);
      return;
    }
    inFlight.add(ch);
    dirty.delete(ch);
    const b = body();
    told.set(ch, b.server.load);
    ctx.ask(ch, "server.report", b, undefined, (e) => {
      inFlight.delete(ch);
      if (!e) {
        acked.set(ch, b.server);
        if (dirty.has(ch) && !ch.closed) deliver(ch, false);
        return;
      }
      dirty.delete(ch);
      acked.delete(ch);
      if (e.code !== ErrorCode.UNREACHABLE) ctx.log.warn({ to: ch.label(), err: e.message }, "load report not acknowledged");
    });
  }
  const loadNotice = (ch: Channel, r: ServerReport): void => {
    const { id, load, version } = r;
    told.set(ch, load);
    ch.notify("server.load", relay ? { id, load, version, relay: true } : { id, load, version });
  };
  const periodic = (ch: Channel): void => {
    const b = body();
    const last = acked.get(ch);
    if (last !== undefined && sameButLoad(last, b.server)) return loadNotice(ch, b.server);
    told.set(ch, b.server.load);
    ch.notify("server.report", b);
  };
  /**
   * The current state to `ch` as cheaply as is safe: nothing if it acknowledged this very version
   * (or, for an event, if only the seq moved since the load it was last told, see below); the load
   * alone, as a notice, if its acknowledged full report differs only in load; else in full.
   */
  function deliver(ch: Channel, event: boolean): void {
    if (left) return;
    if (inFlight.has(ch)) {
      dirty.add(ch);
      return;
    }
    dirty.delete(ch);
    const last = acked.get(ch);
    if (last !== undefined && last.version[1] === seq) return;
    const b = body();
    if (last === undefined || !sameButLoad(last, b.server)) return send(ch);
    // An answer on this link carried this very version while its report was in flight.
    if (carriedSeq.get(ch) === seq) return;
    // A run taking the slot its expect held moves the seq, not the load. An allocator that
    // announces tasks itself (its answers carried loads) holds the same figure either way; one
    // that does not may count its grants settled by any newer report, so it still gets one.
    if (event && carriedSeq.has(ch) && told.get(ch) === b.server.load) return;
    loadNotice(ch, b.server);
  }
  const sendAll = (): void => {
    for (const p of peers) {
      const ch = p.current;
      if (ch) send(ch);
    }
  };
  // An event, to each allocator whose link has not carried the newest version already.
  const eventAll = (): void => {
    for (const p of peers) {
      const ch = p.current;
      if (ch && carriedSeq.get(ch) !== seq) deliver(ch, true);
    }
  };
  // A (re)connection registers with a fresh seq: an allocator that marked this node dead when
  // the old link dropped must see a newer version, or it would ignore the report as stale.
  const register = (ch: Channel): void => {
    if (left) return;
    seq++;
    send(ch);
  };

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

  let scheduled = false;
  let lastEventAt = -Infinity;
  let lastEventLoad = 0;
  function changed(): void {
    seq++;
    if (scheduled || !modes.event) return;
    const wait = lastEventAt + (modes.eventMinMs ?? 0) - ctx.now();
    scheduled = true;
    const fire = (): void => {
      scheduled = false;
      if (Math.abs(config.load() - lastEventLoad) < (modes.eventThreshold ?? 0)) return;
      lastEventAt = ctx.now();
      lastEventLoad = config.load();
      eventAll();
    };
    // Later in the actor's mailbox: the changes of this turn go out in one report.
    if (wait > 0) ctx.after(wait, fire);
    else ctx.enqueue(fire);
  }

  // A periodic report carries a new seq even when nothing changed: it is what tells an
  // allocator the node is still there. It goes as a notice, unanswered: the next period
  // repeats it, and an answer would cost each allocator a write per report. While an
  // acknowledged report is in flight, its answer sends the newest state instead.
  const stopTicker =
    modes.periodicMs > 0
      ? ctx.every(modes.periodicMs, () => {
          if (left) return;
          seq++;
          for (const p of peers) {
            const ch = p.current;
            if (!ch) continue;
            if (inFlight.has(ch)) dirty.add(ch);
            else periodic(ch);
          }
        })
      : undefined;

  return {
    version,
    links: () => peers,
    registered: () => {
      let n = 0;
      for (const p of peers) {
        const ch = p.current;
        if (ch && acked.has(ch)) n++;
      }
      return n;
    },
    changed,
    carried(ch, { load, version: v }) {
      // A relayed report is what tells the peers of a registered node: there, every allocator gets it.
      if (relay || v[0] !== incarnation) return;
      carriedSeq.set(ch, v[1]);
      told.set(ch, load);
    },
    urgent() {
      seq++;
      sendAll();
    },
    leave(id: string) {
      left = true;
      stopTicker?.();
      const asks = peers.map((p) => {
        const ch = p.current;
        if (!ch) return Promise.resolve();
        return new Promise<void>((resolve) =>
          ctx.ask(ch, "server.leave", { id }, undefined, (e) => {
            // An allocator that is gone (stopping too, or dead) marks this server dead on its own.
            if (e) (e.code === ErrorCode.UNREACHABLE ? ctx.log.debug : ctx.log.warn).call(ctx.log, { to: ch.label(), err: e.message }, "leave not acknowledged");
            resolve();
          }),
        );
      });
      return Promise.all(asks).then(() => undefined);
    },
    stop() {
      stopTicker?.();
      stopped = true;
      for (const p of peers) p.close();
    },
  };
}

/** Whether two reports of one node differ at most in load and version. */
export function sameButLoad(a: ServerReport, b: ServerReport): boolean {
  if (a.version[0] !== b.version[0] || a.url !== b.url || a.capacity !== b.capacity || a.power !== b.power || (a.periodMs ?? 0) !== (b.periodMs ?? 0) || (a.failures ?? 0) !== (b.failures ?? 0) || (a.draining ?? false) !== (b.draining ?? false)) return false;
  if (a.apps.length !== b.apps.length || a.apps.some((x, i) => x !== b.apps[i])) return false;
  const ka = Object.keys(a.attrs);
  if (ka.length !== Object.keys(b.attrs).length) return false;
  return ka.every((k) => Object.hasOwn(b.attrs, k) && a.attrs[k] === b.attrs[k]);
}
