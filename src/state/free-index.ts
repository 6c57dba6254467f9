/** Buckets of free capacity: bucket b holds entries whose free share of capacity is in [b/B, (b+1)/B). */
export const FREE_BUCKETS = 16;

/** What the index needs to know of an entry. */
export interface Sized {
  capacity: number;
  load: number;
  reserved: number;
}

/** The bucket of an entry with free slots, by the share of its capacity that is free. */
export function bucketOf(e: Sized): number {
  const free = (e.capacity - e.load - e.reserved) / e.capacity;
  return Math.min(FREE_BUCKETS - 1, Math.floor(free * FREE_BUCKETS));
}

/**
 * The live entries of one application that have a free slot, grouped by how much of their
 * capacity is free. Kept current on every change of load, reservation or status, so a decision
 * reads the idlest entries first and stops after enough, instead of scanning every server.
 * Adding, moving and removing an entry are O(1) (swap-remove inside a bucket).
 */
export class FreeIndex<E extends Sized> {
  private readonly buckets: E[][] = Array.from({ length: FREE_BUCKETS }, () => []);
  private readonly at = new Map<E, { b: number; i: number; used: number; capacity: number }>();
  /** Slots in use (load + reservations) and capacity, summed over the entries held. */
  used = 0;
  capacity = 0;
  /** Where the next read of each bucket starts, so equal entries take turns. */
  private readonly cursors = new Array<number>(FREE_BUCKETS).fill(0);

  get size(): number {
    return this.at.size;
  }

  has(e: E): boolean {
    return this.at.has(e);
  }

  /** Puts `e` in the bucket for its current free share, or takes it out (`available` false). */
  place(e: E, available: boolean): void {
    const pos = this.at.get(e);
    const b = available ? bucketOf(e) : -1;
    if (pos !== undefined) {
      this.used -= pos.used;
      this.capacity -= pos.capacity;
      if (pos.b === b) {
        this.count(pos, e);
        return;
      }
      this.removeAt(pos);
      if (b < 0) {
        this.at.delete(e);
        return;
      }
      // Moved, not re-added: the position record is reused, so the map sees no churn.
      const to = this.buckets[b] as E[];
      pos.b = b;
      pos.i = to.length;
      to.push(e);
      this.count(pos, e);
      return;
    }
    if (b < 0) return;
    const bucket = this.buckets[b] as E[];
    const p = { b, i: bucket.length, used: 0, capacity: 0 };
    this.count(p, e);
    this.at.set(e, p);
    bucket.push(e);
  }

  remove(e: E): void {
    this.place(e, false);
  }

  /**
   * Visits entries from the idlest bucket down, each bucket from a rotating start, until `visit`
   * returns false. Every entry is visited at most once per call.
   */
  visit(visit: (e: E) => boolean): void {
    for (let b = FREE_BUCKETS - 1; b >= 0; b--) {
      const bucket = this.buckets[b] as E[];
      const n = bucket.length;
      if (n === 0) continue;
      const start = (this.cursors[b] as number) % n;
      this.cursors[b] = start + 1;
      for (let j = 0; j < n; j++) {
        if (!visit(bucket[(start + j) % n] as E)) return;
      }
    }
  }

  private count(p: { used: number; capacity: number }, e: E): void {
    p.used = e.load + e.reserved;
    p.capacity = e.capacity;
    this.used += p.used;
    this.capacity += p.capacity;
  }

  private removeAt(pos: { b: number; i: number }): void {
    const bucket = this.buckets[pos.b] as E[];
    const last = bucket.pop() as E;
    if (pos.i < bucket.length) {
      bucket[pos.i] = last;
      (this.at.get(last) as { b: number; i: number }).i = pos.i;
    }
  }
}
