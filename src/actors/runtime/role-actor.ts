import { dispatch, spawn } from "nact";
import type { ActorSystemRef } from "nact";
import { AllotError, ErrorCode, isOpaque } from "../../protocol/index.js";
import type { Inbound, Message } from "../../protocol/index.js";
import type { Channel } from "../../transport/index.js";
import type { Behaviour, RoleLog } from "./context.js";
import { createBudget } from "./supervision.js";
import type { Decision, SupervisionStrategy } from "./supervision.js";

/** One actor message: the envelopes that arrived in one turn, or work re-entering the actor. */
type Mail = { kind: "net"; items: Array<[Inbound, Channel]> } | { kind: "call"; fns: Array<() => void> };

export interface RoleActor {
  /** Hands a received message to the actor; messages of one turn travel as one actor message. */
  deliver(m: Inbound, ch: Channel): void;
  /** Runs `fn` inside the actor, in mailbox order. */
  enqueue(fn: () => void): void;
  /** The actor will run nothing more (its system is being stopped): what is queued comes off the activity count. */
  abandon(): void;
}

/**
 * Spawns a role's actor under `system`. nact runs one actor message per event-loop turn, so the
 * envelopes of a turn are batched into one: replies then leave in one frame. A request whose
 * handler throws is answered INTERNAL before the crash reaches the supervisor, so nothing in the
 * batch goes unanswered; the supervisor resumes within its budget and gives up past it.
 */
export function spawnRole(
  system: ActorSystemRef,
  name: string,
  /** The role's behaviour; undefined only while the node is still starting. */
  behaviour: () => Behaviour | undefined,
  strategy: SupervisionStrategy,
  log: RoleLog,
  now: () => number,
  onGiveUp: (err: unknown) => void,
  /**
   * Counts actor messages dispatched and not yet finished (+1 on dispatch, -1 once the actor ran
   * it, throw included; what a stopped actor will never run is taken off): 0 when the actor is idle.
   */
  activity?: { busy: number },
  /** Told of every crash and what the supervisor decided (the node counts them for its metrics). */
  onCrash?: (decision: Decision) => void,
): RoleActor {
  const budget = createBudget(strategy, now);
  // Messages dispatched and not finished, so what a stopped actor drops can be taken off `activity`.
  let outstanding = 0;
  let stopped = false;
  const queued = activity
    ? (): void => {
        if (stopped) return;
        outstanding++;
        activity.busy++;
      }
    : undefined;
  const run = (state: undefined, mail: Mail): undefined => {
    // From here on, what arrives goes into a new actor message.
    if (mail.kind === "net" && mail.items === batch) batch = undefined;
    if (mail.kind === "call" && mail.fns === calls) calls = undefined;
    const b = behaviour();
    let crash: unknown;
    if (mail.kind === "call") {
      for (const fn of mail.fns) {
        try {
          fn();
        } catch (err) {
          crash ??= err;
        }
      }
      if (crash !== undefined) throw crash;
      return state;
    }
    for (const [m, ch] of mail.items) {
      try {
        if (!b) throw new AllotError(ErrorCode.DRAINING, "node is still starting");
        if (!isOpaque(m)) b.handle(m, ch);
        else if (b.handleOpaque) b.handleOpaque(m, ch);
        else throw new AllotError(ErrorCode.INTERNAL, `${m.type} arrived unread at a role that reads every body`);
      } catch (err) {
        crash ??= err;
        ch.replyError(m, new AllotError(ErrorCode.INTERNAL, `${m.type} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err }));
      }
    }
    // Replies to this batch leave now, not one loop iteration later.
    let last: Channel | undefined;
    for (const [, ch] of mail.items) if (ch !== last) (last = ch).flushNow();
    if (crash !== undefined) throw crash;
    return state;
  };
  const actor = spawn(
    system,
    activity
      ? (state: undefined, mail: Mail) => {
          try {
            return run(state, mail);
          } finally {
            if (!stopped) {
              outstanding--;
              activity.busy--;
            }
          }
        }
      : run,
    name,
    {
      onCrash: (_msg: unknown, err: unknown, ctx) => {
        const decision = budget(err);
        onCrash?.(decision);
        log.error({ err: err instanceof Error ? err.message : String(err), decision, strategy: strategy.name }, "actor crashed");
        if (decision === "resume") return ctx.resume;
        // Stopped: what is still in its mailbox will never run.
        abandon();
        onGiveUp(err);
        return ctx.stop;
      },
    },
  );
  // The open batch of each kind: one actor message, already dispatched, that takes every
  // envelope or call arriving until the actor runs it. nact runs a message in a setImmediate of
  // its own, so everything received in one poll phase (many sockets' frames) becomes one actor
  // message, not one each: at 1,000 reports a second that was most of an allocator's CPU.
  // Opening a batch of one kind closes the other's, so envelopes and calls keep their order.
  let batch: Array<[Inbound, Channel]> | undefined;
  let calls: Array<() => void> | undefined;
  function abandon(): void {
    if (activity && !stopped) {
      activity.busy -= outstanding;
      outstanding = 0;
    }
    stopped = true;
  }
  return {
    abandon,
    deliver(m, ch) {
      if (batch) {
        batch.push([m, ch]);
        return;
      }
      calls = undefined;
      batch = [[m, ch]];
      queued?.();
      dispatch(actor, { kind: "net", items: batch } satisfies Mail);
    },
    enqueue(fn) {
      if (calls) {
        calls.push(fn);
        return;
      }
      batch = undefined;
      calls = [fn];
      queued?.();
      dispatch(actor, { kind: "call", fns: calls } satisfies Mail);
    },
  };
}

/** The answer to a message type a role does not serve. */
export function unknownType(role: string, m: Inbound): AllotError {
  return new AllotError(ErrorCode.UNKNOWN_TYPE, `this ${role} does not handle ${m.type}`);
}
