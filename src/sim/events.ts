/**
 * The simulator's event structures: a binary min-heap of (time, value) in typed arrays, a FIFO of
 * fixed-delay events, and an indexed min-heap for keys that change in place. None allocates per
 * operation (the arrays double when full).
 */

/**
 * Events by time, earliest first; equal times come out in the order they went in (a running
 * sequence number breaks ties), so a run does not depend on the heap's internal layout.
 */
export class EventHeap {
  private times: Float64Array;
  private seqs: Float64Array;
  private values: Int32Array;
  private n = 0;
  private seq = 0;

  constructor(capacity = 1024) {
    const c = Math.max(1, capacity);
    this.times = new Float64Array(c);
    this.seqs = new Float64Array(c);
    this.values = new Int32Array(c);
  }

  get size(): number {
    return this.n;
  }

  /** The earliest time held; Infinity when empty. */
  peekTime(): number {
    return this.n > 0 ? (this.times[0] as number) : Infinity;
  }

  /** The value of the earliest event; -1 when empty. */
  peekValue(): number {
    return this.n > 0 ? (this.values[0] as number) : -1;
  }

  push(time: number, value: number): void {
    if (this.n === this.times.length) this.grow();
    const times = this.times;
    const seqs = this.seqs;
    const values = this.values;
    const s = this.seq++;
    let i = this.n++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pt = times[p] as number;
      if (pt < time || (pt === time && (seqs[p] as number) < s)) break;
      times[i] = pt;
      seqs[i] = seqs[p] as number;
      values[i] = values[p] as number;
      i = p;
    }
    times[i] = time;
    seqs[i] = s;
    values[i] = value;
  }

  /** Removes the earliest event and returns its value (read its time with peekTime first); -1 when empty. */
  pop(): number {
    if (this.n === 0) return -1;
    const times = this.times;
    const seqs = this.seqs;
    const values = this.values;
    const top = values[0] as number;
    const n = --this.n;
    if (n === 0) return top;
    const t = times[n] as number;
    const s = seqs[n] as number;
    const v = values[n] as number;
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      const r = c + 1;
      if (r < n) {
        const ct = times[c] as number;
        const rt = times[r] as number;
        if (rt < ct || (rt === ct && (seqs[r] as number) < (seqs[c] as number))) c = r;
      }
      const ct = times[c] as number;
      if (t < ct || (t === ct && s < (seqs[c] as number))) break;
      times[i] = ct;
      seqs[i] = seqs[c] as number;
      values[i] = values[c] as number;
      i = c;
    }
    times[i] = t;
    seqs[i] = s;
    values[i] = v;
    return top;
  }

  clear(): void {
    this.n = 0;
    this.seq = 0;
  }

  private grow(): void {
    const c = this.times.length * 2;
    const times = new Float64Array(c);
    const seqs = new Float64Array(c);
    const values = new Int32Array(c);
    times.set(this.times);
    seqs.set(this.seqs);
    values.set(this.values);
    this.times = times;
    this.seqs = seqs;
    this.values = values;
  }
}

/**
 * A FIFO of events that all take the same delay, so they leave in the order they were sent and
 * need no heap: a growable ring of records with `fields` integer fields and a time each.
 */
export class DelayQueue {
  private times: Float64Array;
  private data: Int32Array;
  private head = 0;
  private n = 0;

  constructor(
    readonly fields: number,
    capacity = 1024,
  ) {
    const c = Math.max(1, capacity);
    this.times = new Float64Array(c);
    this.data = new Int32Array(c * fields);
  }

  get size(): number {
    return this.n;
  }

  /** The time of the oldest record; Infinity when empty. */
  peekTime(): number {
    return this.n > 0 ? (this.times[this.head] as number) : Infinity;
  }

  /** Field `f` of the oldest record. */
  field(f: number): number {
    return this.data[this.head * this.fields + f] as number;
  }

  /** Appends a record; its time must not be before the newest one's (the caller's fixed delay ensures it). */
  push(time: number, f0: number, f1 = 0, f2 = 0, f3 = 0): void {
    if (this.n === this.times.length) this.grow();
    let at = this.head + this.n;
    if (at >= this.times.length) at -= this.times.length;
    this.times[at] = time;
    const base = at * this.fields;
    const d = this.data;
    d[base] = f0;
    if (this.fields > 1) d[base + 1] = f1;
    if (this.fields > 2) d[base + 2] = f2;
    if (this.fields > 3) d[base + 3] = f3;
    this.n++;
  }

  /** Drops the oldest record. */
  shift(): void {
    if (this.n === 0) return;
    this.n--;
    this.head++;
    if (this.head === this.times.length) this.head = 0;
  }

  clear(): void {
    this.head = 0;
    this.n = 0;
  }

  private grow(): void {
    const cap = this.times.length;
    const times = new Float64Array(cap * 2);
    const data = new Int32Array(cap * 2 * this.fields);
    for (let k = 0; k < this.n; k++) {
      let from = this.head + k;
      if (from >= cap) from -= cap;
      times[k] = this.times[from] as number;
      for (let f = 0; f < this.fields; f++) data[k * this.fields + f] = this.data[from * this.fields + f] as number;
    }
    this.times = times;
    this.data = data;
    this.head = 0;
  }
}

/**
 * Items 0..n-1, each with a key that changes in place, smallest key first; equal keys go to the
 * lower item. O(log n) per change, O(1) to read the minimum.
 */
export class IndexedMinHeap {
  private readonly keys: Float64Array;
  /** heap position → item */
  private readonly heap: Int32Array;
  /** item → heap position */
  private readonly pos: Int32Array;

  constructor(initialKeys: ArrayLike<number>) {
    const n = initialKeys.length;
    this.keys = Float64Array.from(initialKeys);
    this.heap = new Int32Array(n);
    this.pos = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      this.heap[i] = i;
      this.pos[i] = i;
    }
    for (let i = (n >> 1) - 1; i >= 0; i--) this.down(i);
  }

  get size(): number {
    return this.heap.length;
  }

  /** The item with the smallest key; -1 when empty. */
  min(): number {
    return this.heap.length > 0 ? (this.heap[0] as number) : -1;
  }

  key(item: number): number {
    return this.keys[item] as number;
  }

  set(item: number, key: number): void {
    const old = this.keys[item] as number;
    this.keys[item] = key;
    const p = this.pos[item] as number;
    if (key < old) this.up(p);
    else if (key > old) this.down(p);
  }

  private less(a: number, b: number): boolean {
    const ka = this.keys[a] as number;
    const kb = this.keys[b] as number;
    return ka < kb || (ka === kb && a < b);
  }

  private up(p: number): void {
    const heap = this.heap;
    const item = heap[p] as number;
    while (p > 0) {
      const q = (p - 1) >> 1;
      const parent = heap[q] as number;
      if (!this.less(item, parent)) break;
      heap[p] = parent;
      this.pos[parent] = p;
      p = q;
    }
    heap[p] = item;
    this.pos[item] = p;
  }

  private down(p: number): void {
    const heap = this.heap;
    const n = heap.length;
    const item = heap[p] as number;
    for (;;) {
      let c = 2 * p + 1;
      if (c >= n) break;
      if (c + 1 < n && this.less(heap[c + 1] as number, heap[c] as number)) c++;
      const child = heap[c] as number;
      if (!this.less(child, item)) break;
      heap[p] = child;
      this.pos[child] = p;
      p = c;
    }
    heap[p] = item;
    this.pos[item] = p;
  }
}
