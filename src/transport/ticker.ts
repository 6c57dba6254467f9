/**
 * Shared interval timers. Every channel of a node that ticks at the same period shares one timer,
 * so a node with thousands of connections wakes once per period, not once per connection.
 */
interface Group {
  timer: NodeJS.Timeout;
  fns: Set<() => void>;
}

const groups = new Map<number, Group>();

/** Calls `fn` every `ms` until the returned function cancels it; the timer keeps no process alive. */
export function onTick(ms: number, fn: () => void): () => void {
  let g = groups.get(ms);
  if (!g) {
    const fns = new Set<() => void>();
    const timer = setInterval(() => {
      for (const f of fns) f();
    }, ms);
    timer.unref();
    groups.set(ms, (g = { timer, fns }));
  }
  const group = g;
  group.fns.add(fn);
  return () => {
    if (!group.fns.delete(fn) || group.fns.size > 0) return;
    clearInterval(group.timer);
    if (groups.get(ms) === group) groups.delete(ms);
  };
}
