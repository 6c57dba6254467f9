// A worker thread of an app server's handler pool (piscina loads this file). It runs one task at a
// time behind the same boundary as inline handlers, and answers plain data only.
import { setTimeout as sleep } from "node:timers/promises";
import { threadId, workerData } from "node:worker_threads";
import { builtinHandlers } from "./handlers.js";
import type { Handler, TaskContext } from "./handlers.js";
import { describeThrown, invoke } from "./handler-boundary.js";
import type { Outcome } from "./handler-boundary.js";
import { loadHandlerModule } from "./handler-module.js";
import { markStarted } from "./pool-board.js";
import type { PoolData, PoolReply, PoolTask } from "./handler-pool.js";

// A handler's console output must not reach the node's stdout, where the one `ready` line is.
process.stdout.write = process.stderr.write.bind(process.stderr);

// A throw no task awaits — a handler's stray timer, a promise nobody catches — would end this
// thread and fail whichever task runs on it next, a task that did nothing wrong. It is reported
// and the thread goes on; the handler that caused it has already been answered.
const stray = (what: string) => (err: unknown): void => {
  process.stderr.write(`allot handler thread: ${what}: ${describeThrown(err)}\n`);
};
process.on("uncaughtException", stray("uncaught exception"));
process.on("unhandledRejection", stray("unhandled rejection"));

const { file, apps, board } = workerData as PoolData;
let module: Promise<Record<string, Handler>> | undefined;

/** The user's handlers, loaded and set up once per thread, when its first task arrives. */
function ownHandlers(): Promise<Record<string, Handler>> {
  module ??= file === null
    ? Promise.resolve({})
    : loadHandlerModule(file, apps).then(async (m) => {
        await m.hooks.setup?.();
        return m.handlers;
      });
  return module;
}

function reply(o: Outcome): PoolReply {
  if (o.ok) return { ok: true, result: o.result };
  const r: PoolReply = { ok: false, code: o.error.code, message: o.error.message, retryable: o.error.retryable };
  return o.fault === true ? { ...r, fault: true } : r;
}

export default async function runTask(t: PoolTask): Promise<PoolReply> {
  // Tells the pool which thread runs this task, so that its slot is freed only once the thread has stopped.
  markStarted(board, t.run, threadId);
  const handler = (await ownHandlers())[t.app] ?? builtinHandlers[t.app];
  if (!handler) return { ok: false, code: "INVALID", message: `no handler for ${t.app} in this worker`, retryable: false };
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(new Error("deadline passed")), Math.max(0, t.task.deadline - Date.now()));
  // A worker thread keeps real time: a test cluster runs its handlers inline (workers: 0).
  const ctx: TaskContext = { ...t.task, signal: ac.signal, now: Date.now, sleep: (ms) => sleep(ms, undefined, { signal: ac.signal }) };
  try {
    return await new Promise<PoolReply>((resolve) => invoke(handler, t.app, t.payload, ctx, (o) => resolve(reply(o))));
  } finally {
    clearTimeout(timer);
  }
}
