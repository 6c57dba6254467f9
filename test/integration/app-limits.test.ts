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

  it("holds no slot for good: placements with a deadline 10 years away expire, and a stranger's announcements are refused", async () => {
    const tier2 = await track(startNode({ ...quiet, role: "tier2" }));
    const app = await track(startNode({ ...quiet, role: "app", apps: ["echo"], capacity: 4, power: 1, join: [tier2.url], maxTicketMs: 300 }));
    await eventually(() => (tier2.stats().servers as unknown[]).length === 1, 5000, "the app server to register");
    const placer = await RawClient.open(tier2.url, "placer");
    const stranger = await RawClient.open(app.url, "not-really-a-tier2");
    try {
      await placer.hello("client");
      const tenYears = Date.now() + 10 * 365 * 86_400_000;
      for (let i = 0; i < 4; i++) {
        const task = { id: `t${i}`, key: `k${i}`, app: "echo", deadline: tenYears, require: [], clientAttrs: {}, prefs: {}, payload: null };
        expect((await placer.call("task.place", { task, client: { id: "placer", addr: "" } })).type).toBe("task.placed");
      }
      await eventually(() => app.stats().expected === 4, 5000, "the four announcements");
      // Never run: the slots come back at the server's limit, not in ten years.
      await eventually(() => app.stats().load === 0, 5000, "the announced slots to come back");
      await stranger.hello("tier2");
      const made = await stranger.call("task.expect", { taskId: "x", key: "x", ticket: "made-up", client: { id: "c", addr: "" }, expiresAt: tenYears });
      expect(made).toMatchObject({ type: "error", body: { code: "UNAUTHORIZED" } });
      expect(app.stats()).toMatchObject({ load: 0 });
    } finally {
      placer.close();
      stranger.close();
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
