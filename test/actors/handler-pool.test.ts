import { fileURLToPath } from "node:url";
import type { Worker } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import { HandlerPool } from "../../src/actors/runtime/handler-pool.js";
import type { Outcome } from "../../src/actors/runtime/handler-boundary.js";

const task = { taskId: "t", key: "k", app: "hash", attempt: 1, deadline: Date.now() + 60_000, client: "c" };

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

  it("answers an aborted running task only once its thread has exited, and a queued one at once", async () => {
    const file = fileURLToPath(new URL("../fixtures/handlers/misbehave.mjs", import.meta.url));
    const pool = new HandlerPool({ file, apps: ["spin"] }, 1, () => {});
    try {
      const running = new AbortController();
      const queued = new AbortController();
      let thread: Worker | undefined;
      const first = new Promise<{ o: Outcome; alive: boolean }>((resolve) =>
        pool.run("spin", 60_000, { ...task, app: "spin" }, running.signal, (o) => resolve({ o, alive: thread !== undefined && thread.threadId !== -1 })),
      );
      const second = new Promise<Outcome>((resolve) => pool.run("spin", 60_000, { ...task, app: "spin" }, queued.signal, resolve));
      const threads = (pool as unknown as { pool: { threads: Worker[] } }).pool.threads;
      for (let i = 0; i < 500 && threads.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      thread = threads[0];
      // The first task (run 1) has started once its thread wrote it on the board (slot 1).
      const board = (pool as unknown as { view: Int32Array }).view;
      for (let i = 0; i < 500 && Atomics.load(board, 2) !== 1; i++) await new Promise((r) => setTimeout(r, 10));
      expect(Atomics.load(board, 2)).toBe(1);
      queued.abort(new Error("cancelled"));
      expect((await second).ok).toBe(false);
      running.abort(new Error("deadline"));
      const { o, alive } = await first;
      expect(o.ok).toBe(false);
      expect(alive).toBe(false);
    } finally {
      await pool.close();
    }
  });

  it("marks a dead thread and an unsendable result as the run's fault, a handler's throw not (what the server's health counts)", async () => {
    const file = fileURLToPath(new URL("../fixtures/handlers/misbehave.mjs", import.meta.url));
    const pool = new HandlerPool({ file, apps: ["exits", "returnsBigInt", "throwsError"] }, 1, () => {});
    const run = (app: string): Promise<Outcome> => new Promise((resolve) => pool.run(app, null, { ...task, app }, new AbortController().signal, resolve));
    try {
      expect(await run("exits")).toMatchObject({ ok: false, fault: true });
      expect(await run("returnsBigInt")).toMatchObject({ ok: false, fault: true });
      const own = await run("throwsError");
      expect(own.ok).toBe(false);
      expect(own).not.toHaveProperty("fault");
    } finally {
      await pool.close();
    }
  });
});
