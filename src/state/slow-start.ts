/**
 * Slow start, after Envoy's `slow_start_config`: a server that comes back (a new incarnation,
 * back from dead, or back from an ejection) may be given at most `rampLimit` tasks at once,
 * growing linearly from 1 to its capacity over the window, so it takes a ramp, not a flood.
 */

/** The default window: 10 s. */
export const DEFAULT_SLOW_START_MS = 10_000;

export function validateSlowStart(ms: number): void {
  if (!Number.isSafeInteger(ms) || ms < 0) throw new RangeError(`slowStartMs must be a whole number of ms >= 0 (0: no slow start), got ${ms}`);
}

/**
 * The slots a server of `capacity` may hold `elapsed` ms into a window of `windowMs`: at least 1,
 * capacity × elapsed / window rounded down, and the whole capacity from the window's end on
 * (and always, with a window of 0). Non-decreasing in `elapsed`.
 */
export function rampLimit(capacity: number, elapsed: number, windowMs: number): number {
  if (windowMs <= 0 || elapsed >= windowMs) return capacity;
  if (!(elapsed > 0)) return Math.min(1, capacity);
  return Math.min(capacity, Math.max(1, Math.floor((capacity * elapsed) / windowMs)));
}
