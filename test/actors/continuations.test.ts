import { start, stop } from "nact";
import { afterEach, describe, expect, it, vi } from "vitest";
import { continuations } from "../../src/actors/runtime/continuations.js";
import type { Asker } from "../../src/actors/runtime/context.js";
import { spawnRole } from "../../src/actors/runtime/role-actor.js";
import { AllotError, ErrorCode } from "../../src/protocol/index.js";
import type { Message } from "../../src/protocol/index.js";

const quiet = { warn: () => {}, debug: () => {}, info: () => {}, error: () => {} };

/** enqueue that records which work ran inside "the actor" (here: a flag around the call). */
function fakeActor() {
  let inside = false;
  const ran: string[] = [];
  const enqueue = (fn: () => void): void => {
    queueMicrotask(() => {
      inside = true;
      try {
        fn();
      } finally {
        inside = false;
      }
    });
  };
  return { enqueue, ran, isInside: () => inside };
}

const answering = (m: Message | Error): Asker => ({ request: () => (m instanceof Error ? Promise.reject(m) : Promise.resolve(m)) });
const pong: Message = { type: "pong", id: 1, re: 0, from: "x", body: {} } as Message;

afterEach(() => {
  vi.useRealTimers();
});

describe("continuations", () => {
  describe("ask", () => {
    it("runs the answer's continuation inside the actor, never as a bare callback", async () => {
      const a = fakeActor();
      const c = continuations(a.enqueue);
      const seen = await new Promise<[boolean, Message | undefined]>((resolve) => c.ask(answering(pong), "ping", {}, 100, (err, m) => resolve([a.isInside(), err ? undefined : m])));
      expect(seen).toEqual([true, pong]);
    });

    it("hands a failure over as an AllotError, inside the actor", async () => {
      const a = fakeActor();
      const c = continuations(a.enqueue);
      const [inside, err] = await new Promise<[boolean, AllotError | undefined]>((resolve) => c.ask(answering(new AllotError(ErrorCode.UNREACHABLE, "gone")), "ping", {}, 100, (e) => resolve([a.isInside(), e])));
      expect(inside).toBe(true);
      expect(err).toMatchObject({ code: ErrorCode.UNREACHABLE, message: "gone" });
      const [, plain] = await new Promise<[boolean, AllotError | undefined]>((resolve) => c.ask(answering(new Error("boom")), "ping", {}, 100, (e) => resolve([a.isInside(), e])));
      expect(plain).toBeInstanceOf(AllotError);
    });
  });

  describe("after and every", () => {
    it("run timers inside the actor, and the returned function cancels them", async () => {
      vi.useFakeTimers();
      const a = fakeActor();
      const c = continuations(a.enqueue);
      const log: string[] = [];
      c.after(100, () => log.push(`once ${a.isInside()}`));
      const cancelled = c.after(100, () => log.push("cancelled"));
      cancelled();
      const stopEvery = c.every(40, () => log.push(`tick ${a.isInside()}`));
      await vi.advanceTimersByTimeAsync(130);
      stopEvery();
      await vi.advanceTimersByTimeAsync(200);
      expect(log).toEqual(["tick true", "tick true", "once true", "tick true"]);
    });
  });

  describe("the hook", () => {
    it("wraps every continuation, so a throw in one reaches the actor's supervisor, which resumes it", async () => {
      const system = start();
      const fatal: unknown[] = [];
      const errors: string[] = [];
      const log = { ...quiet, error: (o: object) => errors.push(JSON.stringify(o)) };
      const actor = spawnRole(system, "role", () => ({ handle: () => {} }), { name: "one-for-one", maxRestarts: 5, withinMs: 60_000 }, log, Date.now, (err) => fatal.push(err));
      let throwNext = true;
      const c = continuations(
        (fn) => actor.enqueue(fn),
        (fn, what) => () => {
          if (throwNext) {
            throwNext = false;
            throw new Error(`injected into ${what}`);
          }
          fn();
        },
      );
      const answers: string[] = [];
      c.ask(answering(pong), "ping", {}, 100, () => answers.push("first"));
      await vi.waitFor(() => expect(errors).toHaveLength(1));
      // The actor survived the throw: the next continuation runs.
      await new Promise<void>((resolve) => c.ask(answering(pong), "ping", {}, 100, () => (answers.push("second"), resolve())));
      expect(answers).toEqual(["second"]);
      expect(errors[0]).toMatch(/injected into answer to ping/);
      expect(fatal).toEqual([]);
      stop(system);
    });
  });
});
