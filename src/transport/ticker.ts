import { realTimers } from "./timers.js";
import type { Cancel, Timers } from "./timers.js";

/**
 * Shared interval timers. Every channel of a node that ticks at the same period shares one timer,
 * so a node with thousands of connections wakes once per period, not once per connection. Groups
 * are kept per Timers object, so nodes on different (test) clocks never share an interval.
 */
interface Group {
  cancel: Cancel;
  fns: Set<() => void>;
}

const byTimers = new WeakMap<Timers, Map<number, Group>>();

/** Calls `fn` every `ms` until the returned function cancels it; the timer keeps no process alive. */
export function onTick(ms: number, fn: () => void, timers: Timers = realTimers): () => void {
  let groups = byTimers.get(timers);
  if (!groups) byTimers.set(timers, (groups = new Map()));
  const gs = groups;
  let g = gs.get(ms);
  if (!g) {
    const fns = new Set<() => void>();
    const cancel = timers.every(ms, () => {
      for (const f of fns) f();
    });
    gs.set(ms, (g = { cancel, fns }));
  }
  const group = g;
  group.fns.add(fn);
  return () => {
    if (!group.fns.delete(fn) || group.fns.size > 0) return;
    group.cancel();
    if (gs.get(ms) === group) gs.delete(ms);
  };
}
