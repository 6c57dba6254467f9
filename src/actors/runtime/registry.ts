import { AllotError, ErrorCode, hasRole } from "../../protocol/index.js";
import type { AttrTables, Message, Role, ServerStatusRow } from "../../protocol/index.js";
import { AttrTable, TableFullError, ServerTable } from "../../state/index.js";
import type { ApplyResult, ServerEntry, ServerTableOptions } from "../../state/index.js";
import type { Channel, Peer } from "../../transport/index.js";
import type { RoleContext } from "./context.js";
import { PeerPool } from "./peer-pool.js";
import { toReport } from "./peer-sync.js";
import type { PeerSync, Tables } from "./peer-sync.js";

/** How often an allocator ages its entries; expiry reads only stale entries, so this is cheap. */
const EXPIRY_CHECK_MS = 100;

/** How long a dead member's entry stays in an allocator's table by default: five minutes. */
export const DEFAULT_DEAD_RETENTION_MS = 300_000;

/** Checks a `deadRetentionMs` setting: a whole number of ms >= 0 (0 drops a dead entry at the next check). */
export function validateDeadRetention(ms: number): void {
  if (!Number.isSafeInteger(ms) || ms < 0) throw new RangeError(`deadRetentionMs must be a whole number of ms >= 0, got ${ms}`);
}

/**
 * The members an allocator knows and the links to them: app servers at a tier-2 or a master,
 * slaves at a master. A member registers with its first `server.report` on a connection; that
 * connection is its link until it closes (the member is then dead until it reports again).
 * Members known only through a peer are reached over a connection this node opens. A member
 * dead for longer than the retention period leaves the table (unless its link is still open:
 * it may yet report its load on it).
 */
export class Registry {
  readonly table: ServerTable;
  private readonly links = new Map<string, Channel>();
  private readonly dialed: PeerPool;
  private readonly stopExpiry: () => void;
  reports = 0;
  staleReports = 0;
  /** Of `reports`, the load-only ones (`server.load`). */
  loadReports = 0;
  /** Reports refused: about another member, or a load-only one the table cannot place. */
  refusedReports = 0;

  constructor(
    private readonly ctx: RoleContext,
    /** The role a member's connection says hello with. */
    readonly memberRole: Role,
    private readonly noun: string,
    /** How long a dead member's entry stays, ms. */
    readonly deadRetentionMs = DEFAULT_DEAD_RETENTION_MS,
    /** Outlier ejection and slow start (app servers only); default neither. */
    health: Omit<ServerTableOptions, "onOutlier"> = {},
  ) {
    validateDeadRetention(deadRetentionMs);
    this.table = new ServerTable({
      ...health,
      onOutlier: (e, event, now) =>
        event === "ejected"
          ? ctx.log.warn({ [noun]: e.id, failures: e.failures, ejections: e.outlier.ejections, forMs: e.outlier.ejectedUntil - now }, `${noun} ejected: its runs keep failing`)
          : ctx.log.info({ [noun]: e.id, ejections: e.outlier.ejections }, `${noun} back in selection after an ejection`),
    });
    this.dialed = new PeerPool(ctx);
    // Members that promised periodic reports and went silent turn suspect, then dead; members
    // dead for longer than the retention period go.
    this.stopExpiry = ctx.every(EXPIRY_CHECK_MS, () => this.age());
  }

  /** Ages the entries: expiry by silence, then removal of the ones dead past retention. */
  age(): void {
    const now = this.ctx.now();
    this.table.tick(now);
    for (const e of this.table.expire(now)) this.ctx.log.info({ [this.noun]: e.id, status: e.status, silentMs: now - e.updatedAt }, `${this.noun} status changed`);
    const linked = (e: ServerEntry): boolean => this.links.get(e.id)?.closed === false;
    for (const e of this.table.removeDead(now, this.deadRetentionMs, linked)) {
      this.links.delete(e.id);
      this.ctx.log.info({ [this.noun]: e.id, silentMs: now - e.updatedAt }, `${this.noun} removed: dead past retention`);
    }
  }

  /**
   * Applies a member's own report and acknowledges it (the channel admits a report only from a
   * member, about itself). Returns
   * what the report did, or undefined when it was refused.
   */
  onReport(m: Extract<Message, { type: "server.report" }>, ch: Channel): ApplyResult | undefined {
    const r = m.body.server;
    const result = this.table.apply(r, this.ctx.now());
    this.reports++;
    if (this.links.get(r.id) !== ch) {
      this.links.set(r.id, ch);
      this.table.setStatus(r.id, r.draining === true ? "draining" : "alive", this.ctx.now());
      this.ctx.log.info({ [this.noun]: r.id, url: r.url, apps: r.apps }, `${this.noun} joined`);
    }
    if (result === "stale") {
      this.staleReports++;
      this.ctx.log.debug({ [this.noun]: r.id, version: r.version }, "stale report ignored");
    }
    ch.reply(m, "ack", {});
    return result;
  }

  /**
   * Applies a member's load-only report (`server.load`, a notice). It must come on the connection
   * the member registered on with a full report, of the same incarnation; otherwise it is refused
   * with an error notice and the entry keeps its last good state.
   */
  onLoad(m: Extract<Message, { type: "server.load" }>, ch: Channel): ApplyResult | undefined {
    const b = m.body;
    const result = this.links.get(b.id) === ch ? this.table.refresh(b.id, b.load, b.version, this.ctx.now()) : undefined;
    if (result === undefined) {
      this.refusedReports++;
      ch.replyError(m, new AllotError(ErrorCode.INVALID, `${this.noun} ${b.id} sent its load without a full report of incarnation ${b.version[0]} on this connection first`));
      return undefined;
    }
    this.reports++;
    this.loadReports++;
    if (result === "stale") this.staleReports++;
    return result;
  }

  /**
   * A drained member leaves: its entry goes from the table at once (not marked dead, so no
   * retention and no status row), and its link is forgotten, so the connection's close that
   * follows changes nothing. Only on the connection it registered on; answered `ack`.
   */
  onLeave(m: Extract<Message, { type: "server.leave" }>, ch: Channel): ServerEntry | undefined {
    const id = m.body.id;
    if (this.links.get(id) !== ch) {
      ch.replyError(m, new AllotError(ErrorCode.INVALID, `${this.noun} ${id} is not registered on this connection: it leaves on the connection it reports on`));
      return undefined;
    }
    this.links.delete(id);
    const e = this.table.remove(id);
    this.ctx.log.info({ [this.noun]: id }, `${this.noun} left (drained)`);
    ch.reply(m, "ack", {});
    return e;
  }

  /**
   * An operator's `server.drain` at an allocator: relayed to the server over its link (or a
   * connection of ours), and answered `ack` once the server has started draining; the entry is
   * marked `draining` at once, so no decision chooses it from now on. An id not in the table is
   * refused INVALID naming it.
   */
  onDrain(m: Extract<Message, { type: "server.drain" }>, ch: Channel): void {
    const id = m.body.id;
    const e = this.table.get(id);
    if (e === undefined) return ch.replyError(m, new AllotError(ErrorCode.INVALID, `no ${this.noun} ${JSON.stringify(id)} in the table of ${this.ctx.id}`, { retryable: false }));
    const to = e.status === "dead" ? undefined : this.reach(e);
    if (to === undefined) return ch.replyError(m, new AllotError(ErrorCode.UNREACHABLE, `${this.noun} ${id} is dead or not connected to ${this.ctx.id}`, { retryable: false }));
    this.ctx.ask(to, "server.drain", { id }, undefined, (err) => {
      if (err) return ch.replyError(m, err);
      if (this.table.get(id) === e && e.status !== "dead") this.table.setStatus(id, "draining", this.ctx.now());
      this.ctx.log.info({ [this.noun]: id }, `${this.noun} draining`);
      ch.reply(m, "ack", {});
    });
  }

  /** The member registered on this very connection. */
  registeredOn(ch: Channel): boolean {
    return this.links.get(ch.peerId) === ch && !ch.closed;
  }

  /**
   * Where to send a member a request: its own link, or a connection of ours when a peer told us
   * of it. undefined when its link has closed (it is then marked dead and its slot released).
   */
  reach(e: ServerEntry): Channel | Peer | undefined {
    const link = this.links.get(e.id);
    if (link === undefined) return this.dialed.get(e.url);
    return this.disconnected(e) ? undefined : link;
  }

  /** Its own link has closed: it is marked dead and its slot released. */
  disconnected(e: ServerEntry): boolean {
    const link = this.links.get(e.id);
    if (link === undefined || !link.closed) return false;
    this.table.release(e);
    this.table.setStatus(e.id, "dead", this.ctx.now());
    return true;
  }

  /** A connection closed: the members registered on it are dead until they report again. */
  onClose(ch: Channel): void {
    if (!hasRole(ch.principal, this.memberRole)) return; // only a member's connection holds links
    for (const [id, c] of this.links) {
      if (c !== ch) continue;
      this.links.delete(id);
      this.table.setStatus(id, "dead", this.ctx.now());
      this.ctx.log.info({ [this.noun]: id }, `${this.noun} left`);
    }
  }

  rows(): ServerStatusRow[] {
    const now = this.ctx.now();
    return [...this.table.all()].map((e) => {
      // The ticket key is for allocators only: status is for people.
      const { ticketKey: _key, ...report } = toReport(e);
      const ejected = e.outlier.ejectedUntil !== 0 ? { ejectedForMs: Math.max(0, e.outlier.ejectedUntil - now) } : {};
      const ramp = e.outlier.ejectedUntil === 0 && e.limit < e.capacity ? { rampLimit: e.limit } : {};
      return { ...report, status: e.status, reserved: e.reserved, ageMs: Math.max(0, now - e.updatedAt), ...ejected, ...ramp };
    });
  }

  stop(): void {
    this.stopExpiry();
    this.dialed.close();
  }
}

/** Fresh client, user and task-type tables. */
export function newTables(): Tables {
  return { client: new AttrTable(), user: new AttrTable(), "task-type": new AttrTable() };
}

export function allEntries(tables: Tables): AttrTables {
  return { client: tables.client.all(), user: tables.user.all(), "task-type": tables["task-type"].all() };
}

/**
 * `attrs.set` or `attrs.unset` at an allocator: change the entry, stamp it, tell the set's peers
 * (the whole entry travels, so a removal spreads as a set does), ack.
 */
export function onAttrsSet(m: Extract<Message, { type: "attrs.set" | "attrs.unset" }>, ch: Channel, ctx: RoleContext, tables: Tables, sync: PeerSync): void {
  const t = m.body.table;
  if (t === "server") return ch.replyError(m, new AllotError(ErrorCode.INVALID, `server attributes belong to the app server: send ${m.type} to it`));
  const table = tables[t];
  let e;
  try {
    e = m.type === "attrs.set" ? table.set(m.body.id, m.body.attrs, ctx.now(), ctx.id) : table.unset(m.body.id, m.body.keys, ctx.now(), ctx.id);
  } catch (err) {
    if (err instanceof TableFullError) return ch.replyError(m, new AllotError(ErrorCode.OVERLOADED, `${t} table: ${err.message}`, { retryable: false }));
    throw err;
  }
  if (e !== undefined) sync.changedEntry(t, e);
  ch.reply(m, "ack", {});
}

/** Why an allocator cannot place yet (its /readyz), or undefined when its table holds a live entry. */
export function noLiveServer(table: ServerTable, what: string): string | undefined {
  for (const e of table.all()) if (e.status !== "dead") return undefined;
  return `knows no live ${what} (${table.size} in its table)`;
}
