import type { Worker } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import { HandlerPool } from "../../src/actors/runtime/handler-pool.js";
import type { Outcome } from "../../src/actors/runtime/handler-boundary.js";

const task = { taskId: "t", key: "k", app: "hash", attempt: 1, deadline: Date.now() + 60_000 };

describe("actors/runtime/HandlerPool", () => {
  it("runs task after task on one thread with one exit listener of its own, not one per task", async () => {
    const pool = new HandlerPool({ file: null, apps: ["hash"] }, 1, () => {});
    try {
      for (let i = 0; i < 15; i++) {
        const o = await new Promise<Outcome>((resolve) => pool.run("hash", { rounds: 1, data: `${i}` }, task, new AbortController().signal, resolve));
        expect(o.ok).toBe(true);
      }
      const threads = (pool as unknown as { pool: { threads: Worker[] } }).pool.threads;
      expect(threads).toHaveLength(1);
      // piscina's own listener and the pool's one.
      expect(threads[0]?.listenerCount("exit")).toBeLessThanOrEqual(2);
    } finally {
      await pool.close();
    }
  });
});
