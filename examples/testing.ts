// A whole tiered cluster in one process, on a virtual clock, through allot/testing: a server
// crashes while it runs a task, the client places the task again, and the history shows it.
// The same seed gives the same history, so a failure found once replays exactly.
import type { Handler } from "allot";
import { createTestCluster } from "allot/testing";
import type { History, TestClusterSpec } from "allot/testing";

const resize: Handler = async (payload, task) => {
  await task.sleep(2_000); // virtual: no wall time passes
  return { resized: payload };
};

const spec: TestClusterSpec = {
  seed: 42,
  tiered: {
    tier2: [{ id: "t2a", peers: ["t2b"] }, { id: "t2b", peers: ["t2a"] }],
    apps: [
      { id: "big", apps: ["resize"], capacity: 4, power: 4 },
      { id: "small", apps: ["resize"], capacity: 1, power: 1 },
    ],
  },
  clients: ["c1"],
  handlers: { resize },
  heartbeatMs: 200,
};

async function scenario(): Promise<History> {
  const c = await createTestCluster(spec);
  try {
    const t0 = c.now;
    const h = c.submit("c1", { app: "resize", payload: { w: 64 } });
    await c.run({ until: () => c.history.some((e) => e.kind === "run.start") });
    const first = c.history.find((e) => e.kind === "run.start");
    if (first?.kind !== "run.start") throw new Error("the task never started");
    c.crash(first.server);
    await c.run();
    console.log(`the task started on ${first.server}, which crashed; it then ran on ${h.result?.serverId} (attempts: ${h.result?.attempts}), answered ${c.now - t0} virtual ms after it was submitted`);
    console.log(`lost runs: ${c.history.filter((e) => e.kind === "run.end" && e.outcome === "lost").length}`);
    return c.history;
  } finally {
    await c.dispose();
  }
}

const wall = performance.now();
const a = await scenario();
const b = await scenario();
console.log(`same seed, same history: ${JSON.stringify(a) === JSON.stringify(b)} (${a.length} events, ${Math.round(performance.now() - wall)} ms of wall time for both)`);
