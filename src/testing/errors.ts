import type { HistoryEvent } from "./history.js";

/**
 * The errors a test cluster throws, each typed so a test can tell a mistake in its spec from a
 * cluster that never came up or a run that never ended.
 */

/** The spec is wrong: `path` names the field (e.g. `tiered.apps[1].join[0]`). */
export class TestClusterSpecError extends Error {
  override readonly name = "TestClusterSpecError";
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`);
  }
}

/** A node id the cluster does not have (a fault or a submit named it). */
export class UnknownNodeError extends Error {
  override readonly name = "UnknownNodeError";
  constructor(
    readonly node: string,
    what: string,
  ) {
    super(`${what}: no node ${JSON.stringify(node)} in this cluster`);
  }
}

/** Start-up did not reach "every allocator knows every server alive" within its virtual deadline. */
export class StartupTimeoutError extends Error {
  override readonly name = "StartupTimeoutError";
  constructor(
    readonly waitingFor: string,
    readonly virtualMs: number,
  ) {
    super(`the cluster did not start within ${virtualMs} virtual ms: ${waitingFor}`);
  }
}

/** `run` took more steps than allowed; `tail` is the end of the history, to see where it looped. */
export class StepLimitError extends Error {
  override readonly name = "StepLimitError";
  constructor(
    readonly steps: number,
    readonly tail: HistoryEvent[],
    pending: string,
  ) {
    super(`run stopped after ${steps} steps without reaching its goal (${pending}); last events: ${JSON.stringify(tail)}`);
  }
}
