import type { ServerReport, ServerStatus } from "../protocol/index.js";
import { FreeIndex, delayBucketOf, idleBucketOf } from "./free-index.js";
import { HashRing } from "./hash-ring.js";
import { IdleQueue } from "./idle-queue.js";
import { NO_OUTLIER, eject, mayEject, newOutlierState, observeFailures, release, shouldEject, validateOutlier } from "./outlier.js";
import type { OutlierConfig, OutlierState } from "./outlier.js";
import { SeatVerdicts } from "./seat-verdicts.js";
import { rampLimit, validateSlowStart } from "./slow-start.js";

export type { ServerStatus };

/**
 * An app server as an allocator knows it: the newest report plus local bookkeeping. Every entry
 * has the same fields (`periodMs` 0 where the server promised no period), so V8 keeps one shape
 * for all of them and the hot path reads them with monomorphic loads.
 */
export interface ServerEntry extends Omit<ServerReport, "periodMs" | "failures" | "draining"> {
  /** The promised report period, 0 for none. */
  periodMs: number;
  /** The server's newest count of runs failed in a row (not by the handler's own error); 0 when it sent none. */
  failures: number;
  /**
   * The slots this allocator may fill on it: its capacity, less while it ramps up after coming
   * back (slow start), 0 while it is ejected. What `freeSlots` counts from.
   */
  limit: number;
  /** Its outlier record (ejections) at this allocator. */
  outlier: OutlierState;
  /** When its slow start began (ms); meaningful while it is in the table's ramp set. */
  rampFrom: number;
  status: ServerStatus;
  /** Slots this allocator handed out that the server's reports may not show yet. */
  reserved: number;
  /** When the newest report was applied (ms, from the injected clock). */
  updatedAt: number;
  /** Its number in this table, unique among the entries held (the free indexes key it by this); -1 once removed. */
  seat: number;
  /**
   * While it is idle (alive, nothing running or reserved): a stamp that orders it by when it
   * went idle, for the idle queues. 0 while it is not.
   */
  idleSince: number;
}

export type ApplyResult = "new" | "updated" | "stale";

/**
 * Ids of removed entries remembered, with the version each was removed at, so that a stale copy
 * (a peer's sync) does not bring one back; past this many the oldest are forgotten.
 */
export const MAX_REMOVED = 100_000;

/** Distinct application lists a table shares among its entries; entries with a list past these hold their own. */
export const MAX_APP_SETS = 1024;

/** (incarnation, seq) order: -1, 0 or 1. */
export function compareVersion(a: readonly [number, number], b: readonly [number, number]): number {
  return a[0] !== b[0] ? Math.sign(a[0] - b[0]) : Math.sign(a[1] - b[1]);
}

/** Free slots counting this allocator's reservations, within what it may give the server now (`limit`). */
export function freeSlots(e: ServerEntry): number {
  return e.limit - e.load - e.reserved;
}

/** How a table treats servers that fail runs (outlier ejection) and servers that come back (slow start). Default: neither. */
export interface ServerTableOptions {
  outlier?: OutlierConfig;
  /** The slow-start window, ms; 0 (default) gives a returning server its whole capacity at once. */
  slowStartMs?: number;
  /** Told when a server is ejected or returns to selection (for a log line). */
  onOutlier?: (e: ServerEntry, event: "ejected" | "returned", now: number) => void;
}

/** Idle computing power: the share of the server's power not taken by running or reserved tasks. */
export function idlePower(e: ServerEntry): number {
  return (e.power * Math.max(0, freeSlots(e))) / e.capacity;
}

/**
 * The attribute database of application servers, indexed by application so a decision reads
 * only the servers that offer the task's application. Pure: time comes in as `now`.
 */
export class ServerTable {
  private readonly byId = new Map<string, ServerEntry>();
  private readonly byApp = new Map<string, ServerEntry[]>();
  /**
   * Entries that promised a period, grouped by period, each group in the order of last refresh
   * (a refresh moves the entry to the end). `expire` then reads only the entries old enough to
   * change status, not the whole table.
   */
  private readonly byPeriod = new Map<number, Map<string, ServerEntry>>();
  /**
   * Per application, the live entries with a free slot, by free share of capacity; and the same
   * entries by a task's expected delay, and by idle computing power; and the idle ones in the
   * order they went idle. Each is
   * built when a policy first asks for it, then kept current: a table pays only for the orders
   * its policies read.
   */
  private readonly free = new Map<string, FreeIndex<ServerEntry>>();
  private readonly byDelay = new Map<string, FreeIndex<ServerEntry>>();
  private readonly byIdle = new Map<string, FreeIndex<ServerEntry>>();
  private readonly idle = new Map<string, IdleQueue<ServerEntry>>();
  /** Seats handed out, and those of removed entries, free to reuse (so the indexes' seat arrays stay as large as the fleet). */
  private seats = 0;
  private readonly freeSeats: number[] = [];
  /** Application lists entries share (`appSet`). */
  private readonly appSets = new Map<string, string[]>();
  /** Verdicts by seat of the constraint sets decisions sample with (`seatVerdicts`). */
  private readonly verdicts = new SeatVerdicts();
  /** The last idle stamp handed out. */
  private idleStamp = 0;
  /**
   * Per application, the highest power of its servers: the bound a policy that samples servers in
   * proportion to power rejects draws against. Raised at once; when the server holding it lowers
   * its power or leaves, the application is marked in `powerStale` and the bound found again at
   * the next ask. Never lowered, one server that once reported a huge power would make every
   * weighted decision after it walk all the application's servers.
   */
  private readonly powerBound = new Map<string, number>();
  private readonly powerStale = new Set<string>();
  /** Per application, a consistent-hash ring of its servers, built when first asked for. */
  private readonly rings = new Map<string, HashRing<ServerEntry>>();
  /**
   * Dead entries, by id, with when each was marked dead, in that order: `removeDead` reads only
   * the ones dead longest.
   */
  private readonly dead = new Map<string, number>();
  /** Removed entries' ids with their last version, oldest removal first (at most MAX_REMOVED). */
  private readonly removed = new Map<string, [number, number]>();
  private readonly outlier: OutlierConfig;
  private readonly slowStartMs: number;
  private readonly onOutlier: ServerTableOptions["onOutlier"];
  /** The ejected entries, and the soonest an ejection ends: `tick` reads them only from then. */
  private readonly ejected = new Set<ServerEntry>();
  private nextRelease = Infinity;
  /** The entries in their slow start: `tick` raises their limits. */
  private readonly ramping = new Set<ServerEntry>();
  /** When the first report came: servers new to the table within the first window do not ramp (a restarted allocator's fleet). */
  private firstReportAt: number | undefined;

  constructor(options: ServerTableOptions = {}) {
    this.outlier = options.outlier ?? NO_OUTLIER;
    validateOutlier(this.outlier);
    this.slowStartMs = options.slowStartMs ?? 0;
    validateSlowStart(this.slowStartMs);
    this.onOutlier = options.onOutlier;
  }

  get size(): number {
    return this.byId.size;
  }

  /**
   * The list without repeats, as one array shared by every entry with the same list (up to
   * MAX_APP_SETS lists): filing an entry reads its applications on every reservation, and at
   * 100,000 servers an array of its own (and its elements) was two cache misses each time.
   * Entries never change the array they hold; a new report brings a new one.
   */
  private appSet(apps: readonly string[]): string[] {
    const list = distinct(apps);
    const key = JSON.stringify(list);
    const shared = this.appSets.get(key);
    if (shared !== undefined) return shared;
    // A copy, never the report's own array: a caller that reuses or changes it must not move our indexes.
    const own = list === apps ? [...list] : list;
    if (this.appSets.size < MAX_APP_SETS) this.appSets.set(key, own);
    return own;
  }

  get(id: string): ServerEntry | undefined {
    return this.byId.get(id);
  }

  all(): IterableIterator<ServerEntry> {
    return this.byId.values();
  }

  /** Servers offering `app`, any status; callers filter. */
  offering(app: string): readonly ServerEntry[] {
    return this.byApp.get(app) ?? [];
  }

  /**
   * The highest power of the servers offering `app` (any status); 0 when none offers it. Read on
   * every weighted decision: after the server that held it lowers its power or leaves, the first
   * read finds it again among the application's servers (one pass), the rest are a lookup.
   */
  maxPower(app: string): number {
    if (this.powerStale.size > 0 && this.powerStale.has(app)) {
      this.powerStale.delete(app);
      let max = 0;
      for (const e of this.byApp.get(app) ?? []) if (e.power > max) max = e.power;
      if (max > 0) this.powerBound.set(app, max);
      else this.powerBound.delete(app);
    }
    return this.powerBound.get(app) ?? 0;
  }

  /** Every server offering `app` on a consistent-hash ring (any status: callers filter). */
  ring(app: string): HashRing<ServerEntry> {
    let r = this.rings.get(app);
    if (!r) this.rings.set(app, (r = HashRing.of(this.offering(app))));
    return r;
  }

  /**
   * The live servers offering `app` that have a free slot, idlest first: what a decision reads.
   * The first call for an application reads its servers once; after that the index is kept
   * current on every change.
   */
  available(app: string): FreeIndex<ServerEntry> | undefined {
    return this.freeIndex(this.free, app, undefined);
  }

  /** The same servers as `available`, shortest expected delay ((load + reserved + 1) / power) first. */
  availableByDelay(app: string): FreeIndex<ServerEntry> | undefined {
    return this.freeIndex(this.byDelay, app, delayBucketOf);
  }

  /** The same servers as `available`, most idle computing power (`idlePower`) first. */
  availableByIdlePower(app: string): FreeIndex<ServerEntry> | undefined {
    return this.freeIndex(this.byIdle, app, idleBucketOf);
  }

  private freeIndex(built: Map<string, FreeIndex<ServerEntry>>, app: string, bucket: ((e: ServerEntry) => number) | undefined): FreeIndex<ServerEntry> | undefined {
    let idx = built.get(app);
    if (!idx) {
      const offering = this.byApp.get(app);
      if (!offering) return undefined;
      built.set(app, (idx = new FreeIndex<ServerEntry>(bucket)));
      for (const e of offering) idx.place(e, isAvailable(e));
    }
    return idx;
  }

  /**
   * Verdicts by seat (`SeatVerdicts`) of the test `key` names, which must read only what a full
   * report sets (attributes, power, capacity, applications, id), never the load: the table
   * forgets a seat's verdicts on every full report of its entry and when the seat changes hands.
   * undefined when the table keeps as many sets as it will and all are in use.
   */
  seatVerdicts(key: string): Int8Array | undefined {
    return this.verdicts.get(key);
  }

  /**
   * The idle servers offering `app`, longest idle first (join-idle-queue). The first call for an
   * application queues its idle servers by when they went idle; after that it is kept current.
   */
  idleQueue(app: string): IdleQueue<ServerEntry> | undefined {
    let q = this.idle.get(app);
    if (!q) {
      const offering = this.byApp.get(app);
      if (!offering) return undefined;
      this.idle.set(app, (q = new IdleQueue<ServerEntry>()));
      for (const e of offering.filter((x) => x.idleSince !== 0).sort((a, b) => a.idleSince - b.idleSince)) q.join(e);
    }
    return q;
  }

  /**
   * Applies a report if it is newer than what is held; an older or equal version changes nothing.
   * A report of a removed entry registers it again only if it is newer than the entry was.
   */
  apply(r: ServerReport, now: number): ApplyResult {
    const periodMs = r.periodMs ?? 0;
    const cur = this.byId.get(r.id);
    if (!cur) {
      const gone = this.removed.get(r.id);
      if (gone !== undefined) {
        if (compareVersion(r.version, gone) <= 0) return "stale";
        this.removed.delete(r.id);
      }
      // What a decision reads of a server it takes comes first, near the object's start: at 100,000 servers each cache line of an entry read is a miss.
      const e: ServerEntry = { status: r.draining === true ? "draining" : "alive", load: r.load, reserved: 0, limit: r.capacity, capacity: r.capacity, power: r.power, seat: this.freeSeats.pop() ?? this.seats++, apps: this.appSet(r.apps), attrs: r.attrs, idleSince: 0, id: r.id, url: r.url, version: r.version, periodMs, failures: r.failures ?? 0, outlier: newOutlierState(), rampFrom: 0, updatedAt: now, ...(r.ticketKey !== undefined ? { ticketKey: r.ticketKey } : {}) };
      this.verdicts.forget(e.seat); // the seat's last entry's verdicts are not this one's
      this.firstReportAt ??= now;
      this.byId.set(r.id, e);
      this.index(e);
      this.refreshed(e, 0);
      // A server new to a table that has been up a while is joining a running fleet: it ramps.
      if (now - this.firstReportAt >= this.slowStartMs) this.startRamp(e, now);
      this.judge(e, now);
      this.place(e);
      return "new";
    }
    if (compareVersion(r.version, cur.version) <= 0) return "stale";
    // A full report may change anything a constraint reads but the load.
    this.verdicts.forget(cur.seat);
    const reborn = cur.version[0] !== r.version[0];
    if (reborn) cur.reserved = 0; // a new incarnation holds none of our reservations
    if (!sameApps(cur.apps, r.apps)) {
      this.unindex(cur);
      cur.apps = this.appSet(r.apps);
      this.index(cur);
    } else cur.apps = this.appSet(r.apps); // the same set, maybe in another order: its places in the indexes stand
    const oldPeriod = cur.status === "dead" ? 0 : cur.periodMs;
    const revived = cur.status === "dead";
    if (revived) this.dead.delete(cur.id);
    cur.url = r.url;
    cur.capacity = r.capacity;
    if (r.power < cur.power) this.powerMayFall(cur);
    cur.power = r.power;
    this.notePower(cur);
    cur.load = r.load;
    cur.attrs = r.attrs;
    cur.version = r.version;
    if (r.ticketKey !== undefined) cur.ticketKey = r.ticketKey;
    else delete cur.ticketKey;
    cur.periodMs = periodMs;
    cur.failures = r.failures ?? 0;
    // A draining server says so in every full report until it leaves; a new incarnation does not.
    cur.status = r.draining === true ? "draining" : "alive";
    cur.updatedAt = now;
    this.refreshed(cur, oldPeriod);
    // A restarted server (its count starts again) is given its chance at once, with a ramp.
    if (reborn) this.unEject(cur, now);
    if (reborn || revived) this.startRamp(cur, now);
    this.judge(cur, now);
    this.place(cur);
    return "updated";
  }

  /**
   * A report of the load alone (`server.load`): everything else stays as the entry's last full
   * report, of the same incarnation. Like `apply`, it revives a suspect or dead entry and
   * refreshes its expiry. undefined when there is no entry, or it is of another incarnation: only
   * a full report can tell what that one offers.
   */
  refresh(id: string, load: number, version: readonly [number, number], now: number): ApplyResult | undefined {
    const e = this.byId.get(id);
    if (!e || e.version[0] !== version[0]) return undefined;
    if (version[1] <= e.version[1]) return "stale";
    if (e.status === "dead") {
      this.dead.delete(id);
      this.startRamp(e, now);
    }
    // Before take: it then files the entry under its period again. A load figure does not end a drain.
    if (e.status !== "draining") e.status = "alive";
    this.take(e, load, version, now);
    this.place(e);
    return "updated";
  }

  /**
   * Ages entries of servers that promised periodic reports: silent for more than 2 periods →
   * `suspect`, more than 5 → `dead`. Neither is ever selected; a newer report revives either.
   * Returns the entries whose status changed. Reads only the entries past 2 periods (plus one
   * per period group), so it may run often.
   */
  expire(now: number): ServerEntry[] {
    const changed: ServerEntry[] = [];
    for (const [period, group] of this.byPeriod) {
      for (const e of group.values()) {
        const age = now - e.updatedAt;
        if (age <= 2 * period) break; // the rest of the group was refreshed later
        const next: ServerStatus = age > 5 * period ? "dead" : "suspect";
        if (next === "dead") group.delete(e.id);
        // A draining server still reports: silent, it is dead like any other (suspect would change nothing).
        if ((e.status === "draining" && next !== "dead") || next === e.status) continue;
        if (next === "dead") this.dead.set(e.id, now);
        e.status = next;
        this.place(e);
        changed.push(e);
      }
      if (group.size === 0) this.byPeriod.delete(period);
    }
    return changed;
  }

  /**
   * Sets an entry's status. `now` is when it happens, which a dead entry's retention counts from;
   * default the time of its newest report.
   */
  setStatus(id: string, status: ServerStatus, now?: number): void {
    const e = this.byId.get(id);
    if (!e) return;
    if (status === "dead" && e.status !== "dead") {
      this.byPeriod.get(e.periodMs)?.delete(id);
      this.dead.set(id, now ?? e.updatedAt);
    } else if (status !== "dead" && e.status === "dead") {
      this.dead.delete(id);
      this.refreshed(e, 0);
      if (status === "alive") this.startRamp(e, now ?? e.updatedAt);
    }
    e.status = status;
    this.place(e);
  }

  /**
   * Takes an entry out of the table at once, whatever its status (a drained server that left):
   * as for an entry dead past retention, a copy no newer than it (a peer's sync) does not bring
   * it back, while a newer report (its next incarnation) registers it afresh.
   */
  remove(id: string): ServerEntry | undefined {
    const e = this.byId.get(id);
    if (!e) return undefined;
    this.dead.delete(id);
    e.status = "dead";
    this.place(e); // out of the free indexes and idle queues
    this.removeAll([e]);
    return e;
  }

  /**
   * Removes the entries dead for more than `retentionMs` (at most `limit` per call), except those
   * `keep` holds on to, and returns them. Each leaves every index; its id is remembered with its
   * version, so a copy of the entry no newer than that (a peer's sync) is ignored, while a newer
   * report registers it afresh. Reads only the entries dead longest, so it may run often.
   */
  removeDead(now: number, retentionMs: number, keep?: (e: ServerEntry) => boolean, limit = 10_000): ServerEntry[] {
    const out: ServerEntry[] = [];
    for (const [id, since] of this.dead) {
      if (now - since <= retentionMs || out.length >= limit) break; // the rest died later
      const e = this.byId.get(id);
      if (e === undefined || e.status !== "dead") {
        this.dead.delete(id); // not dead any more: only a missed revival could leave it here
        continue;
      }
      if (keep?.(e) === true) continue;
      this.dead.delete(id);
      out.push(e);
    }
    if (out.length > 0) this.removeAll(out);
    return out;
  }

  /**
   * Takes dead entries out of the table and every index, in one pass per application touched.
   * The entries stay `dead`: a caller still holding one (a pending confirm or release) may
   * re-file it, and a dead entry is filed nowhere.
   */
  private removeAll(entries: readonly ServerEntry[]): void {
    const gone = new Set(entries);
    const apps = new Set<string>();
    for (const e of entries) {
      this.byId.delete(e.id);
      this.ejected.delete(e);
      this.ramping.delete(e);
      this.byPeriod.get(e.periodMs)?.delete(e.id);
      this.removed.delete(e.id);
      this.removed.set(e.id, [e.version[0], e.version[1]]);
      this.powerMayFall(e);
      for (const app of e.apps) {
        apps.add(app);
        this.free.get(app)?.remove(e);
        this.byDelay.get(app)?.remove(e);
        this.byIdle.get(app)?.remove(e);
      }
    }
    // Out of every index now, and seatless: a caller still holding one that re-files it changes nothing.
    for (const e of entries) {
      this.freeSeats.push(e.seat);
      e.seat = -1;
    }
    for (const k of this.removed.keys()) {
      if (this.removed.size <= MAX_REMOVED) break;
      this.removed.delete(k);
    }
    for (const app of apps) {
      this.rings.get(app)?.removeAll(gone);
      const list = this.byApp.get(app);
      if (!list) continue;
      const kept = list.filter((e) => !gone.has(e));
      if (kept.length === 0) this.dropApp(app);
      else this.byApp.set(app, kept);
    }
  }

  /**
   * Returns ejected servers whose time is up to selection (with a slow start) and raises the
   * limits of the servers in their slow start. Reads only those: it may run often.
   */
  tick(now: number): void {
    if (now >= this.nextRelease) {
      this.nextRelease = Infinity;
      for (const e of this.ejected) {
        if (release(e.outlier, now)) {
          this.ejected.delete(e);
          this.startRamp(e, now);
          this.place(e);
          this.onOutlier?.(e, "returned", now);
        } else if (e.outlier.ejectedUntil < this.nextRelease) this.nextRelease = e.outlier.ejectedUntil;
      }
    }
    for (const e of this.ramping) {
      const limit = this.limitOf(e, now);
      if (limit === e.capacity) this.ramping.delete(e);
      if (limit !== e.limit) {
        e.limit = limit;
        this.place(e);
      }
    }
  }

  /**
   * A live server in its slow start that offers `app`, meets `ok` and has a slot free within its
   * capacity though not within its ramp, the freest first: for a decision that found every other
   * server full. Reads only the servers in their ramp.
   */
  pastRamp(app: string, ok: (e: ServerEntry) => boolean): ServerEntry | undefined {
    let best: ServerEntry | undefined;
    for (const e of this.ramping) {
      if (e.status !== "alive" || e.outlier.ejectedUntil !== 0 || !e.apps.includes(app)) continue;
      const free = e.capacity - e.load - e.reserved;
      if (free <= 0 || !ok(e)) continue;
      if (best === undefined || free / e.capacity > (best.capacity - best.load - best.reserved) / best.capacity) best = e;
    }
    return best;
  }

  /** Ejected entries held now. */
  get ejectedCount(): number {
    return this.ejected.size;
  }

  /** What the table may give `e` at `now`: 0 while ejected, its ramp while in slow start, else its capacity. */
  private limitOf(e: ServerEntry, now: number): number {
    if (e.outlier.ejectedUntil !== 0) return 0;
    return this.ramping.has(e) ? rampLimit(e.capacity, now - e.rampFrom, this.slowStartMs) : e.capacity;
  }

  /** Starts `e`'s slow start (again) at `now`, when the table has one. The caller re-files `e`. */
  private startRamp(e: ServerEntry, now: number): void {
    if (this.slowStartMs > 0) {
      e.rampFrom = now;
      this.ramping.add(e);
    }
    e.limit = this.limitOf(e, now);
  }

  /** Ends an ejection early (a new incarnation). The caller re-files `e`. */
  private unEject(e: ServerEntry, now: number): void {
    if (e.outlier.ejectedUntil === 0) return;
    e.outlier.ejectedUntil = now;
    release(e.outlier, now);
    this.ejected.delete(e);
    this.onOutlier?.(e, "returned", now);
  }

  /**
   * Takes `e`'s newest failure count in and ejects it if the count calls for it and the fleet
   * allows it; sets its limit either way. The caller re-files `e`. Reads the servers of its
   * applications only when the count reaches the threshold, not on every report.
   */
  private judge(e: ServerEntry, now: number): void {
    observeFailures(e.outlier, e.failures, now, this.outlier);
    if (shouldEject(e.outlier, e.failures, this.outlier) && this.ejectable(e)) {
      const until = eject(e.outlier, e.failures, now, this.outlier);
      this.ejected.add(e);
      this.ramping.delete(e);
      if (until < this.nextRelease) this.nextRelease = until;
      this.onOutlier?.(e, "ejected", now);
    }
    e.limit = this.limitOf(e, now);
  }

  /** Whether ejecting `e` keeps every application it offers within the cap on its live servers ejected at once. */
  private ejectable(e: ServerEntry): boolean {
    for (const app of e.apps) {
      let fleet = 0;
      let out = 0;
      for (const x of this.offering(app)) {
        if (x.status === "dead") continue;
        fleet++;
        if (x.outlier.ejectedUntil !== 0) out++;
      }
      if (!mayEject(fleet, out, this.outlier.maxEjectedPercent)) return false;
    }
    return true;
  }

  /** Records that this allocator sent a task to `id` (or a lease of `n` slots), so the next decision sees the slots taken. */
  reserve(e: ServerEntry, n = 1): void {
    e.reserved += n;
    this.place(e);
  }

  /**
   * The server acknowledged `n` reservations (one, or a batch's) and told its load at that moment,
   * which already counts them: drop our reservations, and take the load if its version is the
   * newest seen.
   */
  confirm(server: ServerEntry | string, load: number, version: readonly [number, number], now: number, n = 1): void {
    const e = this.entry(server);
    if (!e) return;
    e.reserved = Math.max(0, e.reserved - n);
    this.take(e, load, version, now);
    this.place(e); // once, for both changes
  }

  /** A load figure the member sent outside a report (a slave's queue with its request): taken if it is the newest seen. */
  observe(id: string, load: number, version: readonly [number, number], now: number): void {
    const e = this.byId.get(id);
    if (e && this.take(e, load, version, now)) this.place(e);
  }

  /**
   * An entry of this table, or the entry of an id. A caller that holds the entry a decision
   * returned passes it: entries are kept (and updated in place) for the table's life, and at
   * 100,000 servers the id's lookup was a third of an idle-queue decision.
   */
  private entry(server: ServerEntry | string): ServerEntry | undefined {
    return typeof server === "string" ? this.byId.get(server) : server;
  }

  /** Takes a newer load figure into `e`; says whether it was newer. The caller re-files `e`. */
  private take(e: ServerEntry, load: number, version: readonly [number, number], now: number): boolean {
    if (compareVersion(version, e.version) <= 0) return false;
    e.load = load;
    e.version = [version[0], version[1]];
    e.updatedAt = now;
    if (e.status === "suspect") e.status = "alive"; // it answered, so it is not silent
    if (e.status !== "dead") this.refreshed(e, e.periodMs);
    return true;
  }

  /** `n` reservations (one, or a batch's) that will not reach the server (it refused or could not be told). */
  release(server: ServerEntry | string, n = 1): void {
    const e = this.entry(server);
    if (e && e.reserved > 0 && n > 0) {
      e.reserved = Math.max(0, e.reserved - n);
      this.place(e);
    }
  }

  /**
   * Files `e` under each of its applications as available (alive, a free slot) or not, and as
   * idle or not: an entry that goes idle gets a new stamp and joins the back of the idle queues.
   */
  private place(e: ServerEntry): void {
    const available = isAvailable(e);
    const idle = available && e.load + e.reserved === 0;
    const joins = idle && e.idleSince === 0;
    const leaves = !idle && e.idleSince !== 0;
    if (joins) e.idleSince = ++this.idleStamp;
    else if (leaves) e.idleSince = 0;
    for (const app of e.apps) {
      this.free.get(app)?.place(e, available);
      this.byDelay.get(app)?.place(e, available);
      this.byIdle.get(app)?.place(e, available);
      if (joins) this.idle.get(app)?.join(e);
      else if (leaves) this.idle.get(app)?.leave();
    }
  }

  /** Moves `e` to the end of its period group (out of `oldPeriod`'s), as the newest refreshed. */
  private refreshed(e: ServerEntry, oldPeriod: number): void {
    if (oldPeriod > 0) this.byPeriod.get(oldPeriod)?.delete(e.id);
    if (e.periodMs <= 0) return;
    let group = this.byPeriod.get(e.periodMs);
    if (!group) this.byPeriod.set(e.periodMs, (group = new Map()));
    group.delete(e.id);
    group.set(e.id, e);
  }

  private notePower(e: ServerEntry): void {
    for (const app of e.apps) if (e.power > (this.powerBound.get(app) ?? 0)) this.powerBound.set(app, e.power);
  }

  /** `e` is about to lower its power or leave its applications: a bound it held is found again when next read. */
  private powerMayFall(e: ServerEntry): void {
    for (const app of e.apps) if (e.power >= (this.powerBound.get(app) ?? 0)) this.powerStale.add(app);
  }

  private index(e: ServerEntry): void {
    this.notePower(e);
    for (const app of e.apps) {
      let list = this.byApp.get(app);
      if (!list) this.byApp.set(app, (list = []));
      list.push(e);
      this.rings.get(app)?.add(e);
    }
  }

  /** Takes `e` out of its applications' indexes; an idle entry joins its new ones' idle queues afresh. */
  private unindex(e: ServerEntry): void {
    this.powerMayFall(e);
    if (e.idleSince !== 0) {
      for (const app of e.apps) this.idle.get(app)?.leave();
      e.idleSince = 0;
    }
    for (const app of e.apps) {
      this.free.get(app)?.remove(e);
      this.byDelay.get(app)?.remove(e);
      this.byIdle.get(app)?.remove(e);
      this.rings.get(app)?.remove(e);
      const list = this.byApp.get(app);
      if (!list) continue;
      const i = list.indexOf(e);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) this.dropApp(app);
    }
  }

  /**
   * No server offers `app` any more: everything kept for it goes (a later server offering it
   * builds it again when asked). Otherwise a server renaming its applications on every report
   * would leave its power bound, and the indexes decisions built, behind for each name it used.
   */
  private dropApp(app: string): void {
    this.byApp.delete(app);
    this.powerBound.delete(app);
    this.powerStale.delete(app);
    this.free.delete(app);
    this.byDelay.delete(app);
    this.byIdle.delete(app);
    this.idle.delete(app);
    this.rings.delete(app);
  }
}

/** Live with a free slot: what a decision may choose. */
function isAvailable(e: ServerEntry): boolean {
  return e.status === "alive" && freeSlots(e) > 0;
}

/**
 * Lists up to this long are compared by scanning (cheaper than a Set for the one or few
 * applications a server offers); longer ones through a Set, so that a report at the protocol's
 * bound of 256 names costs linear time, not 65,536 string comparisons.
 */
const SCAN_APPS = 16;

/** The list without repeats (the same array when it has none), so each application indexes an entry once. */
function distinct(apps: readonly string[]): string[] {
  if (apps.length > SCAN_APPS) {
    const set = new Set(apps);
    return set.size === apps.length ? (apps as string[]) : [...set];
  }
  for (let i = 1; i < apps.length; i++) if (apps.indexOf(apps[i] as string) < i) return [...new Set(apps)];
  return apps as string[];
}

/** The same applications, whatever the order or repeats. */
function sameApps(a: readonly string[], b: readonly string[]): boolean {
  if (a.length > SCAN_APPS || b.length > SCAN_APPS) {
    const sa = new Set(a);
    const sb = new Set(b);
    if (sa.size !== sb.size) return false;
    for (const x of sa) if (!sb.has(x)) return false;
    return true;
  }
  return a.every((x) => b.includes(x)) && b.every((x) => a.includes(x));
}
