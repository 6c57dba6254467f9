import { describe, expect, it } from "vitest";
import { startNode } from "../../src/index.js";
import type { RunningNode } from "../../src/index.js";
import { ownerOf } from "../../src/policies/index.js";
import { RawClient, eventually } from "../helpers/raw-client.js";
import { trackNodes } from "../helpers/nodes.js";

const track = trackNodes();

interface Row {
  id: string;
  status: string;
  version: [number, number];
}
const rowOf = (n: RunningNode, id: string): Row | undefined => (n.stats().servers as Row[]).find((r) => r.id === id);
const common = { logLevel: "silent" as const };

describe("tier-2 peers", () => {
  it("splits the servers among the set: with idle servers each tier-2 places on the ones it owns", async () => {
    const a = await track(startNode({ ...common, role: "tier2", id: "t2-a" }));
    const b = await track(startNode({ ...common, role: "tier2", id: "t2-b", peers: [a.url] }));
    const c = await track(startNode({ ...common, role: "tier2", id: "t2-c", peers: [a.url, b.url] }));
    const set = [a, b, c];
    const ids = ["t2-a", "t2-b", "t2-c"];
    await eventually(() => set.every((n) => JSON.stringify(n.stats().members) === JSON.stringify(ids)), 5000, "every member to know the whole set");
    const servers = Array.from({ length: 12 }, (_, i) => `s${i}`);
    for (const id of servers) await track(startNode({ ...common, role: "app", id, apps: ["echo"], capacity: 8, power: 2, join: set.map((n) => n.url) }));
    await eventually(() => set.every((n) => servers.every((id) => rowOf(n, id)?.status === "alive")), 5000, "every server at every tier-2");
    for (const [k, t2] of set.entries()) {
      const own = servers.filter((id) => ownerOf(id, ids) === ids[k]);
      if (own.length === 0) continue; // rendezvous hashing may leave a member none of 12
      const client = await track(startNode({ ...common, role: "client", entries: [t2.url] }));
      // One at a time, so every server is idle at every decision: a home server is as good as any.
      for (let i = 0; i < 12; i++) expect(own).toContain((await client.submit({ app: "echo", payload: i })).serverId);
    }
  });

  it("relays a registered server to a peer it never contacted, which then places tasks on it", async () => {
    const t2b = await track(startNode({ ...common, role: "tier2", id: "t2b" }));
    const t2a = await track(startNode({ ...common, role: "tier2", id: "t2a", peers: [t2b.url] }));
    const app = await track(startNode({ ...common, role: "app", id: "solo", apps: ["echo"], capacity: 8, power: 1, join: [t2a.url], mode: "registered" }));
    await eventually(() => rowOf(t2b, "solo")?.status === "alive", 5000, "t2b to learn of the server through t2a");
    // The server's only connection to a distributor is to t2a.
    expect(app.stats().connections).toBe(0);
    const client = await track(startNode({ ...common, role: "client", entries: [t2b.url] }));
    const r = await client.submit({ app: "echo", payload: "via a peer" });
    expect(r).toMatchObject({ serverId: "solo", result: "via a peer" });
  });

  it("converges: after updates stop, every peer holds the server's newest version", async () => {
    const t2b = await track(startNode({ ...common, role: "tier2", id: "t2b" }));
    const t2a = await track(startNode({ ...common, role: "tier2", id: "t2a", peers: [t2b.url] }));
    await track(startNode({ ...common, role: "app", id: "busy", apps: ["echo"], capacity: 8, power: 1, join: [t2a.url], mode: "registered", report: { event: true, periodicMs: 0 } }));
    await eventually(() => rowOf(t2b, "busy") !== undefined, 5000, "t2b to learn of the server");
    const client = await track(startNode({ ...common, role: "client", entries: [t2a.url, t2b.url] }));
    await Promise.all(Array.from({ length: 40 }, (_, i) => client.submit({ app: "echo", payload: i })));
    await eventually(
      () => {
        const a = rowOf(t2a, "busy");
        const b = rowOf(t2b, "busy");
        return a !== undefined && b !== undefined && a.version[1] === b.version[1];
      },
      5000,
      "both distributors to hold the same newest version",
    );
    expect(rowOf(t2a, "busy")?.version[1]).toBeGreaterThan(1);
  });

  it("relays a version it first took from a task.expected when the server's report of that version comes", async () => {
    // A registered server's report can carry the very version its task.expected answer already
    // gave this tier-2: that report is stale here but new to the peer, which must still get it.
    const t2b = await track(startNode({ ...common, role: "tier2", id: "t2b" }));
    const t2a = await track(startNode({ ...common, role: "tier2", id: "t2a", peers: [t2b.url] }));
    await eventually(() => t2a.stats().syncLinks === 1 && t2b.stats().syncLinks === 1, 5000, "the peers to link");
    const server = await RawClient.open(t2a.url, "x");
    try {
      await server.hello("app");
      const report = (seq: number, load: number) => ({ server: { id: "x", url: "ws://127.0.0.1:1", apps: ["echo"], capacity: 4, power: 1, load, attrs: {}, version: [1, seq] }, relay: true });
      expect((await server.call("server.report", report(1, 0))).type).toBe("ack");
      await eventually(() => rowOf(t2b, "x")?.version[1] === 1, 5000, "t2b to learn of the server");
      const client = await track(startNode({ ...common, role: "client", entries: [t2a.url] }));
      const mark = server.mark();
      const cancel = new AbortController();
      const placed = client.submit({ app: "echo", payload: 1, signal: cancel.signal }).catch(() => undefined);
      const expect_ = await server.waitForType("task.expect", () => true, 5000, "the tier-2 to tell the server to expect the task", mark);
      server.reply(expect_.id, "task.expected", { load: 1, version: [1, 5] });
      await eventually(() => rowOf(t2a, "x")?.version[1] === 5, 5000, "t2a to take the version of the answer");
      expect((await server.call("server.report", report(5, 1))).type).toBe("ack");
      await eventually(() => rowOf(t2b, "x")?.version[1] === 5, 3000, "t2b to be told the server's newest version");
      cancel.abort(); // the server's address is a dead end: its one task need not wait out its deadline
      await placed;
    } finally {
      await server.close();
    }
  });

  it("does not relay a broadcasting server's reports: each peer already hears them from the server", async () => {
    const t2b = await track(startNode({ ...common, role: "tier2", id: "t2b" }));
    const t2a = await track(startNode({ ...common, role: "tier2", id: "t2a", peers: [t2b.url] }));
    await eventually(() => t2a.stats().syncLinks === 1 && t2b.stats().syncLinks === 1, 5000, "the peers to link");
    const app = await track(startNode({ ...common, role: "app", id: "loud", apps: ["echo"], capacity: 8, power: 1, join: [t2a.url, t2b.url], mode: "broadcast", report: { event: true, periodicMs: 0 } }));
    for (let n = 1; n <= 5; n++) app.setAttrs({ n });
    await eventually(() => [t2a, t2b].every((t) => (t.stats().servers as Array<{ id: string; attrs: { n?: number } }>).find((r) => r.id === "loud")?.attrs.n === 5), 5000, "both to see the last change");
    expect([t2a.stats().syncReceived, t2b.stats().syncReceived]).toEqual([0, 0]);
  });

  it("rebuilds a restarted distributor's empty database from its peer", async () => {
    const t2a = await track(startNode({ ...common, role: "tier2", id: "t2a" }));
    await track(startNode({ ...common, role: "app", id: "kept", apps: ["echo"], capacity: 8, power: 1, join: [t2a.url] }));
    await eventually(() => rowOf(t2a, "kept") !== undefined, 5000, "t2a to know the server");
    // A distributor that starts empty and names t2a as its peer gets t2a's whole table.
    const fresh = await track(startNode({ ...common, role: "tier2", id: "t2-restarted", peers: [t2a.url] }));
    await eventually(() => rowOf(fresh, "kept")?.status === "alive", 5000, "the restarted distributor to rebuild its table");
    const client = await track(startNode({ ...common, role: "client", entries: [fresh.url] }));
    expect((await client.submit({ app: "echo", payload: 7 })).serverId).toBe("kept");
  });
});
