/**
 * Buckets of free capacity: bucket b holds entries whose free share of capacity is in
 * [b/B, (b+1)/B). Fine enough that servers reporting a large capacity (a queue, say 1,000) are
 * still told apart by a few tasks: with 16 buckets, least-loaded and most-idle saw every server
 * with under 62 of 1,000 taken as equal, and `allot sim` showed queues growing to that bound.
 * Empty buckets cost a decision one array-length check each.
 */
export const FREE_BUCKETS = 256;

// While above 0, visits leave every index's rotating starts where they are (`withoutTurns`).
let still = 0;

/**
 * Runs `fn` with every index's visits leaving their rotating starts as they were: a dry run
 * (`allot explain`) reads the indexes as a decision would, and the next live decision must still
 * start where it would have had the dry run not been made.
 */
export function withoutTurns<T>(fn: () => T): T {
  still++;
  try {
    return fn();
  } finally {
    still--;
  }
}

/** What the index needs to know of an entry. */
export interface Sized {
  capacity: number;
  load: number;
  reserved: number;
  /** Kept in the index's rows for `powerAt` and `delayAt`; 1 when absent. */
  power?: number;
}

/** What the index keys an entry by. */
export interface Seated {
  /** A small integer no other live entry of its table has (`ServerTable` hands them out and reuses those of entries it removed). */
  seat: number;
}

// A seat's row in `FreeIndex.rows`: the bucket it is filed in (-1: none), its place in that
// bucket, its place in `held` (-1: not held; NOT_OWNED: no entry has the seat), the used slots and capacity it was counted with,
// whether it waits in `unfiled`, and its reservations and power as of its last change (what a
// sampler reads of a drawn entry instead of the entry: `reservedAt`, `delayAt`). 64 bytes: one
// cache line when the row starts on one.
const B = 0;
const I = 1;
const H = 2;
const USED = 3;
const CAP = 4;
const UNFILED = 5;
const RES = 6;
const POW = 7;
const STRIDE = 8;
/** H of a seat no entry holds: -1 is an owned seat's entry not held. */
const NOT_OWNED = -2;

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

/** What the idle-power order needs to know of an entry: the slots it may be given now. */
export interface Limited extends Powered {
  limit: number;
}

/**
 * The bucket of an entry by its idle computing power, power × (limit − load − reserved) /
 * capacity, on the delay order's log scale: the most idle power in the highest bucket. Idle
 * powers from 2^-8 to 2^8 get buckets of their own, 2^(1/16) (about 4.4%) apart.
 */
export function idleBucketOf(e: Limited): number {
  const idle = (e.power * Math.max(0, e.limit - e.load - e.reserved)) / e.capacity;
  const r = Math.floor(DELAY_STEPS_PER_OCTAVE * Math.log2(idle)) + FREE_BUCKETS / 2;
  return Math.min(FREE_BUCKETS - 1, Math.max(0, r));
}

/**
 * The live entries of one application that have a free slot, grouped by how much of their
 * capacity is free (or, built with `delayBucketOf`, by a task's expected delay on them; with
 * `idleBucketOf`, by idle computing power). Which entries are held is kept current on every
 * change of load, reservation or status (`sample` draws from them); an entry whose bucket changed
 * is re-filed at the next `visit`, so a decision that visits reads the idlest entries first and
 * stops after enough, instead of scanning every server. Adding, moving and removing an entry
 * are O(1) (swap-remove inside a bucket); a visit first re-files what moved since the last.
 */
export class FreeIndex<E extends Sized & Seated> {
  /** `bucket` files an entry: higher is read first. Default: by free share of capacity. */
  constructor(private readonly bucket: (e: E) => number = bucketOf) {}

  private readonly buckets: E[][] = Array.from({ length: FREE_BUCKETS }, () => []);
  /** Bit b set while bucket b holds entries: a visit reads only those, not all 256. */
  private readonly nonEmpty = new Uint32Array(FREE_BUCKETS / 32);
  /**
   * By seat, the entry recorded there and its row (B, I, H, USED, CAP). Arrays indexed by the
   * entry's seat, not a Map from the entry: at 100,000 entries a Map lookup missed the cache
   * twice over (~0.15 µs), and a move looks up two entries (the one moved, and the one swapped
   * into its place). The row stays while the entry is out, so a server that fills up and frees
   * a slot on every task costs no churn.
   */
  private owners: (E | undefined)[] = [];
  private rows = new Float64Array(STRIDE * 64);
  /** Slots in use (load + reservations) and capacity, summed over the entries held. */
  used = 0;
  capacity = 0;
  /**
   * The entries held, densely, in no order: `sample` draws one uniformly in O(1). An entry
   * joins at the end and leaves by swap with the last, so only a change of availability moves
   * it here (a change of bucket does not).
   */
  private readonly held: E[] = [];
  /**
   * The seats of `held`, place for place, and of each bucket's entries: a move swaps an entry
   * into a vacated place and re-files its row without reading the entry itself (at 100,000
   * servers, one more cache miss per move), and a sampler judges a drawn seat before it reads
   * the entry (`pick`, `seatAt`).
   */
  private heldSeats = new Int32Array(64); // the first held.length places; 4 bytes a place, so at 100,000 it stays in a core's cache
  private readonly bucketSeats: number[][] = Array.from({ length: FREE_BUCKETS }, () => []);
  /** Seats whose bucket may have changed since the last visit (each once: its row's UNFILED). */
  private readonly unfiled: number[] = [];
  /** Where the next read of each bucket starts, so equal entries take turns. */
  private readonly cursors = new Array<number>(FREE_BUCKETS).fill(0);

  /** Entries held (available). */
  get size(): number {
    return this.held.length;
  }

  has(e: E): boolean {
    return e.seat >= 0 && this.owners[e.seat] === e && (this.rows[e.seat * STRIDE + H] as number) >= 0;
  }

  /**
   * Holds `e` (available) or lets it go (`available` false), counting its slots. Its bucket is
   * settled at the next `visit`, not now: a policy that only samples (p2c, random) never reads
   * the buckets, and at 100,000 entries re-filing one on every reservation and release (a write
   * at a random place of two buckets) was most of what a decision cost beyond its draws.
   */
  place(e: E, available: boolean): void {
    const seat = e.seat;
    if (seat < 0) return; // removed by its table
    const r = seat * STRIDE;
    // The row says whether the seat is taken, so the hot path reads no owner: an entry its table
    // removed has seat -1, and no other entry holds this one's seat.
    if (seat >= this.owners.length || this.rows[r + H] === NOT_OWNED) {
      if (!available) return;
      this.claim(seat, e);
    }
    const rows = this.rows;
    const h = rows[r + H] as number;
    if (h >= 0) {
      this.used -= rows[r + USED] as number;
      this.capacity -= rows[r + CAP] as number;
    }
    if (available) {
      if (h < 0) {
        rows[r + H] = this.held.length;
        if (this.held.length === this.heldSeats.length) {
          const grown = new Int32Array(2 * this.heldSeats.length);
          grown.set(this.heldSeats);
          this.heldSeats = grown;
        }
        this.heldSeats[this.held.length] = seat;
        this.held.push(e);
      }
      this.count(r, e);
    } else if (h >= 0) {
      this.unhold(h);
      rows[r + H] = -1;
    }
    if (rows[r + UNFILED] === 0 && (available ? this.bucket(e) : -1) !== rows[r + B]) {
      rows[r + UNFILED] = 1;
      this.unfiled.push(seat);
    }
  }

  /**
   * An entry held now, each with probability 1/size, drawn with `random` (in [0, 1)); undefined
   * when none is held. O(1): what a policy that samples the whole set (p2c, random) reads.
   */
  sample(random: () => number): E | undefined {
    const n = this.held.length;
    return n === 0 ? undefined : this.held[Math.floor(random() * n) % n];
  }

  /** `sample`'s draw as a place among the held entries (-1 when none): read `seatAt` before `at`. */
  pick(random: () => number): number {
    const n = this.held.length;
    return n === 0 ? -1 : Math.floor(random() * n) % n;
  }

  /** The seat of the entry at place `h` (from `pick`), without reading the entry. */
  seatAt(h: number): number {
    return this.heldSeats[h] as number;
  }

  /** The entry at place `h` (from `pick`). */
  at(h: number): E {
    return this.held[h] as E;
  }

  /** The reservations of the entry at place `h`, as of its last change, without reading the entry. */
  reservedAt(h: number): number {
    return this.rows[(this.heldSeats[h] as number) * STRIDE + RES] as number;
  }

  /** Its power (1 for an entry without one), likewise. */
  powerAt(h: number): number {
    return this.rows[(this.heldSeats[h] as number) * STRIDE + POW] as number;
  }

  /** A task's expected delay on it, (load + reserved + 1) / power, likewise (`expectedDelay`). */
  delayAt(h: number): number {
    const r = (this.heldSeats[h] as number) * STRIDE;
    return ((this.rows[r + USED] as number) + 1) / (this.rows[r + POW] as number);
  }

  /** The entry no longer offers this application: out, and forgotten (its seat free for another). */
  remove(e: E): void {
    if (e.seat < 0 || this.owners[e.seat] !== e) return;
    this.place(e, false);
    // Out of its bucket now: the seat's next owner starts unfiled.
    const r = e.seat * STRIDE;
    const b = this.rows[r + B] as number;
    if (b >= 0) {
      this.removeAt(b, this.rows[r + I] as number);
      this.rows[r + B] = -1;
    }
    this.owners[e.seat] = undefined;
    this.rows[r + H] = NOT_OWNED;
  }

  /** Files every entry whose bucket changed since the last visit in its bucket now. */
  private settle(): void {
    const rows = this.rows;
    const unfiled = this.unfiled;
    for (let k = 0; k < unfiled.length; k++) {
      const seat = unfiled[k] as number;
      const r = seat * STRIDE;
      rows[r + UNFILED] = 0;
      const e = this.owners[seat];
      const b = e !== undefined && (rows[r + H] as number) >= 0 ? this.bucket(e) : -1;
      const was = rows[r + B] as number;
      if (b === was) continue;
      if (was >= 0) this.removeAt(was, rows[r + I] as number);
      rows[r + B] = b;
      if (b < 0) continue;
      const to = this.buckets[b] as E[];
      rows[r + I] = to.length;
      (this.bucketSeats[b] as number[]).push(seat);
      if (to.push(e as E) === 1) this.nonEmpty[b >>> 5] = (this.nonEmpty[b >>> 5] as number) | (1 << (b & 31));
    }
    unfiled.length = 0;
  }

  /**
   * Visits entries from the idlest bucket down (or, `fullestFirst`, from the fullest up), each
   * bucket from a rotating start, until `visit` returns false. Every entry is visited at most
   * once per call. `visit` must not change the index.
   */
  visit(visit: (e: E) => boolean, fullestFirst = false): void {
    if (this.unfiled.length > 0) this.settle();
    const words = FREE_BUCKETS >>> 5;
    for (let k = 0; k < words; k++) {
      const w = fullestFirst ? k : words - 1 - k;
      let bits = this.nonEmpty[w] as number;
      while (bits !== 0) {
        // The highest set bit first (idlest), or the lowest (fullest).
        const bit = fullestFirst ? 31 - Math.clz32(bits & -bits) : 31 - Math.clz32(bits);
        bits &= ~(1 << bit);
        if (!this.visitBucket((w << 5) | bit, visit)) return;
      }
    }
  }

  /** Reads bucket `b` from its rotating start; false once `visit` has said stop. */
  private visitBucket(b: number, visit: (e: E) => boolean): boolean {
    const bucket = this.buckets[b] as E[];
    const n = bucket.length;
    let start = this.cursors[b] as number;
    if (start >= n) start = 0;
    if (still === 0) this.cursors[b] = start + 1;
    for (let j = start; j < n; j++) if (!visit(bucket[j] as E)) return false;
    for (let j = 0; j < start; j++) if (!visit(bucket[j] as E)) return false;
    return true;
  }

  /**
   * Records `e` at its seat, growing the arrays to reach it. A seat had before keeps its row: its
   * last entry left it unfiled and not held (`remove`), maybe still waiting in `unfiled`.
   */
  private claim(seat: number, e: E): void {
    if ((seat + 1) * STRIDE > this.rows.length) {
      const grown = new Float64Array(Math.max(2 * this.rows.length, (seat + 1) * STRIDE));
      grown.set(this.rows);
      this.rows = grown;
    }
    for (let s = this.owners.length; s <= seat; s++) {
      this.owners.push(undefined);
      this.rows[s * STRIDE + B] = -1;
      this.rows[s * STRIDE + H] = NOT_OWNED;
    }
    this.owners[seat] = e;
    this.rows[seat * STRIDE + H] = -1;
  }

  private count(r: number, e: E): void {
    const used = e.load + e.reserved;
    this.rows[r + USED] = used;
    this.rows[r + CAP] = e.capacity;
    this.rows[r + RES] = e.reserved;
    this.rows[r + POW] = e.power ?? 1;
    this.used += used;
    this.capacity += e.capacity;
  }

  /** Takes the entry at place `h` out of `held` (swap with the last). */
  private unhold(h: number): void {
    const last = this.held.pop() as E;
    const lastSeat = this.heldSeats[this.held.length] as number;
    if (h < this.held.length) {
      this.held[h] = last;
      this.heldSeats[h] = lastSeat;
      this.rows[lastSeat * STRIDE + H] = h;
    }
  }

  /** Takes the entry at place `i` out of bucket `b` (swap with the last). */
  private removeAt(b: number, i: number): void {
    const bucket = this.buckets[b] as E[];
    const seats = this.bucketSeats[b] as number[];
    const last = bucket.pop() as E;
    const lastSeat = seats.pop() as number;
    if (i < bucket.length) {
      bucket[i] = last;
      seats[i] = lastSeat;
      this.rows[lastSeat * STRIDE + I] = i;
    } else if (bucket.length === 0) this.nonEmpty[b >>> 5] = (this.nonEmpty[b >>> 5] as number) & ~(1 << (b & 31));
  }
}
