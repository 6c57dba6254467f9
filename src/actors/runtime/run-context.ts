import type { TaskContext, TaskFields } from "./handlers.js";

/** Where a run's clock and sleep come from: the node's timers (its role context). */
export interface RunClock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/**
 * A run's abort signal, made only when someone asks for it: most handlers never read it, and an
 * AbortController costs more than the rest of a small task's run on the server. Aborting before
 * anyone asked is remembered, so a signal asked for later is already aborted.
 */
export class LazyAbort {
  private controller: AbortController | undefined;
  private why: unknown;
  aborted = false;

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort(this.why);
    }
    return this.controller.signal;
  }

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.why = reason;
    this.controller?.abort(reason);
  }
}

/** What an inline handler receives: the task's fields, and its signal made on first read. */
export class RunContext implements TaskContext {
  constructor(
    readonly taskId: string,
    readonly key: string,
    readonly app: string,
    readonly attempt: number,
    readonly deadline: number,
    private readonly abort: LazyAbort,
    /** The verified client the run is for. */
    readonly client: string,
    private readonly clock: RunClock,
  ) {}

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  now(): number {
    return this.clock.now();
  }

  sleep(ms: number): Promise<void> {
    return this.clock.sleep(ms, this.signal);
  }

  /** The plain fields, for a worker thread (a signal cannot cross). */
  toJSON(): TaskFields {
    return { taskId: this.taskId, key: this.key, app: this.app, attempt: this.attempt, deadline: this.deadline, client: this.client };
  }
}
