/**
 * The seam types of /work/seams-api.md (src/transport/timers.ts), declared here until that branch
 * is merged; then this file only re-exports them, so the rest of testing never changes.
 */
export type Cancel = () => void;

/** Where a node's time and deferred work come from: real timers, or a test's virtual clock. */
export interface Timers {
  now(): number;
  after(ms: number, fn: () => void): Cancel;
  every(ms: number, fn: () => void): Cancel;
  defer(fn: () => void): void;
}

/** Where random bytes come from (nonces, ticket keys, tickets, default ids). */
export interface Entropy {
  bytes(n: number): Uint8Array;
}
