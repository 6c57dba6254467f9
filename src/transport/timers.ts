import { randomBytes } from "node:crypto";

/** Cancels a timer; calling it again, or after the timer fired, does nothing. */
export type Cancel = () => void;

/** Where a node's time and deferred work come from: real timers, or a test's virtual clock. */
export interface Timers {
  now(): number;
  /** fn once after ms (>= 0). Real timers are unref'd: they keep no process alive. */
  after(ms: number, fn: () => void): Cancel;
  /** fn every ms (>= 1). */
  every(ms: number, fn: () => void): Cancel;
  /** fn after the current turn (setImmediate in production). */
  defer(fn: () => void): void;
}

/** Real timers on the given clock: what a node uses unless a test gives its own. */
export function timersWithNow(now: () => number): Timers {
  return {
    now,
    after(ms, fn) {
      const t = setTimeout(fn, Math.max(0, ms));
      t.unref();
      return () => clearTimeout(t);
    },
    every(ms, fn) {
      const t = setInterval(fn, Math.max(1, ms));
      t.unref();
      return () => clearInterval(t);
    },
    defer(fn) {
      setImmediate(fn);
    },
  };
}

/** Real timers on the wall clock (Date.now). */
export const realTimers: Timers = timersWithNow(Date.now);

/** Where random bytes come from (nonces, ticket keys, tickets, default ids). */
export interface Entropy {
  bytes(n: number): Uint8Array;
}

/** The system's cryptographic randomness. */
export const realEntropy: Entropy = { bytes: (n) => randomBytes(n) };

/**
 * Wraps `timers` so that every timer made through the wrapper can be cancelled at once
 * (`cancelAll`), and nothing made through it runs afterwards — what a node's kill() needs.
 */
export function trackedTimers(timers: Timers): { timers: Timers; cancelAll(): void; readonly pending: number } {
  const live = new Set<Cancel>();
  let dead = false;
  const track = (make: (guarded: () => void) => Cancel, once: boolean, fn: () => void): Cancel => {
    if (dead) return () => {};
    let c: Cancel | undefined;
    const cancel: Cancel = () => {
      if (!live.delete(cancel)) return;
      c?.();
    };
    live.add(cancel);
    c = make(() => {
      if (dead) return;
      if (once) live.delete(cancel);
      fn();
    });
    return cancel;
  };
  return {
    timers: {
      now: () => timers.now(),
      after: (ms, fn) => track((g) => timers.after(ms, g), true, fn),
      every: (ms, fn) => track((g) => timers.every(ms, g), false, fn),
      // Nothing per deferral beyond the check (it is the channel's per-turn flush): what was
      // deferred before a kill still runs, into aborted channels and a stopped actor.
      defer(fn) {
        if (!dead) timers.defer(fn);
      },
    },
    cancelAll() {
      dead = true;
      for (const c of [...live]) c();
    },
    get pending() {
      return live.size;
    },
  };
}

/**
 * A sleep on `timers`: resolves after `ms`, or rejects with the signal's reason once it aborts (the
 * timer cancelled). `keepAlive` (real time only) holds the process open while it sleeps, as a plain
 * setTimeout would: a client backing off between tries must not let its process exit.
 */
export function sleepOn(timers: Timers, options: { keepAlive?: boolean } = {}): (ms: number, signal?: AbortSignal) => Promise<void> {
  const keepAlive = options.keepAlive === true;
  return (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const hold = keepAlive ? setTimeout(() => {}, Math.max(0, ms)) : undefined;
      const onAbort = (): void => {
        clearTimeout(hold);
        cancel();
        reject(signal?.reason);
      };
      const cancel = timers.after(ms, () => {
        clearTimeout(hold);
        signal?.removeEventListener("abort", onAbort);
        resolve();
      });
      signal?.addEventListener("abort", onAbort, { once: true });
    });
}
