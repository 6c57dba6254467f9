import type { Cancel, Timers } from "../transport/index.js";

/**
 * One virtual clock for the whole cluster: time moves only when the scheduler says so, and every
 * node sees the same time. Each node incarnation gets its own view (a Timers) so that a crash can
 * dispose exactly its timers and a pause can freeze them, while the clock keeps one order of all
 * timers, (due, creation), for a deterministic run.
 */

interface Entry {
  due: number;
  seq: number;
  fn: () => void;
  /** Re-armed every `period` ms after firing; 0 for a one-shot. */
  period: number;
  view: ClockView;
  cancelled: boolean;
}

/** A min-heap of timer entries by (due, seq); cancelled entries are skipped when they surface. */
class TimerHeap {
  private a: Entry[] = [];
  get size(): number {
    return this.a.length;
  }
  private less(x: Entry, y: Entry): boolean {
    return x.due < y.due || (x.due === y.due && x.seq < y.seq);
  }
  push(e: Entry): void {
    const a = this.a;
    a.push(e);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pe = a[p] as Entry;
      if (!this.less(e, pe)) break;
      a[i] = pe;
      i = p;
    }
    a[i] = e;
  }
  peek(): Entry | undefined {
    return this.a[0];
  }
  pop(): Entry | undefined {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        let me = last;
        if (l < a.length && this.less(a[l] as Entry, me)) {
          m = l;
          me = a[l] as Entry;
        }
        if (r < a.length && this.less(a[r] as Entry, me)) {
          m = r;
          me = a[r] as Entry;
        }
        if (m === i) break;
        a[i] = me;
        i = m;
      }
      a[i] = last;
    }
    return top;
  }
}

/** A node incarnation's window on the clock: its Timers, and the switches the faults use. */
export class ClockView implements Timers {
  /** Timers held back while frozen (a paused node), re-armed on thaw. */
  private parked: Entry[] = [];
  private parkedDeferred: Array<() => void> = [];
  private live = new Set<Entry>();
  disposed = false;
  frozen = false;

  constructor(
    private readonly clock: VirtualClock,
    readonly owner: string,
  ) {}

  now = (): number => this.clock.now;

  // Whole milliseconds, as Date.now gives: a backoff with jitter asks for 37.4 ms, and a fractional
  // clock would leak into ids and tickets (expiry in base 36) that production never sees.
  after(ms: number, fn: () => void): Cancel {
    return this.arm(Math.max(0, Math.ceil(ms)), fn, 0);
  }

  every(ms: number, fn: () => void): Cancel {
    const period = Math.max(1, Math.ceil(ms));
    return this.arm(period, fn, period);
  }

  defer(fn: () => void): void {
    if (this.disposed) return;
    if (this.frozen) this.parkedDeferred.push(fn);
    else this.clock.deferWork(this, fn);
  }

  private arm(ms: number, fn: () => void, period: number): Cancel {
    if (this.disposed) return () => {};
    const e: Entry = { due: this.clock.now + ms, seq: this.clock.nextSeq(), fn, period, view: this, cancelled: false };
    this.live.add(e);
    if (this.frozen) this.parked.push(e);
    else this.clock.schedule(e);
    return () => {
      e.cancelled = true;
      this.live.delete(e);
    };
  }

  /** @internal the clock fired `e`: re-arm it if periodic. */
  fired(e: Entry): void {
    if (e.period === 0 || e.cancelled || this.disposed) {
      this.live.delete(e);
      return;
    }
    const now = this.clock.now;
    e.due = e.due + e.period > now ? e.due + e.period : now + e.period;
    e.seq = this.clock.nextSeq();
    if (this.frozen) this.parked.push(e);
    else this.clock.schedule(e);
  }

  /** @internal a frozen view hands its timers back instead of firing them. */
  park(e: Entry): void {
    this.parked.push(e);
  }

  /** Timers this view has armed and not cancelled. */
  get pending(): number {
    return this.live.size;
  }

  /** A crash: every timer and deferred job of this incarnation is gone, and new ones are ignored. */
  dispose(): void {
    this.disposed = true;
    for (const e of this.live) e.cancelled = true;
    this.live.clear();
    this.parked = [];
    this.parkedDeferred = [];
  }

  /** A pause: nothing of this node fires until thaw (its due timers then fire at once: time jumped). */
  freeze(): void {
    this.frozen = true;
  }

  thaw(): void {
    if (!this.frozen || this.disposed) return;
    this.frozen = false;
    for (const e of this.parked.splice(0)) if (!e.cancelled) this.clock.schedule(e);
    for (const fn of this.parkedDeferred.splice(0)) this.clock.deferWork(this, fn);
  }
}

export class VirtualClock {
  now: number;
  private heap = new TimerHeap();
  private seq = 0;
  private deferred: Array<{ view: ClockView; fn: () => void }> = [];

  /**
   * The nodes see time from `epoch` on (a fixed, realistic date: their code may treat 0 as
   * "never"), while tests and the history read `elapsed`, ms since the cluster was made.
   */
  readonly epoch: number;
  constructor(epoch = 1_700_000_000_000) {
    this.epoch = epoch;
    this.now = epoch;
  }

  /** Virtual ms since the clock started: the history's timeline. */
  get elapsed(): number {
    return this.now - this.epoch;
  }

  view(owner: string): ClockView {
    return new ClockView(this, owner);
  }

  /** @internal */
  nextSeq(): number {
    return this.seq++;
  }

  /** @internal */
  schedule(e: Entry): void {
    this.heap.push(e);
  }

  /** @internal */
  deferWork(view: ClockView, fn: () => void): void {
    this.deferred.push({ view, fn });
  }

  /** Runs the deferred work queued so far (and what it queues); false when there was none. */
  runDeferred(): boolean {
    if (this.deferred.length === 0) return false;
    let guard = 0;
    while (this.deferred.length > 0) {
      const batch = this.deferred.splice(0);
      for (const d of batch) if (!d.view.disposed) d.fn();
      if (++guard > 10_000) throw new Error("deferred work keeps deferring more work");
    }
    return true;
  }

  get hasDeferred(): boolean {
    return this.deferred.length > 0;
  }

  /** Drops cancelled or parked entries from the top; the next live due time, Infinity if none. */
  nextDue(): number {
    for (;;) {
      const e = this.heap.peek();
      if (!e) return Infinity;
      if (e.cancelled || e.view.disposed) {
        this.heap.pop();
        continue;
      }
      if (e.view.frozen) {
        this.heap.pop();
        e.view.park(e);
        continue;
      }
      return Math.max(e.due, this.now);
    }
  }

  /**
   * Moves time to the next due timer and fires every timer due then (one instant, one step), in
   * creation order. Returns how many fired.
   */
  fireNext(): number {
    const t = this.nextDue();
    if (t === Infinity) return 0;
    this.now = t;
    let fired = 0;
    while (this.nextDue() <= this.now) {
      const e = this.heap.pop() as Entry;
      fired++;
      e.fn();
      e.view.fired(e);
      if (fired > 100_000) throw new Error("timers keep arming timers due at the same instant");
    }
    return fired;
  }

  /** Moves time forward to `t` without firing anything (the caller fires what is due next). */
  advanceTo(t: number): void {
    if (t > this.now) this.now = t;
  }
}
