/** One remembered placement: the server a client's key went to, until `expiresAt`. */
export interface KeyPlacement {
  readonly client: string;
  readonly key: string;
  server: string;
  expiresAt: number;
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

/** Why a placement left the memory: its window passed, or a bound pushed it out. */
export interface KeyMemoryCounts {
  remembered: number;
  expired: number;
  evictedTotal: number;
  evictedClient: number;
}

const slot = (client: string, key: string): string => `${client}\u0000${key}`;

/**
 * An allocator's memory of which server each (client, key) was placed on, for a window: a
 * repeat of a key goes where its first run is, or ran, so the server's single flight and result
 * store answer it instead of a second run. Bounded in time, in count, and per client, so a
 * client that invents keys pushes out only its own. Pure: time comes in as `now`.
 *
 * Entries are kept in order of their last placement (oldest first), globally and per client, so
 * every bound evicts from the front without a scan; a lookup is one Map get.
 */
export class KeyMemory {
  private readonly all = new Map<string, KeyPlacement>();
  private readonly byClient = new Map<string, Map<string, KeyPlacement>>();
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

  /** The server `client`'s `key` was placed on, while its window lasts. */
  get(client: string, key: string, now: number): string | undefined {
    const k = slot(client, key);
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
    const k = slot(client, key);
    let mine = this.byClient.get(client);
    const old = this.all.get(k);
    if (old !== undefined) {
      // Moved to the back of both orders: it is the newest now.
      this.all.delete(k);
      mine?.delete(k);
    }
    const e: KeyPlacement = old ?? { client, key, server, expiresAt };
    e.server = server;
    e.expiresAt = expiresAt;
    if (!mine) this.byClient.set(client, (mine = new Map()));
    this.all.set(k, e);
    mine.set(k, e);
    if (old === undefined) this.counts.remembered++;
    if (mine.size > this.options.maxPerClient && this.dropOldest(mine)) this.counts.evictedClient++;
    if (this.all.size > this.options.maxTotal && this.dropOldest(this.all)) this.counts.evictedTotal++;
  }

  /** Forgets what a placement said, when it is still `server`'s (its server failed the key). */
  forget(client: string, key: string, server: string): void {
    const k = slot(client, key);
    const e = this.all.get(k);
    if (e !== undefined && e.server === server) this.drop(e, k);
  }

  /** Drops the entries whose window has passed, oldest first, at most `max` of them; returns how many. */
  sweep(now: number, max = 10_000): number {
    let n = 0;
    for (const [k, e] of this.all) {
      if (n >= max) break;
      // Placed here with the same window, entries expire in order; a peer's shorter one may wait a little.
      if (e.expiresAt > now) break;
      this.drop(e, k);
      n++;
    }
    this.counts.expired += n;
    return n;
  }

  /** The live entries with their remaining time, for a peer that just connected. */
  *entries(now: number): IterableIterator<{ client: string; key: string; server: string; ttlMs: number }> {
    for (const e of this.all.values()) if (e.expiresAt > now) yield { client: e.client, key: e.key, server: e.server, ttlMs: e.expiresAt - now };
  }

  private dropOldest(m: Map<string, KeyPlacement>): boolean {
    for (const [k, e] of m) {
      this.drop(e, k);
      return true;
    }
    return false;
  }

  private drop(e: KeyPlacement, k: string): void {
    this.all.delete(k);
    const mine = this.byClient.get(e.client);
    if (!mine) return;
    mine.delete(k);
    if (mine.size === 0) this.byClient.delete(e.client);
  }
}
