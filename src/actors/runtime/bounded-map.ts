/**
 * A Map that forgets its oldest entries past `max`: recent tickets and results, not all of them.
 * Eviction order is kept in a ring of keys, because finding a Map's oldest key through its
 * iterator walks over every entry deleted since the last rehash.
 */
export class BoundedMap<K, V> {
  private readonly map = new Map<K, V>();
  private readonly ring: Array<K | undefined>;
  private head = 0;

  constructor(private readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`max must be a positive integer, got ${max}`);
    this.ring = new Array<K | undefined>(max);
  }

  get size(): number {
    return this.map.size;
  }

  has(k: K): boolean {
    return this.map.has(k);
  }

  get(k: K): V | undefined {
    return this.map.get(k);
  }

  set(k: K, v: V): this {
    if (!this.map.has(k)) {
      const evicted = this.ring[this.head];
      if (evicted !== undefined) this.map.delete(evicted);
      this.ring[this.head] = k;
      this.head = (this.head + 1) % this.max;
    }
    this.map.set(k, v);
    return this;
  }
}
