import type { Outcome } from "./handler-boundary.js";

/**
 * An app server's count of runs failed in a row for reasons that are the server's, not the
 * handler's: the deadline passed, the result could not be sent, the worker thread died (an
 * outcome marked `fault`). A success resets it; a handler's own error (TASK_FAILED, or an
 * AllotError it threw) and a cancelled or drained run neither count nor reset. Allocators read it
 * from the server's reports and eject a server whose count keeps rising.
 */
export class RunHealth {
  /** Failures in a row, at most `max`. */
  failures = 0;

  constructor(private readonly max = 1_000_000) {}

  /** A run ended with this outcome, answered by it. Says whether the count changed. */
  ended(o: Outcome): boolean {
    if (o.ok) return this.reset();
    return o.fault === true ? this.failed() : false;
  }

  /** A run was answered TIMEOUT at its deadline. Says whether the count changed. */
  failed(): boolean {
    if (this.failures >= this.max) return false;
    this.failures++;
    return true;
  }

  private reset(): boolean {
    if (this.failures === 0) return false;
    this.failures = 0;
    return true;
  }
}
