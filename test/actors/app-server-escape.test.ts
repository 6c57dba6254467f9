import { start, stop } from "nact";
import { describe, expect, it } from "vitest";
import { createAppServer } from "../../src/actors/roles/app-server.js";
import type { Behaviour, RoleContext } from "../../src/actors/runtime/context.js";
import { NO_METRICS } from "../../src/actors/runtime/context.js";
import type { HandlerRunner } from "../../src/actors/runtime/handler-runner.js";
import { spawnRole } from "../../src/actors/runtime/role-actor.js";
import { continuations } from "../../src/actors/runtime/continuations.js";
import { AllotError } from "../../src/protocol/index.js";
import { Channel, DEFAULT_PEER, Peer, createMemoryTransport, createWsTransport, realEntropy, realTimers, sleepOn } from "../../src/transport/index.js";
import type { ChannelOptions } from "../../src/transport/index.js";
import { FakeAllocator } from "../helpers/fake-allocator.js";
import { eventually } from "../helpers/raw-client.js";

// The app server's own code past the handler boundary (here a runner that throws as it starts a
// run, as a worker pool that cannot start would): the run is answered on its own connection, its
// slot is freed, and the throw still reaches the actor's supervisor.

describe("actors/app-server", () => {
  describe("a run whose start throws past the handler boundary", () => {
    it("answers that run INTERNAL on its own connection, frees its slot, and raises the throw inside the actor", async () => {
      const crashes: string[] = [];
      const log = { warn() {}, debug() {}, info() {}, error: (o: object, msg: string) => void crashes.push(`${msg} ${JSON.stringify(o)}`) };
      const allocator = await FakeAllocator.start();
      const system = start();
      const fatal: unknown[] = [];
      let behaviour: Behaviour | undefined;
      const actor = spawnRole(system, "app", () => behaviour, { name: "one-for-one", maxRestarts: 10, withinMs: 60_000 }, log, Date.now, (e) => fatal.push(e));
      const base: Omit<ChannelOptions, "dialer" | "onMessage"> = { node: "app-x", role: "app", maxFrameBytes: 1 << 20, maxInFlight: 100, requestTimeoutMs: 5000, handshakeMs: 5000, heartbeatMs: 0, now: Date.now, log };
      const ws = createWsTransport();
      const peers: Peer[] = [];
      const ctx: RoleContext = {
        id: "app-x",
        role: "app",
        url: "mem://app-x",
        log,
        metrics: NO_METRICS,
        now: Date.now,
        random: Math.random,
        entropy: realEntropy,
        incarnation: Date.now(),
        defer: (fn) => realTimers.defer(fn),
        sleep: sleepOn(realTimers),
        connect(url, hooks = {}) {
          const p = new Peer(url, ws, { ...base, onMessage: (m, ch) => actor.deliver(m, ch) }, { ...DEFAULT_PEER, random: Math.random, ...hooks });
          peers.push(p);
          return p;
        },
        enqueue: (fn) => actor.enqueue(fn),
        ...continuations((fn) => actor.enqueue(fn)),
      };
      const runner: HandlerRunner = {
        placement: { boom: "inline" },
        run() {
          throw new Error("the pool cannot start");
        },
        stats: () => ({ threads: 0, queued: 0 }),
        close: async () => {},
      };
      const app = createAppServer(ctx, { apps: ["boom"], capacity: 1, power: 1, join: [allocator.url] }, runner);
      behaviour = app;
      // Clients reach the server over the in-memory wire.
      const mem = createMemoryTransport();
      const listener = await mem.listen("127.0.0.1:0", (wire) => {
        new Channel(wire, { ...base, dialer: false, onMessage: (m, ch) => actor.deliver(m, ch) });
      });
      const client = new Channel(await mem.connect(listener.url), { ...base, node: "c", role: "client", dialer: true, onMessage: () => {} });
      try {
        await eventually(() => allocator.report?.ticketKey !== undefined, 5000, "the server's report");
        // Capacity 1: a slot left taken by the first would refuse the second OVERLOADED.
        for (const n of [1, 2]) {
          const answer = await client.request("task.run", { taskId: `t${n}`, key: `k${n}`, app: "boom", ticket: allocator.sign(n), payload: null }, 5000).then(
            () => "answered",
            (e: unknown) => (e instanceof AllotError ? `${e.code}: ${e.message}` : String(e)),
          );
          expect(answer).toMatch(/^INTERNAL: .*the pool cannot start/);
        }
        expect(app.stats?.()).toMatchObject({ running: 0, load: 0, escaped: 2 });
        await eventually(() => crashes.filter((c) => c.includes("actor crashed")).length === 2, 5000, "the supervisor to hear of both");
        expect(fatal).toEqual([]);
      } finally {
        client.close();
        await listener.close();
        await app.stop?.();
        for (const p of peers) p.close();
        stop(system);
        await allocator.close();
      }
    });
  });
});
