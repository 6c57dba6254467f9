import { random } from "./policy.js";
import type { Policy } from "./policy.js";

/**
 * Join-idle-queue (JIQ): the allocator keeps, per application, a queue of the servers that went
 * idle (nothing running or reserved), in the order they did; a task goes to the longest idle one
 * that meets its constraints, with no comparison of loads at decision time. When none of the
 * first `look` idle servers meets them (or none is idle) it goes to a uniformly random eligible
 * server, as in JIQ (the `random` policy's draw, not a pick among the idlest).
 */
export function createIdleQueue(look = 64): Policy {
  if (!Number.isInteger(look) || look < 1) throw new TypeError(`idle-queue: look must be an integer >= 1, got ${look}`);
  return {
    name: "idle-queue",
    samples: true, // its fallback does
    locate: (table, task, ctx, eligible, screen) => table.idleQueue(task.app)?.longestIdle(eligible, look) ?? random.locate?.(table, task, ctx, eligible, screen),
    // locate sends idle servers the task refused to the back of the queue; peek only reads.
    peek: (table, task, ctx, eligible, screen) => table.idleQueue(task.app)?.peekLongestIdle(eligible, look) ?? random.peek?.(table, task, ctx, eligible, screen),
    select: random.select,
  };
}
