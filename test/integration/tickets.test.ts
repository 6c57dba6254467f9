import { describe, expect, it } from "vitest";
import { queryStatus, startNode } from "../../src/index.js";
import { TICKET_SKEW_MS, signTicket } from "../../src/actors/runtime/ticket.js";
import { FakeAllocator } from "../helpers/fake-allocator.js";
import { trackNodes } from "../helpers/nodes.js";
import { RawClient, eventually } from "../helpers/raw-client.js";

const track = trackNodes();
const quiet = { logLevel: "silent" as const };

describe("self-checking tickets", () => {
  it("runs a task whose ticket checks before any expect has come, once, and only for the client it names", async () => {
    const allocator = await FakeAllocator.start();
    const app = await track(startNode({ ...quiet, role: "app", apps: ["echo"], capacity: 2, power: 1, join: [allocator.url] }));
    await eventually(() => allocator.report?.ticketKey !== undefined, 5000, "the app server's report");
    const key = allocator.report?.ticketKey as string;
    const ticket = signTicket(key, { taskId: "t1", key: "k1", serverId: app.id, client: "alice", expiresAt: Date.now() + 30_000, issuer: "ZmFrZUAx", seq: 1 });
    const alice = await RawClient.open(app.url, "alice");
    const mallory = await RawClient.open(app.url, "mallory");
    try {
      await alice.hello("client");
      await mallory.hello("client");
      const run = { taskId: "t1", key: "k1", app: "echo", ticket, payload: "hi" };
      expect(await mallory.call("task.run", run)).toMatchObject({ type: "error", body: { code: "UNAUTHORIZED" } });
      expect(await alice.call("task.run", run)).toMatchObject({ type: "task.result", body: { result: "hi" } });
      expect(await alice.call("task.run", run)).toMatchObject({ type: "error", body: { code: "UNAUTHORIZED", message: "ticket already used" } });
      // An expired one does not run, even for its client (past the allowance for clock skew).
      const old = signTicket(key, { taskId: "t2", key: "k2", serverId: app.id, client: "alice", expiresAt: Date.now() - TICKET_SKEW_MS - 1, issuer: "ZmFrZUAx", seq: 2 });
      expect(await alice.call("task.run", { ...run, taskId: "t2", key: "k2", ticket: old })).toMatchObject({ type: "error", body: { code: "UNAUTHORIZED", message: "ticket expired" } });
    } finally {
      alice.close();
      mallory.close();
      await app.stop();
      await allocator.close();
    }
  });

  it("keeps the server's ticket key out of every status answer", async () => {
    const tier2 = await track(startNode({ ...quiet, role: "tier2" }));
    const app = await track(startNode({ ...quiet, role: "app", apps: ["echo"], capacity: 2, power: 1, join: [tier2.url] }));
    await eventually(() => (tier2.stats().servers as unknown[]).length === 1, 5000, "the app server to register");
    const s = await queryStatus(tier2.url);
    expect(JSON.stringify(s)).not.toContain("ticketKey");
    expect(JSON.stringify(await queryStatus(app.url))).not.toContain("ticketKey");
  });
});
