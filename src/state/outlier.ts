/**
 * Outlier detection, after Envoy's: a server whose runs keep failing for reasons other than the
 * handler's own error is ejected from selection for a while, longer each time, and never more
 * than a share of an application's fleet at once. Pure: time comes in as `now`.
 */
export interface OutlierConfig {
  /** Consecutive failed runs that eject a server; 0 turns ejection off. Default 5. */
  ejectAfter: number;
  /** The first ejection's length; the n-th lasts n times this, up to `maxEjectMs`. Default 30 000 ms. */
  ejectMs: number;
  /** The longest ejection. Default 300 000 ms (ten times `ejectMs`). */
  maxEjectMs: number;
  /**
   * The most of an application's live servers ejected at once, in percent, rounded down: at the
   * default 50, one of 2 or 3 servers, none of 1. A last server is not ejected: ejecting it
   * would turn its failures into NO_SERVER for every task, and a server that fails some runs
   * still completes the others.
   */
  maxEjectedPercent: number;
}

export const DEFAULT_OUTLIER: OutlierConfig = { ejectAfter: 5, ejectMs: 30_000, maxEjectMs: 300_000, maxEjectedPercent: 50 };

/** Ejection off: what a table gets unless its allocator asks for it. */
export const NO_OUTLIER: OutlierConfig = { ...DEFAULT_OUTLIER, ejectAfter: 0 };

export function validateOutlier(c: OutlierConfig): void {
  if (!Number.isSafeInteger(c.ejectAfter) || c.ejectAfter < 0) throw new RangeError(`ejectAfter must be a whole number >= 0 (0: never eject), got ${c.ejectAfter}`);
  if (!Number.isSafeInteger(c.ejectMs) || c.ejectMs < 1) throw new RangeError(`ejectMs must be a whole number of ms >= 1, got ${c.ejectMs}`);
  if (!Number.isSafeInteger(c.maxEjectMs) || c.maxEjectMs < c.ejectMs) throw new RangeError(`maxEjectMs must be a whole number of ms >= ejectMs (${c.ejectMs}), got ${c.maxEjectMs}`);
  if (!Number.isFinite(c.maxEjectedPercent) || c.maxEjectedPercent < 0 || c.maxEjectedPercent > 100) throw new RangeError(`maxEjectedPercent must be from 0 to 100, got ${c.maxEjectedPercent}`);
}

/** One server's outlier record at one allocator. */
export interface OutlierState {
  /** Times ejected, less one for every `ejectMs` spent in selection without a new failure (see `decayed`). */
  ejections: number;
  /** When the current ejection ends; 0 while it is not ejected. */
  ejectedUntil: number;
  /** When it last returned to selection or last failed a run there: the decay counts from here. */
  since: number;
  /** The reported count that the last ejection used up: the next one needs `ejectAfter` more. */
  baseline: number;
  /** The count the last report said. */
  reported: number;
}

export function newOutlierState(): OutlierState {
  return { ejections: 0, ejectedUntil: 0, since: 0, baseline: 0, reported: 0 };
}

/** Failures in a row not yet used for an ejection. A count below the baseline has been reset by a success since. */
export function freshFailures(s: OutlierState, reported: number): number {
  return reported >= s.baseline ? reported - s.baseline : reported;
}

/** Whether one more of `fleet` servers may be ejected while `ejected` are: at most floor(fleet × percent / 100) at once. */
export function mayEject(fleet: number, ejected: number, percent: number): boolean {
  return ejected + 1 <= Math.floor((fleet * percent) / 100 + 1e-9);
}

/** How long the n-th ejection (n >= 1) lasts. */
export function ejectionMs(n: number, c: OutlierConfig): number {
  return Math.min(c.maxEjectMs, Math.max(1, n) * c.ejectMs);
}

/** The ejection count at `now`, less one per `ejectMs` spent in selection since it returned or last failed a run. */
export function decayed(s: OutlierState, now: number, c: OutlierConfig): number {
  if (s.ejectedUntil !== 0 || now <= s.since) return s.ejections;
  return Math.max(0, s.ejections - Math.floor((now - s.since) / c.ejectMs));
}

/** Whether a reported failure count calls for ejecting a server that is in selection now. */
export function shouldEject(s: OutlierState, reported: number, c: OutlierConfig): boolean {
  return c.ejectAfter > 0 && s.ejectedUntil === 0 && freshFailures(s, reported) >= c.ejectAfter;
}

/** Ejects: the state is changed in place; returns when the ejection ends. */
export function eject(s: OutlierState, reported: number, now: number, c: OutlierConfig): number {
  const n = decayed(s, now, c) + 1;
  s.ejections = n;
  s.ejectedUntil = now + ejectionMs(n, c);
  s.since = s.ejectedUntil;
  s.baseline = reported;
  return s.ejectedUntil;
}

/**
 * Takes a report's count in: a count below the baseline means a success came between, so the
 * baseline goes; a count that rose is a new failure: the decay so far is kept, and counts again from now.
 */
export function observeFailures(s: OutlierState, reported: number, now: number, c: OutlierConfig): void {
  if (reported < s.baseline) s.baseline = 0;
  if (reported > s.reported && s.ejectedUntil === 0 && now > s.since) {
    s.ejections = decayed(s, now, c);
    s.since = now;
  }
  s.reported = reported;
}

/** Ends the ejection if its time has come; says whether it did. */
export function release(s: OutlierState, now: number): boolean {
  if (s.ejectedUntil === 0 || now < s.ejectedUntil) return false;
  s.since = s.ejectedUntil;
  s.ejectedUntil = 0;
  return true;
}
