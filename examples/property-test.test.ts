// A property test of your own handler under faults, with allot/testing and fast-check. Copy it
// into a project that has allot, vitest and fast-check, and run it with `npx vitest run`.
//
// Each case is a whole tiered cluster in this process, on a virtual clock. fast-check generates
// the random seed, the delivery order (a choice tape), the tasks and the faults (a server that
// crashes and restarts, a partition between the two tier-2s); the checkers then judge the history.
// A failing case is shrunk, and its failure printed with formatFailure.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkers, createTestCluster } from "allot/testing";
import type { FaultSpec, History, TestClusterSpec } from "allot/testing";

const { atMostOnceExecution, capacityRespected, check, constraintsRespected, convergence, formatFailure, noTaskLost } = checkers;

/** One generated case: everything a run depends on, so a failure replays from it. */
interface Case {
  seed: number;
  choices: number[];
  /** Each task's work, in virtual ms. */
  work: number[];
  crash: { node: "a1" | "a2"; at: number; downMs: number };
  partition: { at: number; ms: number } | null;
}

function specOf(c: Case): TestClusterSpec {
  const faults: FaultSpec[] = [
    { at: c.crash.at, kind: "crash", node: c.crash.node },
    { at: c.crash.at + c.crash.downMs, kind: "restart", node: c.crash.node },
  ];
  if (c.partition) faults.push({ at: c.partition.at, kind: "partition", a: ["t2a"], b: ["t2b"] }, { at: c.partition.at + c.partition.ms, kind: "heal" });
  return {
    seed: c.seed,
    delivery: { choices: c.choices },
    tiered: {
      tier2: [
        { id: "t2a", peers: ["t2b"] },
        { id: "t2b", peers: ["t2a"] },
      ],
      apps: [
        { id: "a1", apps: ["thumbnail"], capacity: 2, attrs: { zone: "eu" } },
        { id: "a2", apps: ["thumbnail"], capacity: 1, attrs: { zone: "eu" } },
        { id: "a3", apps: ["thumbnail"], capacity: 4, attrs: { zone: "us" } },
      ],
    },
    clients: ["c1"],
    // The handler under test. It takes its time from the task (task.sleep, task.now): virtual
    // time, so the run is deterministic and a 30 s deadline takes milliseconds of wall time.
    handlers: {
      thumbnail: async (payload, task) => {
        const { ms } = payload as { ms: number };
        const started = task.now();
        await task.sleep(ms);
        return { ms, took: task.now() - started };
      },
    },
    heartbeatMs: 200,
    faults,
  };
}

const caseArb: fc.Arbitrary<Case> = fc.record({
  seed: fc.integer({ min: 1, max: 1_000_000 }),
  choices: fc.array(fc.nat(7), { maxLength: 100 }),
  work: fc.array(fc.integer({ min: 1, max: 500 }), { minLength: 1, maxLength: 4 }),
  crash: fc.record({ node: fc.constantFrom("a1" as const, "a2" as const), at: fc.integer({ min: 0, max: 400 }), downMs: fc.integer({ min: 50, max: 2_000 }) }),
  partition: fc.option(fc.record({ at: fc.integer({ min: 0, max: 400 }), ms: fc.integer({ min: 50, max: 1_500 }) }), { nil: null }),
});

/** The history of one case, run to the end of its work. */
async function historyOf(c: Case): Promise<History> {
  const cluster = await createTestCluster(specOf(c));
  try {
    c.work.forEach((ms, i) => cluster.submit("c1", { app: "thumbnail", key: `img-${i}`, payload: { ms } }));
    await cluster.run({ maxSteps: 50_000 });
    return cluster.history;
  } finally {
    await cluster.dispose();
  }
}

/** Runs one case and gives formatFailure's text, or "ok". */
async function runCase(c: Case): Promise<string> {
  const cluster = await createTestCluster(specOf(c));
  try {
    c.work.forEach((ms, i) => cluster.submit("c1", { app: "thumbnail", key: `img-${i}`, payload: { ms }, require: [{ key: "zone", op: "=", value: "eu" }] }));
    // Until every task is answered, then past every fault, then long enough for the tables to agree.
    await cluster.run({ maxSteps: 50_000 });
    await cluster.run({ until: cluster.now + 5_000, maxSteps: 50_000 });
    cluster.snapshotTables();
    const r = check(cluster.history, noTaskLost(), atMostOnceExecution({ scope: "cluster" }), constraintsRespected, capacityRespected, convergence);
    return formatFailure(r, { seed: c.seed, trace: c.choices });
  } finally {
    await cluster.dispose();
  }
}

describe("the thumbnail handler on a tiered cluster", () => {
  // A property runs many clusters: give it more than vitest's default 5 s.
  it("answers every task once, in the eu zone, within capacity, through a crash, a restart and a partition", { timeout: 60_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(caseArb, async (c) => {
        const verdict = await runCase(c);
        if (verdict !== "ok") throw new Error(verdict);
      }),
      { numRuns: 30 },
    );
  });

  it("replays: the same case (random seed, choices, tasks, faults) gives the same history", async () => {
    const c: Case = { seed: 7, choices: [3, 1, 4, 1, 5, 9, 2, 6], work: [120, 40, 300], crash: { node: "a1", at: 20, downMs: 500 }, partition: { at: 10, ms: 300 } };
    const first = await historyOf(c);
    const second = await historyOf(c);
    expect(second).toEqual(first);
  });
});
