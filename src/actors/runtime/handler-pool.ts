import { once } from "node:events";
import { fileURLToPath } from "node:url";
import type { Worker } from "node:worker_threads";
import { Piscina } from "piscina";
import { AllotError, ErrorCode, checkPlainData, isErrorCode } from "../../protocol/index.js";
import type { TaskFields } from "./handlers.js";
import type { Outcome } from "./handler-boundary.js";
import { describeThrown } from "./handler-boundary.js";
import { BOARD_SLOTS } from "./pool-board.js";

/** What every thread of a pool knows: the user's module, if any, the applications it serves, and the board. */
export interface PoolData {
  file: string | null;
  apps: readonly string[];
  /** Where a thread writes which task it started (pool-board.ts). */
  board?: SharedArrayBuffer;
}

/** One task as it crosses to a worker thread. */
export interface PoolTask {
  run: number;
  app: string;
  payload: unknown;
  task: TaskFields;
}

/** A worker's answer: plain data only, so it crosses the thread boundary as is. */
export type PoolReply = { ok: true; result: unknown } | { ok: false; code: string; message: string; retryable: boolean; fault?: true };

/**
 * The worker file, built: under vitest this module is the .ts source, and a worker thread runs
 * plain Node, so it loads the compiled copy beside the build (npm test builds first).
 */
function workerFile(): string {
  const here = fileURLToPath(import.meta.url);
  return here.endsWith(".ts") ? here.replace(/[\\/]src[\\/]actors[\\/]runtime[\\/][^\\/]+\.ts$/, "/dist/src/actors/runtime/handler-worker.js") : here.replace(/handler-pool\.js$/, "handler-worker.js");
}

function fromReply(app: string, r: PoolReply): Outcome {
  if (!r.ok) {
    const error = new AllotError(isErrorCode(r.code) ? r.code : ErrorCode.TASK_FAILED, r.message, { retryable: r.retryable });
    return r.fault === true ? { ok: false, error, fault: true } : { ok: false, error };
  }
  try {
    // The worker copied the result to plain data; the structured clone may still carry what
    // msgpack cannot (a BigInt): checked again here, on this side of the thread boundary.
    return { ok: true, result: checkPlainData(r.result, "result") };
  } catch (err) {
    return { ok: false, error: new AllotError(ErrorCode.INVALID, `the ${app} handler's result cannot be sent: ${describeThrown(err)}`, { retryable: false }), fault: true };
  }
}

/**
 * A worker-thread pool for CPU-bound handlers (piscina): one task per thread at a time, so an
 * aborted task's thread can be terminated without touching any other. Threads start when the
 * first task needs one.
 */
export class HandlerPool {
  private readonly pool: Piscina;
  private readonly board = new SharedArrayBuffer(BOARD_SLOTS * 2 * Int32Array.BYTES_PER_ELEMENT);
  private readonly view = new Int32Array(this.board);
  /** One exit promise per thread, shared by every task that ran on it (one listener, not one per task). */
  private readonly exits = new WeakMap<Worker, Promise<void>>();
  private seq = 0;

  constructor(
    data: PoolData,
    threads: number,
    onError: (err: unknown) => void,
  ) {
    this.pool = new Piscina({
      filename: workerFile(),
      workerData: { ...data, board: this.board } satisfies PoolData,
      minThreads: 0,
      maxThreads: threads,
      idleTimeout: 60_000,
      concurrentTasksPerWorker: 1,
      // Threads keep a live event loop between tasks, for a handler's timers and I/O.
      atomics: "disabled",
    });
    // A thread that fails with no task of ours on it: without a listener, the pool's 'error' would throw.
    this.pool.on("error", onError);
  }

  /** Tasks waiting for a thread, and threads running. */
  stats(): { threads: number; queued: number } {
    return { threads: this.pool.threads.length, queued: this.pool.queueSize };
  }

  /**
   * Runs a task on a thread; `done` gets its outcome once the run has stopped. When `signal`
   * aborts, a queued task leaves the queue and a running one's thread is terminated, and `done`
   * waits for that thread to exit: the caller's slot stays taken until then.
   */
  run(app: string, payload: unknown, task: TaskFields, signal: AbortSignal, done: (o: Outcome) => void): void {
    const run = (this.seq = (this.seq + 1) & 0x7fffffff) || (this.seq = 1);
    let exited: Promise<void> | undefined;
    // Registered before piscina's own listener, so it runs first, while the thread is still in the pool's list.
    const onAbort = (): void => {
      exited = this.threadOf(run);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    const t: PoolTask = { run, app, payload, task };
    this.pool.run(t, { signal }).then(
      (r: PoolReply) => {
        signal.removeEventListener("abort", onAbort);
        done(fromReply(app, r));
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        // A thread that died under a task is the run's failure, not the handler's answer: counted against the server's health.
        const outcome: Outcome = signal.aborted ? { ok: false, error: AllotError.from(signal.reason, ErrorCode.TIMEOUT) } : { ok: false, error: new AllotError(ErrorCode.TASK_FAILED, `${app}: its worker thread failed: ${describeThrown(err)}`, { retryable: false }), fault: true };
        if (exited) exited.then(() => done(outcome));
        else done(outcome);
      },
    );
  }

  /** The exit of the thread running `run`, if it started: read off the board. */
  private threadOf(run: number): Promise<void> | undefined {
    const slot = 2 * (run % BOARD_SLOTS);
    if (Atomics.load(this.view, slot) !== run) return undefined;
    const threadId = Atomics.load(this.view, slot + 1);
    const worker = this.pool.threads.find((w) => w.threadId === threadId);
    if (!worker) return undefined;
    let exited = this.exits.get(worker);
    if (!exited) {
      exited = once(worker, "exit").then(() => undefined, () => undefined);
      this.exits.set(worker, exited);
    }
    return exited;
  }

  close(): Promise<void> {
    return this.pool.destroy();
  }
}
