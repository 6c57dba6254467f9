import { describe, expect, it } from "vitest";
import { AllotError, ErrorCode, startNode } from "../../src/index.js";
import type { AllotError as AllotErrorType, Message, TaskResult } from "../../src/index.js";
import type { Behaviour } from "../../src/actors/runtime/context.js";
import type { Channel } from "../../src/transport/index.js";
import { eventually } from "../helpers/raw-client.js";
import { trackNodes } from "../helpers/nodes.js";

const track = trackNodes();
const common = { logLevel: "silent" as const };

/** A tier-2 and an app server; `wrap` changes what the tier-2 does with what it is handed. */
async function cluster(wrap?: (b: Behaviour) => Behaviour) {
  const tier2 = await track(startNode({ ...common, role: "tier2", ...(wrap ? { wrapBehaviour: wrap } : {}) }));
  await track(startNode({ ...common, role: "app", id: "app-1", apps: ["echo"], capacity: 10_000, power: 1, join: [tier2.url] }));
  await eventually(() => (tier2.stats().servers as unknown[]).length === 1, 5000, "the app server to join");
  const client = await track(startNode({ ...common, role: "client", entries: [tier2.url] }));
  return { tier2, client };
}

/** Counts what a tier-2 is handed, by type. */
function counting(seen: Map<string, number>): (b: Behaviour) => Behaviour {
  return (b) => ({
    ...b,
    handle(m: Message, ch: Channel) {
      seen.set(m.type, (seen.get(m.type) ?? 0) + 1);
      b.handle(m, ch);
    },
  });
}

describe("the client's completion path and batches", () => {
  it("calls each submitWith callback exactly once, after submitWith returns, and a callback that throws costs no other task", async () => {
    const { client } = await cluster();
    const n = 200;
    const calls = new Map<number, Array<[AllotErrorType | undefined, TaskResult | undefined]>>();
    let returned = false;
    let early = 0;
    const all = new Promise<void>((resolve) => {
      let left = n;
      for (let i = 0; i < n; i++) {
        client.submitWith({ app: "echo", payload: { i } }, (err, r) => {
          if (!returned) early++;
          const list = calls.get(i) ?? [];
          list.push([err, r]);
          calls.set(i, list);
          if (--left === 0) resolve();
          if (i % 7 === 0) throw new Error("a caller's bug");
        });
      }
      returned = true;
    });
    await all;
    expect(early).toBe(0);
    expect(calls.size).toBe(n);
    for (const [i, list] of calls) {
      expect(list).toHaveLength(1);
      const [err, r] = list[0] as [AllotErrorType | undefined, TaskResult | undefined];
      expect(err).toBeUndefined();
      expect(r?.result).toEqual({ i });
    }
    // The client still works after the throws.
    expect((await client.submit({ app: "echo", payload: "after" })).result).toBe("after");
  });

  it("answers a refused submit through the callback too, after submitWith returns", async () => {
    const { client } = await cluster();
    let returned = false;
    const got = await new Promise<[AllotErrorType | undefined, boolean]>((resolve) => {
      client.submitWith({ app: "echo", payload: () => 1 }, (err) => resolve([err, returned]));
      returned = true;
    });
    expect(got[0]?.code).toBe(ErrorCode.INVALID);
    expect(got[1]).toBe(true);
    const aborted = AbortSignal.abort();
    const cancelled = await new Promise<AllotErrorType | undefined>((resolve) => client.submitWith({ app: "echo", signal: aborted }, (err) => resolve(err)));
    expect(cancelled?.code).toBe(ErrorCode.CANCELLED);
  });

  it("sends the tasks submitted in one turn as batches once its entry has placed a task, and each task gets its own result", async () => {
    const seen = new Map<string, number>();
    const { client } = await cluster(counting(seen));
    await client.submit({ app: "echo", payload: "first" });
    expect(seen.get("task.place")).toBe(1);
    const results = await Promise.all(Array.from({ length: 300 }, (_, i) => client.submit({ app: "echo", payload: { i } })));
    expect(results.map((r) => r.result)).toEqual(Array.from({ length: 300 }, (_, i) => ({ i })));
    const batches = client.stats().batches as { sent: number; tasks: number };
    // 300 tasks in one turn: at most 256 a batch, so two batches, and no task.place among them.
    expect(batches).toEqual({ sent: 2, tasks: 300 });
    expect(seen.get("task.placeBatch")).toBe(2);
    expect(seen.get("task.place")).toBe(1);
  });

  it("places one at a time, losing nothing, through an entry that refuses batches", async () => {
    const seen = new Map<string, number>();
    const count = counting(seen);
    const { client } = await cluster((b) =>
      count({
        ...b,
        handle(m: Message, ch: Channel) {
          if (m.type === "task.placeBatch") return ch.replyError(m, new AllotError(ErrorCode.UNKNOWN_TYPE, "this tier-2 does not handle task.placeBatch"));
          b.handle(m, ch);
        },
      }),
    );
    await client.submit({ app: "echo" });
    const first = await Promise.all(Array.from({ length: 50 }, (_, i) => client.submit({ app: "echo", payload: i })));
    expect(first.map((r) => r.result)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(first.every((r) => r.attempts === 1)).toBe(true);
    expect(seen.get("task.placeBatch")).toBe(1);
    // Told once: from then on it does not try batches with this entry.
    const second = await Promise.all(Array.from({ length: 50 }, (_, i) => client.submit({ app: "echo", payload: i })));
    expect(second).toHaveLength(50);
    expect(seen.get("task.placeBatch")).toBe(1);
    expect(seen.get("task.place")).toBe(101);
  });
});
