import { DEFAULT_OUTLIER, DEFAULT_SLOW_START_MS, validateOutlier, validateSlowStart } from "../../state/index.js";
import type { ServerTableOptions } from "../../state/index.js";

/** An allocator's settings for app servers that fail runs (outlier ejection) and that come back (slow start). */
export interface ServerHealthConfig {
  /** Consecutive failed runs (not TASK_FAILED) that eject a server; 0 never ejects. Default 5. */
  ejectAfter?: number;
  /** The first ejection's length; the n-th lasts n times this, up to `maxEjectMs`. Default 30 000 ms. */
  ejectMs?: number;
  /** The longest ejection. Default 300 000 ms, or `ejectMs` when that is longer. */
  maxEjectMs?: number;
  /** The most of an application's live servers ejected at once, %, rounded down (so never a last one). Default 50. */
  maxEjectedPercent?: number;
  /** A returning server's ramp from 1 task to its capacity, ms; 0 gives it all at once. Default 10 000. */
  slowStartMs?: number;
}

/** The table options for an allocator's app servers: the defaults, overridden by what is set. Throws a RangeError on a bad setting. */
export function serverHealth(c: ServerHealthConfig): Omit<ServerTableOptions, "onOutlier"> {
  const ejectMs = c.ejectMs ?? DEFAULT_OUTLIER.ejectMs;
  const outlier = {
    ejectAfter: c.ejectAfter ?? DEFAULT_OUTLIER.ejectAfter,
    ejectMs,
    maxEjectMs: c.maxEjectMs ?? Math.max(ejectMs, DEFAULT_OUTLIER.maxEjectMs),
    maxEjectedPercent: c.maxEjectedPercent ?? DEFAULT_OUTLIER.maxEjectedPercent,
  };
  validateOutlier(outlier);
  const slowStartMs = c.slowStartMs ?? DEFAULT_SLOW_START_MS;
  validateSlowStart(slowStartMs);
  return { outlier, slowStartMs };
}
