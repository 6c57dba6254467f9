import { availableParallelism } from "node:os";
import { AllotError, ErrorCode } from "../../protocol/index.js";
import { POOLED_BUILTINS, builtinHandlers } from "./handlers.js";
import type { Handler, HandlerHooks } from "./handlers.js";
import type { RunContext } from "./run-context.js";
import { invoke } from "./handler-boundary.js";
import type { Outcome } from "./handler-boundary.js";
import { loadHandlerModule } from "./handler-module.js";
import { HandlerPool } from "./handler-pool.js";

export interface HandlerRunnerOptions {
  apps: readonly string[];
  /** Functions run inline, by application; or the path of a module whose exports are (run in the pool). */
  handlers?: Readonly<Record<string, Handler>> | string | undefined;
  /** Worker threads for module handlers and CPU-bound built-ins; 0 runs everything inline. Default: the number of cores. */
  workers?: number | undefined;
  /** Where a pool thread's stray failure is reported. */
  onPoolError?: (err: unknown) => void;
}

/** Runs the handlers of an app server's applications, inline or on worker threads. */
export interface HandlerRunner {
  /** Where each application runs. */
  readonly placement: Readonly<Record<string, "inline" | "pool">>;
  /**
   * Runs one task; `done` is called exactly once, when the run has really stopped (synchronously
   * for a synchronous inline handler). After the task's signal aborts, an inline run still ends
   * only when its handler settles, a pooled one when its thread has been terminated.
   */
  run(app: string, payload: unknown, task: RunContext, done: (o: Outcome) => void): void;
  stats(): { threads: number; queued: number };
  /** Stops the pool's threads and runs the module's teardown. */
  close(): Promise<void>;
}

export function validateWorkers(n: number): void {
  if (!Number.isInteger(n) || n < 0 || n > 1024) throw new RangeError(`workers must be an integer from 0 to 1024, got ${n}`);
}

/**
 * Builds the runner for an app server: loads a handler module (awaiting its `setup` when its
 * handlers run inline), checks that every application has a handler, and decides where each runs.
 * Throws a HandlerModuleError naming the file and application, or a TypeError, before anything starts.
 */
export async function createHandlerRunner(o: HandlerRunnerOptions): Promise<HandlerRunner> {
  const workers = o.workers ?? availableParallelism();
  validateWorkers(workers);
  const file = typeof o.handlers === "string" ? o.handlers : undefined;
  const module = file === undefined ? undefined : await loadHandlerModule(file, o.apps);
  const inline: Record<string, Handler> = { ...builtinHandlers, ...(typeof o.handlers === "object" ? o.handlers : {}), ...(workers === 0 ? module?.handlers : {}) };
  const placement: Record<string, "inline" | "pool"> = {};
  for (const app of o.apps) {
    const own = module !== undefined && Object.hasOwn(module.handlers, app);
    if (workers > 0 && (own || (POOLED_BUILTINS.has(app) && !(typeof o.handlers === "object" && Object.hasOwn(o.handlers, app))))) placement[app] = "pool";
    else if (Object.hasOwn(inline, app)) placement[app] = "inline";
    else throw new TypeError(`no handler for application ${JSON.stringify(app)}; built in: ${Object.keys(builtinHandlers).join(", ")}`);
  }
  const hooks: HandlerHooks = workers === 0 ? (module?.hooks ?? {}) : {};
  await hooks.setup?.();
  let pool: HandlerPool | undefined;
  const pooled = (): HandlerPool => (pool ??= new HandlerPool({ file: module?.file ?? null, apps: o.apps }, workers, o.onPoolError ?? (() => {})));
  return {
    placement,
    run(app, payload, task, done) {
      if (placement[app] === "pool") return pooled().run(app, payload, task.toJSON(), task.signal, done);
      const h = inline[app];
      if (!h) return done({ ok: false, error: new AllotError(ErrorCode.INVALID, `no handler for ${JSON.stringify(app)}`) });
      invoke(h, app, payload, task, done);
    },
    stats: () => pool?.stats() ?? { threads: 0, queued: 0 },
    async close() {
      await pool?.close();
      await hooks.teardown?.();
    },
  };
}
