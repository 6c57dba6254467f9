import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createTestCluster } from "../../src/testing/index.js";
import type { Checker, SubmitHandle, TestCluster, TestClusterSpec } from "../../src/testing/index.js";
import { atMostOnceExecution, capacityRespected, check, constraintsRespected, convergence, formatFailure, noTaskLost } from "../../src/testing/index.js";

// Invariants of the project's own protocol (docs/design.md "Execution semantics"), each run
// through the test cluster with faults, the delivery order taken from a fast-check choice tape
// (so fast-check explores interleavings and shrinks them). Seeds are fixed so CI is repeatable;
// a failure prints the checker's message, the cluster seed and the (shrunk) tape.

/** numRuns per property: small enough that the file fits CI time on two loaded cores. */
const RUNS = Number(process.env.INVARIANT_RUNS ?? 30);
/** Added to every property's fixed seed (0 in CI): a longer hunt tries other seeds. */
const SEED = Number(process.env.INVARIANT_SEED ?? 0);

const ZONE_X = [{ key: "zone", op: "=" as const, value: "x" }];
const tape = fc.array(fc.nat(7), { maxLength: 80 });
const clusterSeed = fc.nat(1000);

const work = { work: async (p: unknown, t: { sleep(ms: number): Promise<void> }) => { await t.sleep(30); return p; } };

function tiered(seed: number, choices: number[], extra: Partial<TestClusterSpec> = {}): TestClusterSpec {
  return {
    seed,
    delivery: { choices },
    tiered: {
      tier2: [{ id: "t2a", peers: ["t2b"] }, { id: "t2b", peers: ["t2a"] }],
      apps: [
        { id: "a1", apps: ["work"], capacity: 2, attrs: { zone: "x" } },
        { id: "a2", apps: ["work"], capacity: 2, attrs: { zone: "x" } },
        { id: "a3", apps: ["work"], capacity: 1, attrs: { zone: "y" } },
      ],
    },
    clients: ["c1"],
    handlers: work,
    heartbeatMs: 100,
    ...extra,
  };
}

/** Runs a scenario on a fresh cluster, then the checkers; the assertion message replays it. */
async function verify(spec: TestClusterSpec, scenario: (c: TestCluster) => Promise<void>, checkers: Checker[]): Promise<void> {
  const c = await createTestCluster(spec);
  try {
    await scenario(c);
    const r = check(c.history, ...checkers);
    const d = spec.delivery;
    const trace = typeof d === "object" && "choices" in d ? d.choices : [];
    expect(r.ok, formatFailure(r, { seed: spec.seed ?? 1, trace })).toBe(true);
  } finally {
    await c.dispose();
  }
}

const settledAll = (hs: SubmitHandle[]) => () => hs.every((h) => h.settled);

/** Submits `n` keyed tasks, `gap` ms apart (a stream), running the cluster between them. */
async function stream(c: TestCluster, n: number, gap: number, prefix: string, require = ZONE_X): Promise<SubmitHandle[]> {
  const hs: SubmitHandle[] = [];
  for (let i = 0; i < n; i++) {
    hs.push(c.submit("c1", { app: "work", key: `${prefix}${i}`, payload: i, require }));
    if (gap > 0) await c.run({ until: c.now + gap, maxSteps: 20_000 });
  }
  return hs;
}

describe("protocol invariants under faults", () => {
  it("(a) crash + restart of an app server mid-stream: no task lost, at most once, capacity", async () => {
    await fc.assert(
      fc.asyncProperty(clusterSeed, tape, fc.integer({ min: 1, max: 6 }), fc.constantFrom("a1", "a2"), fc.integer({ min: 0, max: 60 }), fc.integer({ min: 0, max: 400 }), async (seed, choices, n, victim, crashAt, downMs) =>
        verify(tiered(seed, choices), async (c) => {
          const first = await stream(c, n, 5, "k");
          await c.run({ until: c.now + crashAt, maxSteps: 20_000 });
          c.crash(victim);
          const during = await stream(c, 2, 10, "d");
          await c.run({ until: c.now + downMs, maxSteps: 50_000 });
          await c.restart(victim);
          // Resubmit every key once more: a repeat must be answered, never run twice on one incarnation.
          const again = await stream(c, n, 0, "k");
          const all = [...first, ...during, ...again];
          await c.run({ until: settledAll(all), maxSteps: 100_000 });
          await c.run({ until: c.now + 1500, maxSteps: 50_000 });
        }, [noTaskLost(), atMostOnceExecution(), capacityRespected]),
      ),
      { numRuns: RUNS, seed: SEED + 101 },
    );
  }, 60_000);

  it("(b) a server partitioned from the client and the allocators, then healed: no task lost, tables converge", async () => {
    await fc.assert(
      fc.asyncProperty(clusterSeed, tape, fc.integer({ min: 1, max: 5 }), fc.constantFrom("a1", "a2"), fc.integer({ min: 0, max: 50 }), fc.integer({ min: 50, max: 1000 }), async (seed, choices, n, victim, cutAt, cutMs) =>
        verify(tiered(seed, choices), async (c) => {
          const hs = await stream(c, n, 5, "k");
          await c.run({ until: c.now + cutAt, maxSteps: 20_000 });
          c.partition([victim], ["t2a", "t2b", "c1"]);
          hs.push(...(await stream(c, 2, 10, "p")));
          await c.run({ until: c.now + cutMs, maxSteps: 50_000 });
          c.heal();
          await c.run({ until: settledAll(hs), maxSteps: 100_000 });
          await c.run({ until: c.now + 3000, maxSteps: 50_000 });
          c.snapshotTables();
        }, [noTaskLost(), convergence]),
      ),
      { numRuns: RUNS, seed: SEED + 102 },
    );
  }, 60_000);

  it("(c) an app server paused (silent) then resumed: no task lost, at most once", async () => {
    await fc.assert(
      fc.asyncProperty(clusterSeed, tape, fc.integer({ min: 1, max: 6 }), fc.constantFrom("a1", "a2"), fc.integer({ min: 0, max: 60 }), fc.integer({ min: 0, max: 1000 }), async (seed, choices, n, victim, pauseAt, pauseMs) =>
        verify(tiered(seed, choices), async (c) => {
          const hs = await stream(c, n, 5, "k");
          await c.run({ until: c.now + pauseAt, maxSteps: 20_000 });
          c.pause(victim);
          hs.push(...(await stream(c, 2, 10, "p")));
          await c.run({ until: c.now + pauseMs, maxSteps: 50_000 });
          c.resume(victim);
          hs.push(...(await stream(c, n, 0, "k")));
          await c.run({ until: settledAll(hs), maxSteps: 100_000 });
          await c.run({ until: c.now + 1500, maxSteps: 50_000 });
        }, [noTaskLost(), atMostOnceExecution()]),
      ),
      { numRuns: RUNS, seed: SEED + 103 },
    );
  }, 60_000);

  it("(d) hard constraints (require zone) while servers change zone: constraints respected", async () => {
    const change = fc.record({ server: fc.constantFrom("a1", "a2", "a3"), zone: fc.constantFrom("x", "y"), after: fc.integer({ min: 0, max: 80 }) });
    await fc.assert(
      fc.asyncProperty(clusterSeed, tape, fc.integer({ min: 1, max: 6 }), fc.array(change, { maxLength: 4 }), async (seed, choices, n, changes) =>
        verify(tiered(seed, choices, { clients: [{ id: "c1", timeoutMs: 3000 }] }), async (c) => {
          const hs = await stream(c, n, 5, "k");
          for (const ch of changes) {
            await c.run({ until: c.now + ch.after, maxSteps: 20_000 });
            c.setAttrs(ch.server, { zone: ch.zone });
            hs.push(c.submit("c1", { app: "work", key: `z${hs.length}`, payload: 0, require: ZONE_X }));
          }
          await c.run({ until: settledAll(hs), maxSteps: 100_000 });
        }, [constraintsRespected, capacityRespected]),
      ),
      { numRuns: RUNS, seed: SEED + 104 },
    );
  }, 60_000);

  it("(e) master/slave, proxy and direct slaves, a slave or a master crashes: no task lost, at most once", async () => {
    const msSpec = (seed: number, choices: number[]): TestClusterSpec => ({
      seed,
      delivery: { choices },
      masterSlave: {
        masters: [{ id: "m1", peers: ["m2"] }, { id: "m2", peers: ["m1"] }],
        slaves: [{ id: "sp", link: "proxy" }, { id: "sd", link: "direct" }],
        apps: [
          { id: "a1", apps: ["work"], capacity: 2 },
          { id: "a2", apps: ["work"], capacity: 2 },
        ],
      },
      clients: ["c1"],
      handlers: work,
      heartbeatMs: 100,
    });
    await fc.assert(
      fc.asyncProperty(clusterSeed, tape, fc.integer({ min: 1, max: 6 }), fc.constantFrom("sp", "sd", "m1", "m2", "a1"), fc.integer({ min: 0, max: 60 }), fc.boolean(), async (seed, choices, n, victim, crashAt, restart) =>
        verify(msSpec(seed, choices), async (c) => {
          const hs = await stream(c, n, 5, "k", []);
          await c.run({ until: c.now + crashAt, maxSteps: 20_000 });
          c.crash(victim);
          hs.push(...(await stream(c, 2, 10, "d", [])));
          await c.run({ until: c.now + 300, maxSteps: 50_000 });
          if (restart) await c.restart(victim);
          hs.push(...(await stream(c, n, 0, "k", [])));
          await c.run({ until: settledAll(hs), maxSteps: 100_000 });
          await c.run({ until: c.now + 1500, maxSteps: 50_000 });
        }, [noTaskLost(), atMostOnceExecution(), capacityRespected]),
      ),
      { numRuns: RUNS, seed: SEED + 105 },
    );
  }, 60_000);

  it("(f) peer tier-2s with drops, duplicates and reordering between them: tables converge", async () => {
    const linkFault = fc.constantFrom("drop", "duplicate", "reorder", "delay");
    await fc.assert(
      fc.asyncProperty(clusterSeed, tape, fc.array(linkFault, { minLength: 1, maxLength: 3 }), fc.integer({ min: 1, max: 4 }), fc.constantFrom("a1", "a2", "a3"), async (seed, choices, faults, n, mover) =>
        verify(tiered(seed, choices), async (c) => {
          const l = c.link("t2a", "t2b");
          for (const f of faults) {
            if (f === "drop") l.drop(0.5);
            if (f === "duplicate") l.duplicate(0.5);
            if (f === "reorder") l.reorder();
            if (f === "delay") l.delay(40);
          }
          // Changes the peers must share: loads (tasks) and a server's attributes.
          const hs = await stream(c, n, 5, "k", []);
          c.setAttrs(mover, { zone: "z" });
          await c.run({ until: settledAll(hs), maxSteps: 100_000 });
          await c.run({ until: c.now + 500, maxSteps: 50_000 });
          l.clear();
          await c.run({ until: c.now + 3000, maxSteps: 50_000 });
          c.snapshotTables();
        }, [noTaskLost(), convergence]),
      ),
      { numRuns: RUNS, seed: SEED + 106 },
    );
  }, 60_000);
});
