import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Handler } from "../../src/actors/runtime/handlers.js";
import type { NodeConfig } from "../../src/node/config.js";
import { createTestCluster } from "../../src/testing/index.js";
import type { Checker, CheckResult, TestCluster, TestClusterSpec } from "../../src/testing/index.js";
import { atMostOnceExecution, capacityRespected, constraintsRespected, convergence, formatFailure, noTaskLost } from "../../src/testing/index.js";

// Mutants: for each checker, a deliberately broken node (a role changed through the spec's
// `configure`, its behaviour through `wrapBehaviour`) that fast-check must find breaking that
// checker, within a few runs, with the failure naming the culprit. If a checker stops catching
// its mutant, it has gone blind.

type Failure = Extract<CheckResult, { ok: false }>;

/** Mutated nodes: the configure of a spec, id by id. */
type Mutation = (id: string, config: NodeConfig) => NodeConfig;

const work: Handler = async (p, t) => {
  await t.sleep(30);
  return p;
};

function spec(seed: number, choices: number[], configure: Mutation, over: Partial<TestClusterSpec> = {}): TestClusterSpec {
  return {
    seed,
    delivery: { choices },
    tiered: {
      tier2: [{ id: "t2a", peers: ["t2b"] }, { id: "t2b", peers: ["t2a"] }],
      apps: [
        { id: "a1", apps: ["work"], capacity: 1, attrs: { zone: "x" } },
        { id: "a2", apps: ["work"], capacity: 1, attrs: { zone: "x" } },
        { id: "a3", apps: ["work"], capacity: 2, attrs: { zone: "y" }, join: ["t2a"], mode: "registered" },
      ],
    },
    clients: ["c1"],
    handlers: { work },
    heartbeatMs: 100,
    configure,
    ...over,
  };
}

/**
 * Runs the property `checker passes` over random seeds, tapes and task counts with the mutant in
 * place; fast-check must falsify it within `numRuns`. Gives the (shrunk) failure.
 */
async function falsify(mutation: Mutation, checker: Checker, scenario: (c: TestCluster, n: number) => Promise<void>, numRuns = 20): Promise<Failure> {
  let last: Failure | undefined;
  const prop = fc.asyncProperty(fc.nat(1000), fc.array(fc.nat(7), { maxLength: 40 }), fc.integer({ min: 1, max: 6 }), async (seed, choices, n) => {
    const c = await createTestCluster(spec(seed, choices, mutation));
    try {
      await scenario(c, n);
      const r = checker(c.history);
      if (!r.ok) last = r;
      expect(r.ok, formatFailure(r, { seed, trace: choices })).toBe(true);
    } finally {
      await c.dispose();
    }
  });
  await expect(fc.assert(prop, { numRuns, seed: 7 })).rejects.toThrow();
  if (!last) throw new Error("the property failed, but not on the checker");
  return last;
}

const ZONE_X = [{ key: "zone", op: "=" as const, value: "x" }];

/** n tasks at once (keys k0…), run until all settle, then a little longer. */
async function burst(c: TestCluster, n: number, require = ZONE_X): Promise<void> {
  const hs = Array.from({ length: n }, (_, i) => c.submit("c1", { app: "work", key: `k${i}`, payload: i, require }));
  await c.run({ until: () => hs.every((h) => h.settled), maxSteps: 100_000 });
  await c.run({ until: c.now + 200, maxSteps: 50_000 });
}

describe("mutants: every checker catches its broken node", () => {
  it("noTaskLost: an app server that answers task.run with a made-up result, never running the handler", async () => {
    const liar: Mutation = (id, config) =>
      id !== "a1"
        ? config
        : {
            ...config,
            wrapBehaviour: (b) => {
              const h = b.handle.bind(b);
              b.handle = (m, ch) => {
                if (m.type === "task.run") return ch.reply(m, "task.result", { taskId: m.body.taskId, serverId: "a1", result: "made up", cached: false });
                h(m, ch);
              };
              return b;
            },
          };
    const f = await falsify(liar, noTaskLost(), (c, n) => burst(c, n));
    expect(f.checker).toBe("noTaskLost");
    expect(f.message).toMatch(/settled ok .* by server a1 .*no ok run\.end of task/);
  }, 60_000);

  it("atMostOnceExecution: an app server whose result store is bypassed (each run.task runs its handler twice over)", async () => {
    const twice: Mutation = (id, config) => {
      if (id !== "a2" || config.role !== "app" || config.handlers === undefined || typeof config.handlers === "string") return config;
      const handlers: Record<string, Handler> = {};
      for (const [app, h] of Object.entries(config.handlers)) {
        // The run finishes, then the server forgets its result and the same key runs again.
        handlers[app] = async (p, t) => {
          await h(p, t);
          return h(p, t);
        };
      }
      return { ...config, handlers };
    };
    const f = await falsify(twice, atMostOnceExecution(), (c, n) => burst(c, n));
    expect(f.checker).toBe("atMostOnceExecution");
    expect(f.message).toMatch(/ran again on server a2 \(incarnation 1\).*should have answered from its stored result/);
  }, 60_000);

  it("constraintsRespected: a tier-2 that strips `require` from task.place before deciding", async () => {
    const strip: Mutation = (id, config) =>
      id !== "t2a" && id !== "t2b"
        ? config
        : {
            ...config,
            wrapBehaviour: (b) => {
              const h = b.handle.bind(b);
              b.handle = (m, ch) => {
                if (m.type === "task.place") {
                  return h({ ...m, body: { ...m.body, task: { ...m.body.task, require: [] } } }, ch);
                }
                h(m, ch);
              };
              return b;
            },
          };
    const f = await falsify(strip, constraintsRespected, (c, n) => burst(c, n + 2));
    expect(f.checker).toBe("constraintsRespected");
    expect(f.message).toMatch(/on server a3 \(incarnation 1\), which does not meet zone=x: its zone is "y"/);
  }, 60_000);

  it("capacityRespected: an app server started with a larger capacity than the spec's", async () => {
    const roomy: Mutation = (id, config) => (id === "a1" && config.role === "app" ? { ...config, capacity: 4 } : config);
    const f = await falsify(roomy, capacityRespected, (c, n) => burst(c, n + 2));
    expect(f.checker).toBe("capacityRespected");
    expect(f.message).toMatch(/on server a1 \(incarnation 1\) with [2-4] runs in progress, over its capacity 1/);
  }, 60_000);

  it("convergence: a tier-2 that acks peer.sync but drops what it carries", async () => {
    const deaf: Mutation = (id, config) =>
      id !== "t2b"
        ? config
        : {
            ...config,
            wrapBehaviour: (b) => {
              const h = b.handle.bind(b);
              b.handle = (m, ch) => {
                if (m.type === "peer.sync") return ch.reply(m, "ack", {});
                h(m, ch);
              };
              return b;
            },
          };
    // a3 reports to t2a alone (registered): t2b can only learn of it from its peer.
    const f = await falsify(deaf, convergence, async (c, n) => {
      await burst(c, n, []);
      await c.run({ until: c.now + 2000, maxSteps: 50_000 });
      c.snapshotTables();
    });
    expect(f.checker).toBe("convergence");
    expect(f.message).toMatch(/member t2b of set tier2 does not hold live server a3/);
  }, 60_000);

  it("control: the same scenarios without a mutant pass every checker", async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(1000), fc.array(fc.nat(7), { maxLength: 40 }), fc.integer({ min: 1, max: 6 }), async (seed, choices, n) => {
        const c = await createTestCluster(spec(seed, choices, (_id, config) => config));
        try {
          await burst(c, n + 2);
          await c.run({ until: c.now + 2000, maxSteps: 50_000 });
          c.snapshotTables();
          for (const checker of [noTaskLost(), atMostOnceExecution(), constraintsRespected, capacityRespected, convergence]) {
            const r = checker(c.history);
            expect(r.ok, formatFailure(r, { seed, trace: choices })).toBe(true);
          }
        } finally {
          await c.dispose();
        }
      }),
      { numRuns: 20, seed: 7 },
    );
  }, 60_000);
});
