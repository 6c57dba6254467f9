// `npm run bench:testing`: the speed of allot/testing on a small property — each run starts a
// tiny cluster (one tier-2, two app servers, one client), runs 3 tasks under a random choice
// tape, checks them and disposes it — as runs per second and the projected time of a
// 10 000-run property (target ≤ 90 s, i.e. ≤ 9 ms a run). TESTING_RUNS=N sets the runs
// (default 500); TESTING_TASKS=N the tasks per run.
import { createTestCluster } from "../src/testing/index.js";
import type { TestClusterSpec } from "../src/testing/index.js";
import { Rng } from "../src/sim/rng.js";

const runs = Number(process.env.TESTING_RUNS ?? "500");
const tasks = Number(process.env.TESTING_TASKS ?? "3");

const spec = (seed: number, choices: number[]): TestClusterSpec => ({
  seed,
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

async function one(seed: number): Promise<{ steps: number; events: number }> {
  const rng = new Rng(seed, 1);
  const choices = Array.from({ length: rng.int(40) }, () => rng.int(8));
  const c = await createTestCluster(spec(seed, choices));
  try {
    const hs = Array.from({ length: tasks }, (_, i) => c.submit("c1", { app: "echo", payload: i }));
    await c.run({ maxSteps: 20_000 });
    for (const [i, h] of hs.entries()) if (h.result?.result !== i) throw new Error(`seed ${seed}: task ${i} settled ${String(h.error ?? h.result?.result)}`);
    return { steps: c.steps, events: c.history.length };
  } finally {
    await c.dispose();
  }
}

async function main(): Promise<void> {
  for (let i = 0; i < 20; i++) await one(1_000_000 + i); // warm up the JIT
  let steps = 0;
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) steps += (await one(i + 1)).steps;
  const ms = performance.now() - t0;
  const per = ms / runs;
  console.log(`${runs} runs of ${tasks} tasks in ${(ms / 1000).toFixed(2)} s: ${per.toFixed(2)} ms a run, ${(1000 / per).toFixed(0)} runs/s, ${(steps / runs).toFixed(0)} steps a run`);
  console.log(`projected 10 000-run property: ${((per * 10_000) / 1000).toFixed(1)} s (target <= 90 s: ${per <= 9 ? "met" : "NOT met"})`);
}

await main();
