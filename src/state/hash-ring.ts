/** 32-bit FNV-1a of a string, then a murmur finaliser so near keys spread apart. */
export function hash32(s: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return fmix32(h);
}

/** murmur3's finaliser: every input bit flips about half the output bits. */
function fmix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

/** Points each member has on the ring: more spread keys more evenly, and cost memory. */
export const VNODES = 16;

/** The v-th point of a member whose id hashes to `h`. */
function pointOf(h: number, v: number): number {
  return fmix32(h ^ Math.imul(v + 1, 0x9e3779b9));
}

const INDEX_BITS = 2 ** 21;

/**
 * A consistent-hash ring: each member at VNODES points; a key belongs to the first member at or
 * after its hash. A member joining or leaving moves only the keys it takes or held. Adding or
 * removing one member costs one pass over the ring.
 */
export class HashRing<E extends { id: string }> {
  private points: number[] = [];
  private owners: E[] = [];

  /**
   * A ring of `members`, built by one native sort: each point and its member's index packed in
   * one float64 (point × 2^21 + index), so 100,000 members sort in a fraction of a second.
   */
  static of<E extends { id: string }>(members: Iterable<E>): HashRing<E> {
    const list = [...members];
    if (list.length >= INDEX_BITS) throw new RangeError(`a ring holds fewer than ${INDEX_BITS} members`);
    const keys = new Float64Array(list.length * VNODES);
    for (let i = 0; i < list.length; i++) {
      const h = hash32((list[i] as E).id);
      for (let v = 0; v < VNODES; v++) keys[i * VNODES + v] = pointOf(h, v) * INDEX_BITS + i;
    }
    keys.sort();
    const ring = new HashRing<E>();
    ring.points = new Array<number>(keys.length);
    ring.owners = new Array<E>(keys.length);
    for (let k = 0; k < keys.length; k++) {
      const x = keys[k] as number;
      const i = x % INDEX_BITS;
      ring.points[k] = (x - i) / INDEX_BITS;
      ring.owners[k] = list[i] as E;
    }
    return ring;
  }

  get size(): number {
    return this.points.length / VNODES;
  }

  /** Merges the member's points in, in one pass over the ring (not one copy per point). */
  add(e: E): void {
    const h = hash32(e.id);
    const mine: number[] = [];
    for (let v = 0; v < VNODES; v++) mine.push(pointOf(h, v));
    mine.sort((a, b) => a - b);
    const n = this.points.length;
    const points = new Array<number>(n + VNODES);
    const owners = new Array<E>(n + VNODES);
    for (let i = 0, j = 0, k = 0; k < n + VNODES; k++) {
      if (j < VNODES && (i >= n || (mine[j] as number) < (this.points[i] as number))) {
        points[k] = mine[j++] as number;
        owners[k] = e;
      } else {
        points[k] = this.points[i] as number;
        owners[k] = this.owners[i++] as E;
      }
    }
    this.points = points;
    this.owners = owners;
  }

  /** Takes the member's points out, in one pass over the ring. */
  remove(e: E): void {
    this.removeAll(new Set([e]));
  }

  /** Takes the points of every member of `es` out, in one pass over the ring. */
  removeAll(es: ReadonlySet<E>): void {
    let k = 0;
    for (let i = 0; i < this.points.length; i++) {
      if (es.has(this.owners[i] as E)) continue;
      this.points[k] = this.points[i] as number;
      this.owners[k] = this.owners[i] as E;
      k++;
    }
    this.points.length = k;
    this.owners.length = k;
  }

  /**
   * Visits members clockwise from the first point at or after `h`, each once, until `visit`
   * returns false or `limit` members were visited.
   */
  walk(h: number, visit: (e: E) => boolean, limit = Infinity): void {
    const n = this.points.length;
    if (n === 0) return;
    const seen = new Set<E>();
    const start = this.lowerBound(h >>> 0) % n;
    for (let j = 0; j < n && seen.size < limit; j++) {
      const e = this.owners[(start + j) % n] as E;
      if (seen.has(e)) continue;
      seen.add(e);
      if (!visit(e)) return;
    }
  }

  private lowerBound(p: number): number {
    let lo = 0;
    let hi = this.points.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.points[mid] as number) < p) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
