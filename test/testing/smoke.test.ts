import { describe, expect, it } from "vitest";
import { createTestCluster } from "../../src/testing/index.js";

describe("smoke", () => {
  it("starts and runs one task", async () => {
    const c = await createTestCluster({ tiered: { tier2: [{ id: "t2" }], apps: [{ id: "a1", apps: ["echo"], capacity: 2 }] }, clients: ["c1"] });
    const h = c.submit("c1", { app: "echo", payload: 42 });
    const r = await c.run({ maxSteps: 10_000 });
    console.log(r, c.history.length, c.counters);
    expect(h.settled).toBe(true);
    expect(h.result?.result).toBe(42);
    await c.dispose();
  });
});
