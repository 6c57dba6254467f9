import { describe, expect, it } from "vitest";
import { startNode } from "../../src/index.js";
import type { Handler } from "../../src/actors/runtime/handlers.js";
import { FakeAllocator } from "../helpers/fake-allocator.js";
import { trackNodes } from "../helpers/nodes.js";
import { RawClient, eventually } from "../helpers/raw-client.js";

// A handler's failure that the failure itself makes hard to read (a thrown proxy whose prototype
// trap throws: even `instanceof` on it throws) used to get past the handler boundary: thrown
// synchronously it left its slot taken for good; as a rejection it went unhandled and the client
// waited until its deadline. Its answer belongs on the run's own connection, at once.

const track = trackNodes();
const quiet = { logLevel: "silent" as const };

const unreadable = (): object =>
  new Proxy(
    {},
    {
      getPrototypeOf() {
        throw new Error("no prototype to read");
      },
    },
  );

const handlers: Record<string, Handler> = {
  throwsUnreadable: () => {
    throw unreadable();
  },
  rejectsUnreadable: async () => {
    await new Promise((r) => setTimeout(r, 5));
    throw unreadable();
  },
};

async function server(capacity: number) {
  const allocator = await FakeAllocator.start();
  const app = await track(startNode({ ...quiet, role: "app", apps: ["throwsUnreadable", "rejectsUnreadable", "echo"], capacity, power: 1, join: [allocator.url], workers: 0, handlers }));
  await eventually(() => allocator.report?.ticketKey !== undefined, 5000, "the app server's report");
  const client = await RawClient.open(app.url, "c");
  await client.hello("client");
  return {
    allocator,
    app,
    client,
    async close() {
      client.close();
      await allocator.close();
    },
  };
}

describe("a handler's failure past the boundary", () => {
  it("answers the client on its own connection, before its deadline, when the run comes before its expect", async () => {
    const s = await server(2);
    try {
      for (const [n, app] of [[1, "rejectsUnreadable"], [2, "throwsUnreadable"]] as const) {
        const expiresAt = Date.now() + 60_000;
        const ticket = s.allocator.sign(n, expiresAt);
        // The run overtakes its expect, which arrives while it runs (or just after).
        const answer = s.client.call("task.run", { taskId: `t${n}`, key: `k${n}`, app, ticket, payload: null, deadline: expiresAt }, 10_000);
        const expected = await s.allocator.announce(n, ticket, expiresAt);
        // The allocator hears only of its announcement, never of the run's failure.
        expect(expected.type).toBe("task.expected");
        expect(await answer).toMatchObject({ type: "error", body: { code: "TASK_FAILED" } });
      }
    } finally {
      await s.close();
    }
  });

  it("frees the slot of a run whose handler failed that way: a full server takes the next task", async () => {
    const s = await server(1);
    try {
      for (let n = 1; n <= 3; n++) {
        const ticket = s.allocator.sign(n);
        const m = await s.client.call("task.run", { taskId: `t${n}`, key: `k${n}`, app: "throwsUnreadable", ticket, payload: null }, 5000);
        expect(m).toMatchObject({ type: "error", body: { code: "TASK_FAILED" } });
      }
      const ticket = s.allocator.sign(4);
      expect(await s.client.call("task.run", { taskId: "t4", key: "k4", app: "echo", ticket, payload: "hi" })).toMatchObject({ type: "task.result", body: { result: "hi" } });
      expect(s.app.stats().running).toBe(0);
    } finally {
      await s.close();
    }
  });
});
