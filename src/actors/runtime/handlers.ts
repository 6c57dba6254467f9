import { createHash } from "node:crypto";
import { AllotError, ErrorCode } from "../../protocol/index.js";

/** What a handler learns about the task it runs. */
export interface TaskContext {
  taskId: string;
  /** The idempotency key: the same for every retry of one task. */
  key: string;
  app: string;
  /** The client's try this run belongs to, from 1. */
  attempt: number;
  /** When the task's time is up, ms since the epoch; the answer is then TIMEOUT. */
  deadline: number;
  /** The verified id of the client the run is for (a slave's run names the client it speaks for). */
  client: string;
  /** Fires at the deadline, when the server drains or stops, and when the client cancels. */
  signal: AbortSignal;
  /** The server's clock, ms since the epoch (a test cluster's virtual clock; real time on a worker thread). */
  now(): number;
  /** Resolves after `ms` on the server's clock; rejects as soon as the run's signal aborts. */
  sleep(ms: number): Promise<void>;
}

/** A TaskContext's plain fields: what crosses to a worker thread. */
export type TaskFields = Omit<TaskContext, "signal" | "now" | "sleep">;

/** @deprecated the old name of {@link TaskContext}. */
export type TaskInfo = TaskContext;

/**
 * Runs one task of an application: payload in, plain-data result out (or a promise of it). A
 * throw or rejection is answered TASK_FAILED with its message (an {@link AllotError} keeps its
 * code, so a handler can throw a retryable one).
 */
export type Handler = (payload: unknown, task: TaskContext) => unknown;

/** What a handler module may export besides its handlers. */
export interface HandlerHooks {
  /** Awaited once where the module's handlers run (before the node is ready, or in each worker thread). */
  setup?: () => unknown;
  /** Awaited once when the node stops, where setup ran inline. */
  teardown?: () => unknown;
}

const field = (payload: unknown, name: string): unknown =>
  typeof payload === "object" && payload !== null && !Array.isArray(payload) ? (payload as Record<string, unknown>)[name] : undefined;

/** A bad payload is the caller's mistake: INVALID (not retried), not the server's INTERNAL. */
function count(x: unknown, name: string, max: number): number {
  if (typeof x !== "number" || !Number.isInteger(x) || x < 0 || x > max) throw new AllotError(ErrorCode.INVALID, `${name} must be an integer from 0 to ${max}, got ${JSON.stringify(x)}`);
  return x;
}

/** Rounds `hash` runs when the payload names none. */
export const DEFAULT_HASH_ROUNDS = 1000;

/** The handlers every app server has unless told otherwise. */
export const builtinHandlers: Readonly<Record<string, Handler>> = {
  /** Returns its payload. */
  echo: (payload) => payload,
  /** Waits `ms` (a number, or `{ ms }`) and returns `{ slept: ms }`; stops early when the task is aborted. */
  sleep: async (payload, task) => {
    const ms = count(typeof payload === "number" ? payload : field(payload, "ms"), "sleep ms", 600_000);
    await task.sleep(ms);
    return { slept: ms };
  },
  /**
   * CPU work: `rounds` (a number, or `{ rounds, data }`; default 1000 rounds of "allot") chained
   * sha256 rounds; returns the hex digest. It runs in the worker pool where there is one.
   */
  hash: (payload) => {
    const bare = payload === null || payload === undefined || typeof payload === "number" || Array.isArray(payload) || typeof payload !== "object";
    const given = bare ? (payload ?? undefined) : field(payload, "rounds");
    const rounds = given === undefined ? DEFAULT_HASH_ROUNDS : count(given, "hash rounds", 10_000_000);
    const data = field(payload, "data");
    let digest: Buffer = Buffer.from(typeof data === "string" ? data : "allot");
    for (let i = 0; i < rounds; i++) digest = createHash("sha256").update(digest).digest();
    return { rounds, digest: digest.toString("hex") };
  },
};

/** Built-ins that are CPU-bound: they go to the worker pool when the server has one. */
export const POOLED_BUILTINS: ReadonlySet<string> = new Set(["hash"]);
