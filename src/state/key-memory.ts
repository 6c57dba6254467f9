/** One remembered placement: the server a client's key went to, until `expiresAt`. */
interface KeyPlacement {
  readonly client: string;
  readonly key: string;
  server: string;
  expiresAt: number;
  /** Bumped on every placement: an order record with an older stamp is stale. */
  stamp: number;
}

export interface KeyMemoryOptions {
  /** How long a placement is remembered, ms. */
  windowMs: number;
  /** Placements remembered in all. */
  maxTotal: number;
  /** Placements remembered for one client: past it, that client's oldest goes (never another client's). */
  maxPerClient: number;
}

export const DEFAULT_KEY_MEMORY: KeyMemoryOptions = { windowMs: 300_000, maxTotal: 100_000, maxPerClient: 10_000 };

/** Why placements left the memory: their window passed, or a bound pushed them out. */
export interface KeyMemoryCounts {
  remembered: number;
  expired: number;
  evictedTotal: number;
  evictedClient: number;
}

const slot = (client: string, key: string): string => `${client}\u0000${key}`;

/**
 * Placements in the order they were made, oldest first: a queue of (slot, stamp) records, where
 * a record whose entry has been placed again since (a newer stamp) or dropped is stale and
 * skipped. Reading the oldest is amortised O(1) — a Map's first key is not: its iterator walks
 * every entry deleted since the last rehash — and the queue is rebuilt from the live entries
 * when stale records outnumber them, so it stays within a small multiple of them.
 */
class Order {
  private slots: string[] = [];
  private stamps: number[] = [];
  private head = 0;

  push(k: string, stamp: number, live: number, entries: ReadonlyMap<string, KeyPlacement>): void {
    this.slots.push(k);
    this.stamps.push(stamp);
    if (this.slots.length - this.head > 2 * live + 64) this.rebuild(entries);
  }

  /** The oldest live entry (and its slot), passing over stale records; undefined when none is left. */
  oldest(entries: ReadonlyMap<string, KeyPlacement>): [string, KeyPlacement] | undefined {
    while (this.head < this.slots.length) {
      const k = this.slots[this.head] as string;
      const e = entries.get(k);
      if (e !== undefined && e.stamp === this.stamps[this.head]) return [k, e];
      this.advance();
    }
    return undefined;
  }

  /** Takes the oldest record off (after `oldest` returned it). */
  advance(): void {
    this.head++;
    if (this.head >= 1024 && this.head * 2 >= this.slots.length) {
      this.slots = this.slots.slice(this.head);
      this.stamps = this.stamps.slice(this.head);
      this.head = 0;
    }
  }

  private rebuild(entries: ReadonlyMap<string, KeyPlacement>): void {
    const live: Array<[string, KeyPlacement]> = [];
    for (let i = this.head; i < this.slots.length; i++) {
      const k = this.slots[i] as string;
      const e = entries.get(k);
      if (e !== undefined && e.stamp === this.stamps[i]) live.push([k, e]);
    }
    this.slots = live.map(([k]) => k);
    this.stamps = live.map(([, e]) => e.stamp);
    this.head = 0;
  }
}

/**
 * An allocator's memory of which server each (client, key) was placed on, for a window: a
 * repeat of a key goes where its first run is, or ran, so the server's single flight and result
 * store answer it instead of a second run. Bounded in time, in count, and per client, so a
 * client that invents keys pushes out only its own. Pure: time comes in as `now`. A lookup is
 * one Map get; a placement a few Map operations and no scan.
 */
export class KeyMemory {
  private readonly all = new Map<string, KeyPlacement>();
  private readonly order = new Order();
  private readonly byClient = new Map<string, { size: number; order: Order }>();
  private stamp = 0;
  // The slot of the last lookup: a placement follows its lookup, and need not build it again.
  private lastClient = "";
  private lastKey = "";
  private lastSlot = slot("", "");
  readonly counts: KeyMemoryCounts = { remembered: 0, expired: 0, evictedTotal: 0, evictedClient: 0 };

  constructor(readonly options: KeyMemoryOptions = DEFAULT_KEY_MEMORY) {
    const { windowMs, maxTotal, maxPerClient } = options;
    if (!(windowMs >= 0) || !Number.isFinite(windowMs)) throw new RangeError(`the key window must be a finite number of ms >= 0, got ${windowMs}`);
    if (!Number.isInteger(maxTotal) || maxTotal < 1) throw new RangeError(`maxTotal must be an integer >= 1, got ${maxTotal}`);
    if (!Number.isInteger(maxPerClient) || maxPerClient < 1) throw new RangeError(`maxPerClient must be an integer >= 1, got ${maxPerClient}`);
  }

  get size(): number {
    return this.all.size;
  }

  private slotOf(client: string, key: string): string {
    if (client !== this.lastClient || key !== this.lastKey) {
      this.lastClient = client;
      this.lastKey = key;
      this.lastSlot = slot(client, key);
    }
    return this.lastSlot;
  }

  /** The server `client`'s `key` was placed on, while its window lasts. */
  get(client: string, key: string, now: number): string | undefined {
    const k = this.slotOf(client, key);
    const e = this.all.get(k);
    if (e === undefined) return undefined;
    if (e.expiresAt <= now) {
      this.drop(e, k);
      this.counts.expired++;
      return undefined;
    }
    return e.server;
  }

  /**
   * Remembers that `client`'s `key` went to `server`, for `ttlMs` (at most the window: a peer's
   * figure cannot stretch it), as the newest entry.
   */
  set(client: string, key: string, server: string, now: number, ttlMs = this.options.windowMs): void {
    if (this.options.windowMs === 0) return;
    const expiresAt = now + Math.min(Math.max(0, ttlMs), this.options.windowMs);
    const k = this.slotOf(client, key);
    const stamp = ++this.stamp;
    let mine = this.byClient.get(client);
    if (!mine) this.byClient.set(client, (mine = { size: 0, order: new Order() }));
    let e = this.all.get(k);
    if (e === undefined) {
      e = { client, key, server, expiresAt, stamp };
      this.all.set(k, e);
      mine.size++;
      this.counts.remembered++;
    } else {
      e.server = server;
      e.expiresAt = expiresAt;
      e.stamp = stamp;
    }
    this.order.push(k, stamp, this.all.size, this.all);
    mine.order.push(k, stamp, mine.size, this.all);
    if (mine.size > this.options.maxPerClient && this.dropOldest(mine.order)) this.counts.evictedClient++;
    if (this.all.size > this.options.maxTotal && this.dropOldest(this.order)) this.counts.evictedTotal++;
  }

  /** Drops the entries whose window has passed, oldest first, at most `max` of them; returns how many. */
  sweep(now: number, max = 10_000): number {
    let n = 0;
    while (n < max) {
      const o = this.order.oldest(this.all);
      // Placed here with the same window, entries expire in order; a peer's shorter one may wait a little.
      if (o === undefined || o[1].expiresAt > now) break;
      this.drop(o[1], o[0]);
      n++;
    }
    this.counts.expired += n;
    return n;
  }

  /** The live entries with their remaining time, for a peer that just connected. */
  *entries(now: number): IterableIterator<{ client: string; key: string; server: string; ttlMs: number }> {
    for (const e of this.all.values()) if (e.expiresAt > now) yield { client: e.client, key: e.key, server: e.server, ttlMs: e.expiresAt - now };
  }

  private dropOldest(order: Order): boolean {
    const o = order.oldest(this.all);
    if (o === undefined) return false;
    this.drop(o[1], o[0]);
    return true;
  }

  private drop(e: KeyPlacement, k: string): void {
    this.all.delete(k);
    const mine = this.byClient.get(e.client);
    if (mine !== undefined && --mine.size === 0) this.byClient.delete(e.client);
  }
}
