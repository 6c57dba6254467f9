import type { VirtualClock } from "./clock.js";
import { StepLimitError } from "./errors.js";
import type { HistoryEvent } from "./history.js";
import type { Hub } from "./hub.js";
import type { Candidate, Picker } from "./scheduler.js";

/**
 * The run loop: let the cluster settle (every actor idle, no deferred work), pick one event,
 * repeat. Real nact and the real channels run underneath on setImmediate and microtasks, which
 * are deterministic once nothing else (no real timer, no I/O) is left; settling is what makes
 * each pick happen at a quiescent point.
 */

export interface RunOptions {
  /**
   * Stop when this holds (checked after each settle), or when virtual time would pass this ms
   * (on the history's timeline: ms since the cluster was made, as `cluster.now`).
   */
  until?: number | (() => boolean);
  /** Steps allowed before a StepLimitError. Default 100 000. */
  maxSteps?: number;
}

export interface RunResult {
  /** Steps taken by this run. */
  steps: number;
  /** Virtual time at the end (ms since the cluster was made). */
  time: number;
  /** `until`: the goal held; `time`: virtual time reached `until`; `idle`: nothing left to happen. */
  reason: "until" | "time" | "idle";
}

export const DEFAULT_MAX_STEPS = 100_000;

/**
 * Rounds of setImmediate with nothing new before the cluster counts as settled. One is enough:
 * the activity counter covers every message queued for an actor, and a round drains microtasks.
 */
const QUIET_ROUNDS = 1;

const macrotask = (): Promise<void> => new Promise((r) => setImmediate(r));

export class Engine {
  /** Steps taken over the cluster's life: the `step` of history events. */
  step = 0;
  private busy = false;

  constructor(
    readonly clock: VirtualClock,
    readonly hub: Hub,
    readonly picker: Picker,
    readonly activity: { busy: number },
    private readonly tail: () => HistoryEvent[],
  ) {}

  /**
   * Waits until the cluster is quiescent: no actor busy, no deferred work (channel flushes,
   * peer-sync coalescing, wires' own close callbacks), for QUIET_ROUNDS macrotask turns.
   */
  async settle(): Promise<void> {
    let quiet = 0;
    let rounds = 0;
    while (quiet < QUIET_ROUNDS) {
      await macrotask();
      const ran = this.clock.runDeferred() || this.hub.runLocal();
      if (ran || this.activity.busy > 0) quiet = 0;
      else quiet++;
      if (++rounds > 1_000_000) throw new Error("the cluster never settles (an actor keeps itself busy)");
    }
  }

  candidates(limit: number): Candidate[] {
    const out: Candidate[] = this.hub.candidates().map((event) => ({ kind: "frame" as const, event, label: `${event.dir.from}->${event.dir.to} ${event.kind}#${event.seq}` }));
    const at = Math.min(this.clock.nextDue(), this.hub.nextDelayed());
    if (at !== Infinity && at <= limit) out.push({ kind: "tick", at, label: `tick@${at}` });
    return out;
  }

  /** Carries out one picked event. */
  apply(c: Candidate): void {
    if (c.kind === "frame") {
      this.hub.deliver(c.event);
      return;
    }
    // The next timer, or a delayed frame's release time, whichever comes first.
    if (this.clock.nextDue() <= c.at) this.clock.fireNext();
    else this.clock.advanceTo(c.at);
  }

  /** `deadline`: a virtual time the run does not pass when `until` is a predicate (start-up's). */
  async run(o: RunOptions, goal: () => boolean, deadline = Infinity): Promise<RunResult> {
    if (this.busy) throw new Error("run: the cluster is already running (await the previous run)");
    this.busy = true;
    try {
      const max = o.maxSteps ?? DEFAULT_MAX_STEPS;
      const until = o.until ?? goal;
      const limit = typeof until === "number" ? this.clock.epoch + until : deadline;
      let steps = 0;
      for (;;) {
        await this.settle();
        if (typeof until === "function" && until()) return { steps, time: this.clock.elapsed, reason: "until" };
        const cands = this.candidates(limit);
        if (cands.length === 0) {
          if (limit !== Infinity) {
            this.clock.advanceTo(limit);
            return { steps, time: this.clock.elapsed, reason: "time" };
          }
          return { steps, time: this.clock.elapsed, reason: "idle" };
        }
        if (steps >= max) throw new StepLimitError(steps, this.tail(), `${this.hub.inFlight()} frames in flight, next timer at t=${this.clock.nextDue() - this.clock.epoch}`);
        const c = await this.picker.pick(cands);
        steps++;
        this.step++;
        if (c) this.apply(c);
        if ((this.step & 255) === 0) this.hub.prune();
      }
    } finally {
      this.busy = false;
    }
  }
}
