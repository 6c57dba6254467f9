import { AllotError } from "../../protocol/index.js";
import { realTimers } from "../../transport/index.js";
import type { Timers } from "../../transport/index.js";
import type { RoleContext } from "./context.js";

/**
 * Wraps each continuation before it runs in the actor (`what` says which kind): for tracing, or
 * for a test that makes one throw to see the supervisor take it.
 */
export type ContinuationHook = (fn: () => void, what: string) => () => void;

/**
 * A role context's `ask`, `after` and `every`, built on `enqueue`: every answer and every timer
 * comes back as work in the actor's own mailbox, never as a bare callback, so a throw in one is
 * supervised and role state is touched only inside the actor.
 */
export function continuations(enqueue: (fn: () => void) => void, hook?: ContinuationHook, timers: Timers = realTimers): Pick<RoleContext, "ask" | "after" | "every"> {
  const run = hook ? (fn: () => void, what: string) => enqueue(hook(fn, what)) : (fn: () => void) => enqueue(fn);
  return {
    ask(to, type, body, timeoutMs, then) {
      to.request(type, body, timeoutMs).then(
        (m) => run(() => then(undefined, m), `answer to ${type}`),
        (err: unknown) => run(() => then(AllotError.from(err), undefined), `failure of ${type}`),
      );
    },
    after(ms, fn) {
      return timers.after(Math.max(0, ms), () => run(fn, "timer"));
    },
    every(ms, fn) {
      return timers.every(Math.max(1, ms), () => run(fn, "periodic timer"));
    },
  };
}
