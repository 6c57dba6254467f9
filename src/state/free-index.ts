/**
 * Buckets of free capacity: bucket b holds entries whose free share of capacity is in
 * [b/B, (b+1)/B). Fine enough that servers reporting a large capacity (a queue, say 1,000) are
 * still told apart by a few tasks: with 16 buckets, least-loaded and most-idle saw every server
 * with under 62 of 1,000 taken as equal, and `allot sim` showed queues growing to that bound.
 * Empty buckets cost a decision one array-length check each.
 */
export const FREE_BUCKETS = 256;

interface Slot<E = unknown> {
  e: E;
  b: number;
  i: number;
  used: number;
  capacity: number;
  /** The stamp of its current item in the idle queue, 0 while it is not idle. */
  idle: number;
}

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

/** What the delay order needs to know of an entry besides its size. */
export interface Powered extends Sized {
  power: number;
}

/** Delay buckets per doubling of the expected delay: neighbours differ by 2^(1/16), about 4.4%. */
export const DELAY_STEPS_PER_OCTAVE = 16;

/**
 * The bucket of an entry by a task's expected delay on it, (load + reserved + 1) / power, on a
 * log scale: the shortest delay in the highest bucket, as the idlest are in the free order.
 * Delays from 2^-8 to 2^8 mean-task times at power 1 get buckets of their own; shorter and longer
 * ones share the end buckets.
 */
export function delayBucketOf(e: Powered): number {
  const d = (e.load + e.reserved + 1) / e.power;
  const r = Math.floor(DELAY_STEPS_PER_OCTAVE * Math.log2(d)) + FREE_BUCKETS / 2;
  return FREE_BUCKETS - 1 - Math.min(FREE_BUCKETS - 1, Math.max(0, r));
}

/**
 * The live entries of one application that have a free slot, grouped by how much of their
 * capacity is free (or, built with `delayBucketOf`, by a task's expected delay on them). Kept current on every change of load, reservation or status, so a decision
 * reads the idlest entries first and stops after enough, instead of scanning every server.
 * Adding, moving and removing an entry are O(1) (swap-remove inside a bucket).
 */
export class FreeIndex<E extends Sized> {
  /** `bucket` files an entry: higher is read first. Default: by free share of capacity. */
  constructor(private readonly bucket: (e: E) => number = bucketOf) {}

  private readonly buckets: E[][] = Array.from({ length: FREE_BUCKETS }, () => []);
  private readonly at = new Map<E, Slot<E>>();
  /**
   * Join-idle-queue: entries in the order they went idle (nothing running or reserved). Stale
   * items (the entry got busy, or left and came back) are skipped by their stamp, not removed.
   */
  private readonly idleSlots: Array<Slot<E>> = [];
  private readonly idleStamps: number[] = [];
  private idleHead = 0;
  private stamp = 0;
  /** Entries idle now; the queue is rebuilt when its stale items far outnumber them. */
  private liveIdle = 0;
  /** Slots in use (load + reservations) and capacity, summed over the entries held. */
  used = 0;
  capacity = 0;
  /** Where the next read of each bucket starts, so equal entries take turns. */
  private readonly cursors = new Array<number>(FREE_BUCKETS).fill(0);

  /** Items in the idle queue, stale ones included: for tests, which check it stays bounded. */
  get idleQueueLength(): number {
    return this.idleSlots.length;
  }

  /** Entries held (available). */
  size = 0;

  has(e: E): boolean {
    return (this.at.get(e)?.b ?? -1) >= 0;
  }

  /**
   * Puts `e` in the bucket for its current free share, or takes it out (`available` false). The
   * entry's record stays while it is out, so a server that fills up and frees a slot on every
   * task costs no map churn (which, at 100,000 entries, once cost ~50 µs a decision).
   */
  place(e: E, available: boolean): void {
    const b = available ? this.bucket(e) : -1;
    let pos = this.at.get(e);
    if (pos === undefined) {
      if (b < 0) return;
      pos = { e, b: -1, i: 0, used: 0, capacity: 0, idle: 0 };
      this.at.set(e, pos);
    }
    if (pos.b >= 0) {
      this.used -= pos.used;
      this.capacity -= pos.capacity;
      if (pos.b === b) {
        this.count(pos, e);
        return;
      }
      this.removeAt(pos);
      this.size--;
    }
    pos.b = b;
    if (b < 0) {
      this.notIdle(pos);
      return;
    }
    const to = this.buckets[b] as E[];
    pos.i = to.length;
    to.push(e);
    this.size++;
    this.count(pos, e);
  }

  /** The entry no longer offers this application: out, and forgotten. */
  remove(e: E): void {
    this.place(e, false);
    this.at.delete(e);
  }


  /**
   * Visits entries from the idlest bucket down (or, `fullestFirst`, from the fullest up), each
   * bucket from a rotating start, until `visit` returns false. Every entry is visited at most
   * once per call.
   */
  visit(visit: (e: E) => boolean, fullestFirst = false): void {
    for (let k = 0; k < FREE_BUCKETS; k++) {
      const b = fullestFirst ? k : FREE_BUCKETS - 1 - k;
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

  private count(p: Slot<E>, e: E): void {
    p.used = e.load + e.reserved;
    p.capacity = e.capacity;
    this.used += p.used;
    this.capacity += p.capacity;
    if (p.used > 0) this.notIdle(p);
    else if (p.idle === 0) {
      p.idle = ++this.stamp;
      this.liveIdle++;
      this.idleSlots.push(p);
      this.idleStamps.push(p.idle);
      this.compactIfStale();
    }
  }

  /** Rebuilds the queue once stale items (before or after the head) far outnumber the live ones. */
  private compactIfStale(): void {
    if (this.idleSlots.length > 2 * this.liveIdle + 64) this.compactIdle();
  }

  private notIdle(p: Slot<E>): void {
    if (p.idle === 0) return;
    p.idle = 0;
    this.liveIdle--;
  }

  /** Keeps only the queue's live items, in order. */
  private compactIdle(): void {
    let w = 0;
    for (let k = this.idleHead; k < this.idleSlots.length; k++) {
      const slot = this.idleSlots[k] as Slot<E>;
      const stamp = this.idleStamps[k] as number;
      if (slot.b < 0 || slot.idle !== stamp) continue;
      this.idleSlots[w] = slot;
      this.idleStamps[w] = stamp;
      w++;
    }
    this.idleSlots.length = w;
    this.idleStamps.length = w;
    this.idleHead = 0;
  }

  /**
   * The longest-idle entry that `accept` takes, looking at no more than `limit` idle entries;
   * undefined when none. The entry stays queued until it gets busy. An idle entry `accept`
   * refused goes to the back of the queue, so entries that few tasks can use do not pile up at
   * the front and make every decision read past them.
   */
  longestIdle(accept: (e: E) => boolean, limit: number): E | undefined {
    let looked = 0;
    const end = this.idleSlots.length; // entries requeued during this call are not read again
    for (let k = this.idleHead; k < end && looked < limit; k++) {
      const slot = this.idleSlots[k] as Slot<E>;
      const e = slot.e;
      // A slot dropped by remove() keeps b < 0, so it reads as stale here too.
      if (slot.b < 0 || slot.idle !== this.idleStamps[k]) {
        if (k === this.idleHead) this.idleHead++; // stale at the front: drop it for good
        continue;
      }
      looked++;
      if (accept(e)) return e;
      slot.idle = ++this.stamp;
      this.idleSlots.push(slot);
      this.idleStamps.push(slot.idle);
      if (k === this.idleHead) this.idleHead++;
    }
    this.compactIfStale();
    return undefined;
  }

  private removeAt(pos: Slot<E>): void {
    const bucket = this.buckets[pos.b] as E[];
    const last = bucket.pop() as E;
    if (pos.i < bucket.length) {
      bucket[pos.i] = last;
      (this.at.get(last) as Slot<E>).i = pos.i;
    }
  }
}
