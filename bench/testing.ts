// `npm run bench:testing`: the speed of allot/testing on a small fast-check property — each run
// starts a tiny cluster (one tier-2, two app servers, one client), runs 3 tasks under the run's
// choice tape (fc.array(fc.nat(7))), checks the results and disposes it — as runs per second and
// the projected time of a 10 000-run property (target ≤ 90 s, i.e. ≤ 9 ms a run).
// TESTING_RUNS=N sets the runs (default 1000); TESTING_TASKS=N the tasks per run.
import fc from "fast-check";
import { createTestCluster } from "../src/testing/index.js";
import type { TestClusterSpec } from "../src/testing/index.js";

const runs = Number(process.env.TESTING_RUNS ?? "1000");
const tasks = Number(process.env.TESTING_TASKS ?? "3");

const spec = (choices: number[]): TestClusterSpec => ({
  tiered: {
    tier2: [{ id: "t2" }],
    apps: [
      { id: "a1", apps: ["echo"], capacity: 2 },
      { id: "a2", apps: ["echo"], capacity: 2 },
    ],
  },
  clients: ["c1"],
  heartbeatMs: 100,
  delivery: { choices },
});

let steps = 0;

async function one(choices: number[]): Promise<boolean> {
  const c = await createTestCluster(spec(choices));
  try {
    const hs = Array.from({ length: tasks }, (_, i) => c.submit("c1", { app: "echo", payload: i }));
    await c.run({ maxSteps: 20_000 });
    steps += c.steps;
    return hs.every((h, i) => h.result?.result === i);
  } finally {
    await c.dispose();
  }
}

const property = (n: number, seed: number): Promise<void> => fc.assert(fc.asyncProperty(fc.array(fc.nat(7), { maxLength: 40 }), one), { numRuns: n, seed });

await property(30, 1); // warm up the JIT
steps = 0;
const t0 = performance.now();
await property(runs, 2);
const ms = performance.now() - t0;
const per = ms / runs;
console.log(`${runs} runs of ${tasks} tasks in ${(ms / 1000).toFixed(2)} s: ${per.toFixed(2)} ms a run, ${(1000 / per).toFixed(0)} runs/s, ${(steps / runs).toFixed(0)} steps a run`);
console.log(`projected 10 000-run property: ${((per * 10_000) / 1000).toFixed(1)} s (target <= 90 s: ${per <= 9 ? "met" : "NOT met"})`);
