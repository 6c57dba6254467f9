import { describe, expect, it } from "vitest";
import type { ServerReport } from "../../src/protocol/index.js";
import { ServerTable } from "../../src/state/index.js";

const report = (over: Partial<ServerReport> = {}): ServerReport => ({
  id: "s1",
  url: "ws://127.0.0.1:4001",
  apps: ["echo"],
  capacity: 4,
  power: 1,
  load: 0,
  attrs: {},
  version: [1, 1],
  periodMs: 100,
  ...over,
});

/** The ids a decision could choose for echo now. */
const selectable = (t: ServerTable): string[] => {
  const out: string[] = [];
  t.available("echo")?.visit((e) => {
    out.push(e.id);
    return true;
  });
  return out.sort();
};

describe("state/server-table draining", () => {
  it("a report saying draining makes the entry draining and unselectable at once; a load-only report keeps it so", () => {
    const t = new ServerTable();
    t.apply(report(), 0);
    t.apply(report({ id: "s2", url: "ws://127.0.0.1:4002" }), 0);
    expect(selectable(t)).toEqual(["s1", "s2"]);
    expect(t.apply(report({ version: [1, 2], draining: true }), 10)).toBe("updated");
    expect(t.get("s1")?.status).toBe("draining");
    expect(selectable(t)).toEqual(["s2"]);
    expect(t.idleQueue("echo")?.longestIdle(() => true, 10)?.id).toBe("s2");
    // Its load still comes: the entry stays draining.
    expect(t.refresh("s1", 0, [1, 3], 20)).toBe("updated");
    expect(t.get("s1")?.status).toBe("draining");
    expect(selectable(t)).toEqual(["s2"]);
  });

  it("a new server registering while draining is draining from its first report", () => {
    const t = new ServerTable();
    t.apply(report({ draining: true }), 0);
    expect(t.get("s1")?.status).toBe("draining");
    expect(selectable(t)).toEqual([]);
  });

  it("a draining server that goes silent dies like any other", () => {
    const t = new ServerTable();
    t.apply(report({ draining: true }), 0);
    expect(t.expire(250).map((e) => e.status)).toEqual([]); // past 2 periods: suspect would change nothing
    expect(t.expire(600).map((e) => e.status)).toEqual(["dead"]);
  });

  it("remove takes the entry out at once; a stale copy does not bring it back, its next incarnation does, alive", () => {
    const t = new ServerTable();
    t.apply(report({ version: [1, 5], draining: true }), 0);
    t.idleQueue("echo");
    expect(t.remove("s1")?.id).toBe("s1");
    expect(t.get("s1")).toBeUndefined();
    expect(t.size).toBe(0);
    expect(t.offering("echo")).toEqual([]);
    expect(t.remove("s1")).toBeUndefined();
    // A peer's older copy is ignored.
    expect(t.apply(report({ version: [1, 5], draining: true }), 10)).toBe("stale");
    expect(t.get("s1")).toBeUndefined();
    // The restarted server (a new incarnation) registers afresh, alive.
    expect(t.apply(report({ version: [2, 1] }), 20)).toBe("new");
    expect(t.get("s1")?.status).toBe("alive");
    expect(selectable(t)).toEqual(["s1"]);
  });
});
