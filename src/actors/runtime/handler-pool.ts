import { once } from "node:events";
import { fileURLToPath } from "node:url";
import type { Worker } from "node:worker_threads";
import { Piscina } from "piscina";
import { AllotError, ErrorCode, checkPlainData, isErrorCode } from "../../protocol/index.js";
import type { TaskContext } from "./handlers.js";
import type { Outcome } from "./handler-boundary.js";
import { describeThrown } from "./handler-boundary.js";

/** What every thread of a pool knows: the user's module, if any, and the applications it serves. */
export interface PoolData {
  file: string | null;
  apps: readonly string[];
}

/** One task as it crosses to a worker thread. */
export interface PoolTask {
  run: number;
  app: string;
  payload: unknown;
  task: Omit<TaskContext, "signal">;
}

/** A worker's answer: plain data only, so it crosses the thread boundary as is. */
export type PoolReply = { ok: true; result: unknown } | { ok: false; code: string; message: string; retryable: boolean };

interface Started {
  /** Settles when the thread the task started on has exited. */
  exited?: Promise<void>;
}

/**
 * The worker file, built: under vitest this module is the .ts source, and a worker thread runs
 * plain Node, so it loads the compiled copy beside the build (npm test builds first).
 */
function workerFile(): string {
  const here = fileURLToPath(import.meta.url);
  return here.endsWith(".ts") ? here.replace(/[\\/]src[\\/]actors[\\/]runtime[\\/][^\\/]+\.ts$/, "/dist/src/actors/runtime/handler-worker.js") : here.replace(/handler-pool\.js$/, "handler-worker.js");
}

function fromReply(app: string, r: PoolReply): Outcome {
  if (!r.ok) return { ok: false, error: new AllotError(isErrorCode(r.code) ? r.code : ErrorCode.TASK_FAILED, r.message, { retryable: r.retryable }) };
  try {
    // The worker copied the result to plain data; the structured clone may still carry what
    // msgpack cannot (a BigInt): checked again here, on this side of the thread boundary.
    return { ok: true, result: checkPlainData(r.result, "result") };
  } catch (err) {
    return { ok: false, error: new AllotError(ErrorCode.INVALID, `the ${app} handler's result cannot be sent: ${describeThrown(err)}`, { retryable: false }) };
  }
}

/**
 * A worker-thread pool for CPU-bound handlers (piscina): one task per thread at a time, so an
 * aborted task's thread can be terminated without touching any other. Threads start when the
 * first task needs one.
 */
export class HandlerPool {
  private readonly pool: Piscina;
  private readonly started = new Map<number, Started>();
  /** One exit promise per thread, shared by every task that runs on it (one listener, not one per task). */
  private readonly exits = new WeakMap<Worker, Promise<void>>();
  private seq = 0;

  constructor(
    data: PoolData,
    threads: number,
    onError: (err: unknown) => void,
  ) {
    this.pool = new Piscina({
      filename: workerFile(),
      workerData: data,
      minThreads: 0,
      maxThreads: threads,
      idleTimeout: 60_000,
      concurrentTasksPerWorker: 1,
      // Threads keep a live event loop between tasks, for a handler's timers and I/O.
      atomics: "disabled",
    });
    // A thread that fails with no task of ours on it: without a listener, the pool's 'error' would throw.
    this.pool.on("error", onError);
    this.pool.on("message", (m: unknown) => this.onStarted(m));
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
  run(app: string, payload: unknown, task: Omit<TaskContext, "signal">, signal: AbortSignal, done: (o: Outcome) => void): void {
    const run = ++this.seq;
    const started: Started = {};
    this.started.set(run, started);
    const finish = (o: Outcome): void => {
      this.started.delete(run);
      done(o);
    };
    const t: PoolTask = { run, app, payload, task };
    this.pool.run(t, { signal }).then(
      (r: PoolReply) => finish(fromReply(app, r)),
      (err: unknown) => {
        const outcome: Outcome = { ok: false, error: signal.aborted ? AllotError.from(signal.reason, ErrorCode.TIMEOUT) : new AllotError(ErrorCode.TASK_FAILED, `${app}: its worker thread failed: ${describeThrown(err)}`, { retryable: false }) };
        if (started.exited) started.exited.then(() => finish(outcome));
        else finish(outcome);
      },
    );
  }

  private onStarted(m: unknown): void {
    if (typeof m !== "object" || m === null) return;
    const { allotRun, threadId } = m as { allotRun?: unknown; threadId?: unknown };
    const s = typeof allotRun === "number" ? this.started.get(allotRun) : undefined;
    if (!s) return;
    const worker: Worker | undefined = this.pool.threads.find((w) => w.threadId === threadId);
    if (!worker) return;
    let exited = this.exits.get(worker);
    if (!exited) {
      exited = once(worker, "exit").then(() => undefined, () => undefined);
      this.exits.set(worker, exited);
    }
    s.exited = exited;
  }

  close(): Promise<void> {
    return this.pool.destroy();
  }
}
