import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createTestCluster } from "../../src/testing/index.js";
import { TINY } from "./fixtures.js";

/** Every submit of a run settled ok, and no key ran twice on one server incarnation. */
async function threeTasks(delivery: NonNullable<Parameters<typeof createTestCluster>[0]["delivery"]>): Promise<void> {
  const c = await createTestCluster({ ...TINY, delivery });
  try {
    const hs = [1, 2, 3].map((i) => c.submit("c1", { app: "echo", payload: i }));
    await c.run({ maxSteps: 20_000 });
    expect(hs.map((h) => h.result?.result)).toEqual([1, 2, 3]);
    const runs = c.history.filter((e) => e.kind === "run.start").map((e) => (e.kind === "run.start" ? `${e.server}/${e.incarnation}/${e.key}` : ""));
    expect(new Set(runs).size).toBe(runs.length);
  } finally {
    await c.dispose();
  }
}

describe("test cluster under fast-check", () => {
  it("a choice tape over a tiny cluster (shrinks towards FIFO)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.nat(7), { maxLength: 60 }), (choices) => threeTasks({ choices })),
      { numRuns: 25, seed: 42 },
    );
  });
  it("a fast-check scheduler picks the deliveries", async () => {
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), fc.boolean(), (s, bare) => threeTasks(bare ? s : { scheduler: s })),
      { numRuns: 10, seed: 42 },
    );
  });
});
