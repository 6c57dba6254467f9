import { describe, expect, it } from "vitest";
import { startNode } from "../../src/index.js";
import { trackNodes } from "../helpers/nodes.js";
import { RawClient, eventually } from "../helpers/raw-client.js";

const track = trackNodes();
const quiet = { logLevel: "silent" as const };

describe("an app server's limits on what a peer asks of it", () => {
  it("keeps stored results per client: a second client reusing a first client's key gets its own run", async () => {
    const tier2 = await track(startNode({ ...quiet, role: "tier2" }));
    await track(startNode({ ...quiet, role: "app", apps: ["echo"], capacity: 4, power: 1, join: [tier2.url] }));
    await eventually(() => (tier2.stats().servers as unknown[]).length === 1, 5000, "the app server to register");
    const alice = await track(startNode({ ...quiet, role: "client", id: "alice", entries: [tier2.url] }));
    const bob = await track(startNode({ ...quiet, role: "client", id: "bob", entries: [tier2.url] }));
    await expect(alice.submit({ app: "echo", key: "K", payload: "alice's secret" })).resolves.toMatchObject({ result: "alice's secret", cached: false });
    await expect(bob.submit({ app: "echo", key: "K", payload: "bob's" })).resolves.toMatchObject({ result: "bob's", cached: false });
    // Each client's own retry still returns its stored result.
    await expect(alice.submit({ app: "echo", key: "K", payload: "again" })).resolves.toMatchObject({ result: "alice's secret", cached: true });
  });

  it("clamps a ticket's expiry, so announcements that name one 10 years away hold no slot for good", async () => {
    const app = await track(startNode({ ...quiet, role: "app", apps: ["echo"], capacity: 4, power: 1, join: ["ws://127.0.0.1:9"], maxTicketMs: 300 }));
    const raw = await RawClient.open(app.url, "not-really-a-tier2");
    try {
      await raw.hello("tier2");
      const tenYears = Date.now() + 10 * 365 * 86_400_000;
      for (let i = 0; i < 4; i++) {
        const answer = await raw.call("task.expect", { taskId: `t${i}`, key: `k${i}`, ticket: `ticket-${i}`, client: { id: "c", addr: "" }, expiresAt: tenYears });
        expect(answer.type).toBe("task.expected");
      }
      expect(app.stats()).toMatchObject({ load: 4, expected: 4 });
      await eventually(() => app.stats().load === 0, 5000, "the announced slots to come back");
    } finally {
      raw.close();
    }
  });

  it("caps a run's deadline at the server's maxRunMs whatever the client asks", async () => {
    const tier2 = await track(startNode({ ...quiet, role: "tier2" }));
    const app = await track(startNode({ ...quiet, role: "app", apps: ["sleep"], capacity: 1, power: 1, join: [tier2.url], maxRunMs: 200 }));
    await eventually(() => (tier2.stats().servers as unknown[]).length === 1, 5000, "the app server to register");
    const client = await track(startNode({ ...quiet, role: "client", entries: [tier2.url] }));
    // The client allows an hour; the server stops the run at its own limit.
    await expect(client.submit({ app: "sleep", payload: 60_000, timeoutMs: 3_600_000 })).rejects.toMatchObject({ code: "TIMEOUT" });
    expect(app.stats()).toMatchObject({ timedOut: 1 });
  });
});
