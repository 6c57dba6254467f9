import type { TaskContext } from "./handlers.js";

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
  ) {}

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  /** The plain fields, for a worker thread (a signal cannot cross). */
  toJSON(): Omit<TaskContext, "signal"> {
    return { taskId: this.taskId, key: this.key, app: this.app, attempt: this.attempt, deadline: this.deadline };
  }
}
