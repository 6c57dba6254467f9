import { describe, expect, it } from "vitest";
import { queryStatus, startNode } from "../../src/index.js";
import type { RunningNode, ServerEntry } from "../../src/index.js";
import { RawClient, eventually } from "../helpers/raw-client.js";
import { trackNodes } from "../helpers/nodes.js";

const track = trackNodes();
const common = { logLevel: "silent" as const };

/** A clock the test moves by hand: retention is measured on it, so nothing here sleeps for it. */
function manualClock(start = 1_000_000): { now: () => number; advance(ms: number): void } {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

type Row = Pick<ServerEntry, "id" | "status" | "version">;
const rows = (n: RunningNode, key: "servers" | "slaves" = "servers"): Row[] => n.stats()[key] as Row[];
const statusOf = (n: RunningNode, id: string, key: "servers" | "slaves" = "servers"): string | undefined => rows(n, key).find((r) => r.id === id)?.status;

describe("dead entries leave an allocator's table after the retention period", () => {
  it("drops a dead server from a tier-2 once the retention has passed, and a returning server registers afresh", async () => {
    const clock = manualClock();
    const tier2 = await track(startNode({ ...common, role: "tier2", now: clock.now, deadRetentionMs: 60_000 }));
    const start = () => startNode({ ...common, role: "app", id: "gone", apps: ["echo"], capacity: 2, power: 1, join: [tier2.url] });
    const app = await track(start());
    await eventually(() => statusOf(tier2, "gone") === "alive", 5000, "the server to register");
    await app.stop();
    await eventually(() => statusOf(tier2, "gone") === "dead", 5000, "the closed link to mark it dead");
    clock.advance(60_001);
    await eventually(() => statusOf(tier2, "gone") === undefined, 5000, "the dead entry to be dropped");
    expect(await queryStatus(tier2.url)).toMatchObject({ role: "tier2", servers: [], deadRetentionMs: 60_000 });
    await track(start());
    await eventually(() => statusOf(tier2, "gone") === "alive", 5000, "the returning server to register again");
  });

  it("does not bring a dropped server back on a stale peer.sync; a newer version does", async () => {
    const clock = manualClock();
    const tier2 = await track(startNode({ ...common, role: "tier2", now: clock.now, deadRetentionMs: 1000 }));
    const app = await track(startNode({ ...common, role: "app", id: "ghost", apps: ["echo"], capacity: 2, power: 1, join: [tier2.url] }));
    await eventually(() => statusOf(tier2, "ghost") === "alive", 5000, "the server to register");
    const s = await queryStatus(tier2.url);
    if (s.role !== "tier2") throw new Error(`answered as a ${s.role}`);
    const row = s.servers[0];
    if (!row) throw new Error("no server row");
    // The entry as a peer would send it: a report, without the allocator's own bookkeeping.
    const { status: _status, reserved: _reserved, ageMs: _age, ...report } = row;
    await app.stop();
    await eventually(() => statusOf(tier2, "ghost") === "dead", 5000, "the closed link to mark it dead");
    clock.advance(1001);
    await eventually(() => statusOf(tier2, "ghost") === undefined, 5000, "the dead entry to be dropped");
    // A peer that still holds the old entry sends it, as a full sync on connecting would.
    const peer = await RawClient.open(tier2.url, "peer-t2");
    await peer.hello("tier2");
    expect((await peer.call("peer.sync", { servers: [report] })).type).toBe("ack");
    expect(statusOf(tier2, "ghost")).toBeUndefined();
    expect((await peer.call("peer.sync", { servers: [{ ...report, version: [report.version[0], report.version[1] + 1] }] })).type).toBe("ack");
    expect(statusOf(tier2, "ghost")).toBe("alive");
    await peer.close();
  });

  it("drops a master's dead servers and slaves alike", async () => {
    const clock = manualClock();
    const master = await track(startNode({ ...common, role: "master", now: clock.now, deadRetentionMs: 5000 }));
    const app = await track(startNode({ ...common, role: "app", id: "m-app", apps: ["echo"], capacity: 2, power: 1, join: [master.url] }));
    const slave = await track(startNode({ ...common, role: "slave", id: "m-slave", masters: [master.url] }));
    await eventually(() => statusOf(master, "m-app") === "alive" && statusOf(master, "m-slave", "slaves") === "alive", 5000, "both to register");
    await slave.stop();
    await app.stop();
    await eventually(() => statusOf(master, "m-app") === "dead" && statusOf(master, "m-slave", "slaves") === "dead", 5000, "both to be marked dead");
    clock.advance(5001);
    await eventually(() => rows(master).length === 0 && rows(master, "slaves").length === 0, 5000, "both entries to be dropped");
  });

  it("refuses a retention that is not a whole number of ms >= 0", async () => {
    await expect(startNode({ ...common, role: "tier2", deadRetentionMs: -1 })).rejects.toThrow(/deadRetentionMs/);
    await expect(startNode({ ...common, role: "master", deadRetentionMs: 1.5 })).rejects.toThrow(/deadRetentionMs/);
  });
});
