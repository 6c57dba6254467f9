import type { Log } from "./channel.js";

/** How often a peer's errors may reach the log. */
export interface RateLogOptions {
  /** Lines let through per window; the rest are counted. */
  lines: number;
  windowMs: number;
  now: () => number;
}

export const DEFAULT_RATE_LOG: Omit<RateLogOptions, "now"> = { lines: 5, windowMs: 1000 };

/**
 * A warn that lets at most `lines` lines through per window and counts the others: the first
 * line of the next window carries `suppressed`, how many were dropped since the last one logged.
 * One per connection, so a hostile peer fills neither the disk nor the event loop with logging.
 */
export function rateLimitedWarn(log: Log, opts: RateLogOptions): (obj: object, msg: string) => void {
  let windowStart = Number.NEGATIVE_INFINITY;
  let used = 0;
  let suppressed = 0;
  return (obj, msg) => {
    const now = opts.now();
    if (now - windowStart >= opts.windowMs) {
      windowStart = now;
      used = 0;
    }
    if (used >= opts.lines) {
      suppressed++;
      return;
    }
    used++;
    if (suppressed > 0) {
      log.warn({ ...obj, suppressed }, msg);
      suppressed = 0;
    } else log.warn(obj, msg);
  };
}
