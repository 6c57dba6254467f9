import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { builtinHandlers } from "../../src/actors/runtime/handlers.js";
import type { Handler, TaskContext } from "../../src/actors/runtime/handlers.js";
import { ErrorCode } from "../../src/protocol/index.js";
import { realTimers, sleepOn } from "../../src/transport/index.js";

function contextWith(signal: AbortSignal): TaskContext {
  const sleep = sleepOn(realTimers);
  return { taskId: "t1", key: "k1", app: "test", attempt: 1, deadline: Date.now() + 60_000, client: "c1", signal, now: Date.now, sleep: (ms) => sleep(ms, signal) };
}
const info: TaskContext = contextWith(new AbortController().signal);

function handler(name: string): Handler {
  const h = builtinHandlers[name];
  if (!h) throw new Error(`no built-in handler ${name}`);
  return h;
}

const sha256 = (b: Buffer): Buffer => createHash("sha256").update(b).digest();

describe("actors/handlers", () => {
  describe("builtinHandlers", () => {
    it("offers echo, sleep and hash", () => {
      expect(Object.keys(builtinHandlers).sort()).toEqual(["echo", "hash", "sleep"]);
    });
  });

  describe("echo", () => {
    it("returns its payload", () => {
      const payload = { a: [1, "two", null] };
      expect(handler("echo")(payload, info)).toBe(payload);
      expect(handler("echo")(null, info)).toBeNull();
    });
  });

  describe("sleep", () => {
    it("sleeps the given ms and says so, from a number or { ms }", async () => {
      await expect(handler("sleep")(1, info)).resolves.toEqual({ slept: 1 });
      await expect(handler("sleep")({ ms: 0 }, info)).resolves.toEqual({ slept: 0 });
    });

    it("stops early when its task is aborted", async () => {
      const ac = new AbortController();
      const p = Promise.resolve(handler("sleep")(60_000, contextWith(ac.signal)));
      ac.abort(new Error("deadline"));
      await expect(p).rejects.toThrow();
    });

    it.each([-1, 1.5, "5", null, [1], { ms: "1" }, {}, 600_001])("rejects as INVALID for %j", async (payload) => {
      await expect(Promise.resolve().then(() => handler("sleep")(payload, info))).rejects.toMatchObject({ code: ErrorCode.INVALID });
    });
  });

  describe("hash", () => {
    it("chains sha256 rounds over 'allot' by default", () => {
      const want = sha256(sha256(Buffer.from("allot"))).toString("hex");
      expect(handler("hash")(2, info)).toEqual({ rounds: 2, digest: want });
    });

    it("hashes the given data for { rounds, data }", () => {
      expect(handler("hash")({ rounds: 1, data: "x" }, info)).toEqual({ rounds: 1, digest: sha256(Buffer.from("x")).toString("hex") });
    });

    it("returns the data itself in hex for 0 rounds", () => {
      expect(handler("hash")({ rounds: 0, data: "hi" }, info)).toEqual({ rounds: 0, digest: Buffer.from("hi").toString("hex") });
    });

    it("is deterministic", () => {
      const a = handler("hash")({ rounds: 50, data: "seed" }, info);
      const b = handler("hash")({ rounds: 50, data: "seed" }, { ...info, taskId: "t2", key: "k2", app: "other" });
      expect(a).toEqual(b);
      expect(handler("hash")({ rounds: 50, data: "seed2" }, info)).not.toEqual(a);
    });

    it("runs 1000 rounds when the payload names none (`allot submit --app hash` with no payload)", () => {
      let d: Buffer = Buffer.from("allot");
      for (let i = 0; i < 1000; i++) d = sha256(d);
      expect(handler("hash")(null, info)).toEqual({ rounds: 1000, digest: d.toString("hex") });
      expect(handler("hash")(undefined, info)).toEqual({ rounds: 1000, digest: d.toString("hex") });
      expect(handler("hash")({ data: "allot" }, info)).toEqual({ rounds: 1000, digest: d.toString("hex") });
    });

    it.each([-1, 2.5, "3", [2], { rounds: "2" }, { rounds: null }, 10_000_001, NaN, Infinity])("throws INVALID for %j", (payload) => {
      expect(() => handler("hash")(payload, info)).toThrow(expect.objectContaining({ code: ErrorCode.INVALID }));
      expect(() => handler("hash")(payload, info)).toThrow(/hash rounds/);
    });
  });
});
