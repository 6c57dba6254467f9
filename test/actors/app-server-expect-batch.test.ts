import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode, startNode } from "../../src/index.js";
import type { RunningNode } from "../../src/index.js";
import type { Message } from "../../src/protocol/index.js";
import { FakeAllocator } from "../helpers/fake-allocator.js";
import { eventually } from "../helpers/raw-client.js";

const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const s of stops.splice(0).reverse()) await s();
});

async function serverWith(capacity: number): Promise<{ allocator: FakeAllocator; app: RunningNode }> {
  const allocator = await FakeAllocator.start();
  stops.push(() => allocator.close());
  const app = await startNode({ role: "app", id: "app-b", logLevel: "silent", apps: ["echo"], capacity, power: 1, join: [allocator.url] });
  stops.push(() => app.stop());
  await eventually(() => allocator.report?.ticketKey !== undefined, 5000, "the server's report");
  return { allocator, app };
}

const body = (m: Message) => (m.type === "task.expectedBatch" ? m.body : undefined);

describe("app server: task.expectBatch", () => {
  it("takes each expect as task.expect would and answers once, the refusals by index and the load after all of them", async () => {
    const { allocator, app } = await serverWith(2);
    const answer = await allocator.expectBatch([
      allocator.expectOf(0),
      allocator.expectOf(1, "s1~ZmFrZS10MkAw~1~0~AAAAAAAAAAAAAAAAAAAAAA"), // a MAC no allocator made
      allocator.expectOf(2),
      allocator.expectOf(3), // the third slot of a server of two
    ]);
    expect(answer.type).toBe("task.expectedBatch");
    expect(body(answer)?.load).toBe(2);
    expect(body(answer)?.refused?.map((r) => [r.at, r.error.code])).toEqual([
      [1, ErrorCode.UNAUTHORIZED],
      [3, ErrorCode.OVERLOADED],
    ]);
    expect(app.stats()).toMatchObject({ expected: 2 });
  });

  it("leaves `refused` out when every expect is taken", async () => {
    const { allocator } = await serverWith(4);
    const answer = await allocator.expectBatch([allocator.expectOf(0), allocator.expectOf(1), allocator.expectOf(2)]);
    expect(body(answer)).toEqual({ load: 3, version: expect.any(Array) });
  });
});
