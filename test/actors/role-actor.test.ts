import { start, stop } from "nact";
import { afterEach, describe, expect, it } from "vitest";
import type { Behaviour } from "../../src/actors/runtime/context.js";
import { spawnRole } from "../../src/actors/runtime/role-actor.js";
import { AllotError, ErrorCode } from "../../src/protocol/index.js";
import type { Message } from "../../src/protocol/index.js";
import { Channel, createMemoryTransport } from "../../src/transport/index.js";
import type { ChannelOptions } from "../../src/transport/index.js";

const quiet = { warn: () => {}, debug: () => {}, info: () => {}, error: () => {} };

/** A client channel and the server side's role actor, joined by an in-memory wire. */
async function harness(behaviour: Behaviour, maxRestarts: number) {
  const system = start();
  const fatal: unknown[] = [];
  const actor = spawnRole(system, "role", () => behaviour, { name: "one-for-one", maxRestarts, withinMs: 60_000 }, quiet, Date.now, (err) => fatal.push(err));
  const transport = createMemoryTransport();
  const base: Omit<ChannelOptions, "dialer" | "node" | "role" | "onMessage"> = {
    maxFrameBytes: 1 << 20,
    maxInFlight: 100,
    requestTimeoutMs: 2000,
    handshakeMs: 2000,
    heartbeatMs: 0,
    now: Date.now,
    log: quiet,
  };
  const listener = await transport.listen("127.0.0.1:0", (wire) => {
    new Channel(wire, { ...base, dialer: false, node: "server", role: "tier2", onMessage: (m, ch) => actor.deliver(m, ch) });
  });
  const client = new Channel(await transport.connect(listener.url), { ...base, dialer: true, node: "c", role: "client", onMessage: () => {} });
  return {
    client,
    fatal,
    async close() {
      client.close();
      await listener.close();
      stop(system);
    },
  };
}

const place = { task: { id: "t", key: "t", app: "echo", deadline: Date.now() + 60_000, require: [], clientAttrs: {}, prefs: {}, payload: null }, client: { id: "c", addr: "" } };

describe("actors/role-actor", () => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });

  describe("spawnRole", () => {
    it("answers a request whose handler throws with INTERNAL and keeps serving the next ones", async () => {
      let calls = 0;
      const behaviour: Behaviour = {
        handle(m: Message, ch: Channel) {
          calls++;
          if (calls === 1) throw new Error("boom");
          ch.reply(m, "ack", {});
        },
      };
      const h = await harness(behaviour, 5);
      close = h.close;
      await expect(h.client.request("task.place", place)).rejects.toMatchObject({ code: ErrorCode.INTERNAL, message: expect.stringContaining("boom") });
      await expect(h.client.request("task.place", place)).resolves.toMatchObject({ type: "ack" });
      expect(h.fatal).toHaveLength(0);
    });

    it("answers every request of a batch even when one of them crashes the actor", async () => {
      const behaviour: Behaviour = {
        handle(m: Message, ch: Channel) {
          if (m.type === "task.place" && m.body.task.id === "bad") throw new Error("bad task");
          ch.reply(m, "ack", {});
        },
      };
      const h = await harness(behaviour, 5);
      close = h.close;
      const bad = { ...place, task: { ...place.task, id: "bad" } };
      // Sent in one turn, so they travel in one frame and reach the actor as one batch.
      const results = await Promise.allSettled([h.client.request("task.place", place), h.client.request("task.place", bad), h.client.request("task.place", place)]);
      expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
      const failed = results[1];
      expect(failed?.status === "rejected" && (failed.reason as AllotError).code).toBe(ErrorCode.INTERNAL);
    });

    it("takes everything received before it runs as one actor message, keeping envelopes and calls in order", async () => {
      const system = start();
      const seen: string[] = [];
      let actorMessages = 0;
      const behaviour: Behaviour = {
        handle(m: Message) {
          if (m.type === "task.place") seen.push(m.body.task.id);
        },
      };
      const actor = spawnRole(system, "role", () => (actorMessages++, behaviour), { name: "one-for-one", maxRestarts: 5, withinMs: 60_000 }, quiet, Date.now, () => {});
      close = async () => stop(system);
      // What a connection's frames arrive as: one message each, in separate callbacks.
      const ch = { flushNow() {} } as unknown as Channel;
      const msg = (id: string): Message => ({ v: 1, type: "task.place", id: 0, re: 0, from: "c", body: { ...place, task: { ...place.task, id } } });
      let done!: () => void;
      const finished = new Promise<void>((r) => (done = r));
      actor.deliver(msg("a"), ch);
      await Promise.resolve(); // another callback's turn, before the actor has run
      actor.deliver(msg("b"), ch);
      actor.enqueue(() => seen.push("call 1"));
      actor.deliver(msg("c"), ch);
      actor.enqueue(() => seen.push("call 2"));
      actor.enqueue(done);
      await finished;
      expect(seen).toEqual(["a", "b", "call 1", "c", "call 2"]);
      // [a, b], [call 1], [c], [call 2, done]: a run of one kind is one actor message.
      expect(actorMessages).toBe(4);
    });

    it("gives up, calling the node's fatal handler, once crashes exceed the restart budget", async () => {
      const behaviour: Behaviour = {
        handle() {
          throw new Error("always");
        },
      };
      const h = await harness(behaviour, 2);
      close = h.close;
      for (let i = 0; i < 3; i++) await expect(h.client.request("task.place", place)).rejects.toMatchObject({ code: ErrorCode.INTERNAL });
      // The supervisor decides after the reply leaves; wait for its decision, bounded.
      for (let i = 0; i < 100 && h.fatal.length === 0; i++) await new Promise((r) => setImmediate(r));
      expect(h.fatal).toHaveLength(1);
      expect(String(h.fatal[0])).toContain("always");
    });
  });
});
