import type { HubEvent } from "./hub.js";

/**
 * Who decides what happens next. Each step the run offers the candidates — the head frame of
 * every connection direction, plus "advance the clock to the next timer" — and the delivery mode
 * picks one: FIFO (the oldest frame, then time), a choice tape (shrinkable: generate it with
 * `fc.array(fc.nat())`), or a fast-check scheduler (explores, but its order never shrinks).
 */

/** The part of fast-check's `Scheduler` used here (structural: src never imports fast-check). */
export interface SchedulerLike {
  schedule<T>(task: Promise<T>, label?: string): Promise<T>;
  waitNext(count: number): Promise<void>;
  count(): number;
  report(): unknown;
}

/**
 * The steps counted by a tape start with the cluster's own start-up (a few steps: registration),
 * so a tape explores start-up orders too; `fc.scheduler()`'s instance is taken as it is or as
 * `{ scheduler }`.
 */
export type Delivery = "fifo" | { choices: readonly number[] } | { scheduler: SchedulerLike } | SchedulerLike;

export type Candidate = { kind: "frame"; event: HubEvent; label: string } | { kind: "tick"; at: number; label: string };

export interface Picker {
  /** Picks one of `cands` (never empty); undefined: a stale pick, nothing to do this step. */
  pick(cands: readonly Candidate[]): Promise<Candidate | undefined>;
}

/** Frames in the order they were sent, then time: the candidate list is built in that order. */
const fifo: Picker = {
  pick: async (cands) => cands[0],
};

function tape(choices: readonly number[]): Picker {
  let i = 0;
  return {
    async pick(cands) {
      if (i >= choices.length) return cands[0];
      const c = choices[i++] as number;
      return cands[Math.abs(Math.trunc(c)) % cands.length];
    },
  };
}

const keyOf = (c: Candidate): string => (c.kind === "frame" ? `f${c.event.seq}` : `t${c.at}`);

/**
 * fast-check decides: every candidate is scheduled once (a promise of its key), and each step
 * releases one. A released key that is no longer a candidate (its frame was dropped by a crash,
 * its timer cancelled) is a stale pick.
 */
function fcPicker(s: SchedulerLike): Picker {
  const scheduled = new Set<string>();
  const fired: string[] = [];
  return {
    async pick(cands) {
      for (const c of cands) {
        const k = keyOf(c);
        if (scheduled.has(k)) continue;
        scheduled.add(k);
        void s.schedule(Promise.resolve(k), c.label).then((v) => {
          fired.push(v);
        });
      }
      await s.waitNext(1);
      // The released promise's own `then` (ours) may run a few microtasks after waitNext returns.
      for (let i = 0; i < 20 && fired.length === 0; i++) await Promise.resolve();
      const k = fired.shift();
      if (k === undefined) return undefined;
      scheduled.delete(k);
      return cands.find((c) => keyOf(c) === k);
    },
  };
}

export function pickerFor(d: Delivery | undefined): Picker {
  if (d === undefined || d === "fifo") return fifo;
  if ("choices" in d) return tape(d.choices);
  if ("scheduler" in d) return fcPicker(d.scheduler);
  return fcPicker(d);
}
