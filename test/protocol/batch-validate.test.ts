import { describe, expect, it } from "vitest";
import { ErrorCode, MAX_BATCH_TASKS, PROTOCOL_VERSION, isRejected, toMessage } from "../../src/protocol/index.js";
import type { Message, Task } from "../../src/protocol/index.js";

const task = (i: number, over: Record<string, unknown> = {}): Task & Record<string, unknown> => ({ id: `t${i}`, key: `k${i}`, app: "echo", deadline: 1, require: [], clientAttrs: {}, prefs: {}, payload: null, ...over });
const client = { id: "c1", addr: "127.0.0.1:1" };
const wire = (type: string, body: unknown, seventh?: unknown): unknown[] => (seventh === undefined ? [PROTOCOL_VERSION, type, 7, 0, "n1", body] : [PROTOCOL_VERSION, type, 7, 0, "n1", body, seventh]);

function batch(tasks: unknown[]): Extract<Message, { type: "task.placeBatch" }>["body"] {
  const m = toMessage(wire("task.placeBatch", { tasks, client }));
  if (isRejected(m) || m.type !== "task.placeBatch") throw new Error(`rejected: ${isRejected(m) ? m.error.message : m.type}`);
  return m.body;
}

describe("protocol/validate: batches", () => {
  describe("task.placeBatch", () => {
    it("refuses a batch of none or of more than MAX_BATCH_TASKS tasks whole, INVALID", () => {
      for (const n of [0, MAX_BATCH_TASKS + 1]) {
        const m = toMessage(wire("task.placeBatch", { tasks: Array.from({ length: n }, (_, i) => ({ task: task(i) })), client }));
        expect(isRejected(m) ? [m.error.code, m.id] : m.type).toEqual([ErrorCode.INVALID, 7]);
      }
      expect(batch(Array.from({ length: MAX_BATCH_TASKS }, (_, i) => ({ task: task(i) })))).toMatchObject({ tasks: { length: MAX_BATCH_TASKS } });
    });

    it("keeps a task that does not check in its place, with its message and its id when readable", () => {
      const b = batch([{ task: task(0) }, { task: task(1, { app: 5 }) }, "junk", { task: task(3), avoid: ["s1"] }]);
      expect(b.tasks[0]).toMatchObject({ task: { id: "t0" } });
      expect(b.tasks[1]).toEqual({ invalid: expect.stringMatching(/^tasks\[1\]\.task\.app: expected/), taskId: "t1" });
      expect(b.tasks[2]).toEqual({ invalid: expect.stringMatching(/^tasks\[2\]: expected an object/) });
      expect(b.tasks[3]).toMatchObject({ task: { id: "t3" }, avoid: ["s1"] });
    });

    it("refuses the second task of an id already in the batch, on its own", () => {
      const b = batch([{ task: task(0) }, { task: task(0, { key: "other" }) }]);
      expect(b.tasks[1]).toEqual({ invalid: expect.stringMatching(/not already in the batch/), taskId: "t0" });
    });

    it("carries the header client beside the body's", () => {
      const m = toMessage(wire("task.placeBatch", { tasks: [{ task: task(0) }], client }, ["c2", "h:2"]));
      expect(isRejected(m) ? m.error.message : m.client).toEqual({ id: "c2", addr: "h:2" });
    });
  });

  describe("task.placedBatch", () => {
    it("accepts a refusal with no task id (a task that had none readable), never a placement without one", () => {
      const ok = toMessage(wire("task.placedBatch", { results: [{ taskId: "", error: { code: ErrorCode.INVALID, message: "m", retryable: false } }] }));
      expect(isRejected(ok)).toBe(false);
      const bad = toMessage(wire("task.placedBatch", { results: [{ taskId: "", serverId: "s", serverUrl: "ws://s", ticket: "tk" }] }));
      expect(isRejected(bad) ? bad.error.code : "accepted").toBe(ErrorCode.INVALID);
    });
  });

  describe("task.expectedBatch", () => {
    it("refuses a refusal index past the largest batch", () => {
      const m = toMessage(wire("task.expectedBatch", { load: 1, version: [1, 1], refused: [{ at: MAX_BATCH_TASKS, error: { code: ErrorCode.OVERLOADED, message: "m", retryable: true } }] }));
      expect(isRejected(m) ? m.error.code : "accepted").toBe(ErrorCode.INVALID);
    });
  });
});
