/**
 * The tasks in the system (queued or in service), in recycled slots: a run holds only what is
 * in flight at once, not a record per task of the run, so 10,000,000 tasks cost no more memory
 * than the queues' peak. Each slot has the task's arrival time, size, number in the run (-1 for
 * a warm-up task) and the next slot in its server's FIFO.
 */
export class TaskSlots {
  next: Int32Array;
  arrival: Float64Array;
  size: Float64Array;
  seq: Int32Array;
  private free = -1;
  private used = 0;

  constructor(capacity = 1 << 16) {
    const c = Math.max(1, capacity);
    this.next = new Int32Array(c);
    this.arrival = new Float64Array(c);
    this.size = new Float64Array(c);
    this.seq = new Int32Array(c);
  }

  /** A slot for a new task, at the end of no queue yet (next = -1). */
  take(arrival: number, size: number, seq: number): number {
    let s = this.free;
    if (s >= 0) this.free = this.next[s] as number;
    else {
      if (this.used === this.next.length) this.grow();
      s = this.used++;
    }
    this.next[s] = -1;
    this.arrival[s] = arrival;
    this.size[s] = size;
    this.seq[s] = seq;
    return s;
  }

  /** Gives back a finished task's slot. */
  give(s: number): void {
    this.next[s] = this.free;
    this.free = s;
  }

  /** Slots ever handed out: the peak of tasks in the system. */
  get peak(): number {
    return this.used;
  }

  private grow(): void {
    const c = this.next.length * 2;
    const next = new Int32Array(c);
    const arrival = new Float64Array(c);
    const size = new Float64Array(c);
    const seq = new Int32Array(c);
    next.set(this.next);
    arrival.set(this.arrival);
    size.set(this.size);
    seq.set(this.seq);
    this.next = next;
    this.arrival = arrival;
    this.size = size;
    this.seq = seq;
  }
}
