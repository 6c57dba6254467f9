import { createBudget } from "../actors/runtime/supervision.js";
import type { SupervisionStrategy } from "../actors/runtime/supervision.js";
import type { Logger } from "pino";

/**
 * Keeps a node's process up through a throw nothing awaits — an inline handler's stray timer
 * callback, a promise nobody catches — within the supervisor's budget: each is logged at error
 * level, and past the budget `onFatal` ends the process as an actor crash would. The runtime's
 * own work runs inside supervised actors; what reaches here is user code's. Returns the undo.
 */
export function catchStrayErrors(log: Logger, strategy: SupervisionStrategy, now: () => number, onFatal: (err: unknown) => void): () => void {
  const budget = createBudget(strategy, now);
  const on = (what: string) => (err: unknown): void => {
    log.error({ err: err instanceof Error ? (err.stack ?? err.message) : String(err) }, `${what} (a handler's stray callback?); the node carries on`);
    if (budget(err) === "give-up") onFatal(err);
  };
  const exception = on("uncaught exception");
  const rejection = on("unhandled rejection");
  process.on("uncaughtException", exception);
  process.on("unhandledRejection", rejection);
  return () => {
    process.off("uncaughtException", exception);
    process.off("unhandledRejection", rejection);
  };
}
