import { describe, expect, it } from "vitest";
import { createTestCluster } from "../../src/testing/index.js";
import type { HistoryEvent, TestCluster } from "../../src/testing/index.js";
import { TINY } from "./fixtures.js";

const kinds = (h: readonly HistoryEvent[]): string[] => h.map((e) => (e.kind === "fault" ? `fault:${e.fault}` : e.kind));

function aliveAt(c: TestCluster, allocator: string, server: string): boolean {
  const rows = c.node(allocator).stats()?.servers;
  return Array.isArray(rows) && rows.some((r: { id?: string; status?: string }) => r.id === server && r.status === "alive");
}

async function withCluster(f: (c: TestCluster) => Promise<void>): Promise<void> {
  const c = await createTestCluster(TINY);
  try {
    await f(c);
  } finally {
    await c.dispose();
  }
}

describe("test cluster faults", () => {
  it("partition then heal: the server is taken out of selection, then comes back", () =>
    withCluster(async (c) => {
      c.partition(["a1"], ["t2"]);
      await c.run({ until: () => !aliveAt(c, "t2", "a1"), maxSteps: 20_000 });
      const hs = [1, 2, 3].map((i) => c.submit("c1", { app: "echo", payload: i }));
      await c.run({ maxSteps: 20_000 });
      for (const h of hs) expect(h.result?.serverId).toBe("a2");
      c.heal();
      await c.run({ until: () => aliveAt(c, "t2", "a1"), maxSteps: 50_000 });
      expect(kinds(c.history)).toEqual(expect.arrayContaining(["fault:partition", "fault:heal"]));
    }));

  it("crash and restart: runs are lost, the task is placed again, the server comes back a new incarnation", () =>
    withCluster(async (c) => {
      const h = c.submit("c1", { app: "sleep", payload: { ms: 1000 } });
      await c.run({ until: () => c.history.some((e) => e.kind === "run.start"), maxSteps: 20_000 });
      const first = c.history.find((e) => e.kind === "run.start");
      if (first?.kind !== "run.start") throw new Error("no run");
      c.crash(first.server);
      expect(c.node(first.server).alive).toBe(false);
      await c.run({ maxSteps: 50_000 });
      expect(h.result?.serverId).not.toBe(first.server);
      const lost = c.history.find((e) => e.kind === "run.end" && e.outcome === "lost");
      expect(lost).toMatchObject({ server: first.server, incarnation: 1, key: h.key });
      await c.restart(first.server);
      expect(c.node(first.server).incarnation).toBe(2);
      await c.run({ until: () => aliveAt(c, "t2", first.server), maxSteps: 50_000 });
      expect(kinds(c.history)).toEqual(expect.arrayContaining(["crash", "restart"]));
      const t = c.snapshotTables();
      expect(t.sets[0]?.members[0]?.servers[first.server]?.version).toEqual(t.truth[first.server]);
    }));

  it("pause and resume: a paused server is found silent; resumed, it is selectable again", () =>
    withCluster(async (c) => {
      c.pause("a1");
      expect(c.node("a1").paused).toBe(true);
      await c.run({ until: () => !aliveAt(c, "t2", "a1"), maxSteps: 20_000 });
      const hs = [1, 2].map((i) => c.submit("c1", { app: "echo", payload: i }));
      await c.run({ maxSteps: 20_000 });
      for (const h of hs) expect(h.result?.serverId).toBe("a2");
      c.resume("a1");
      await c.run({ until: () => aliveAt(c, "t2", "a1"), maxSteps: 50_000 });
      expect(kinds(c.history)).toEqual(expect.arrayContaining(["pause", "resume"]));
      const p = c.history.find((e) => e.kind === "pause");
      expect(p).toMatchObject({ node: "a1", incarnation: 1 });
    }));

  it("delay, duplicate, drop on a link: tasks still settle, the hub counts what it did", () =>
    withCluster(async (c) => {
      c.link("c1", "t2").delay(50);
      const t0 = c.now;
      const d = c.submit("c1", { app: "echo", payload: "late" });
      await c.run({ maxSteps: 20_000 });
      expect(d.result?.result).toBe("late");
      expect(c.now - t0).toBeGreaterThanOrEqual(100);
      c.link("c1", "t2").clear();
      c.link("c1", "a1").duplicate(1);
      c.link("c1", "a2").duplicate(1);
      const u = [1, 2, 3].map((i) => c.submit("c1", { app: "echo", payload: i }));
      await c.run({ maxSteps: 20_000 });
      expect(u.map((h) => h.result?.result)).toEqual([1, 2, 3]);
      expect(c.counters.duplicated).toBeGreaterThan(0);
      c.link("c1", "a1").clear();
      c.link("c1", "a2").clear();
      c.link("c1", "t2").drop({ n: 1 });
      const dropped = c.counters.dropped;
      const x = c.submit("c1", { app: "echo", payload: "again" });
      await c.run({ maxSteps: 50_000 });
      expect(x.result?.result).toBe("again");
      expect(c.counters.dropped).toBe(dropped + 1);
      expect(kinds(c.history)).toEqual(expect.arrayContaining(["fault:delay", "fault:duplicate", "fault:drop"]));
    }));

  it("applies the spec's faults at their virtual times", async () => {
    const c = await createTestCluster({ ...TINY, faults: [{ at: 100, kind: "crash", node: "a2" }, { at: 500, kind: "restart", node: "a2" }] });
    try {
      await c.run({ until: c.now + 1000 });
      expect(kinds(c.history).filter((k) => k === "crash" || k === "restart")).toEqual(["crash", "restart"]);
      expect(c.node("a2").incarnation).toBe(2);
    } finally {
      await c.dispose();
    }
  });
});

describe("test cluster faults, replayed", () => {
  it("the same seed replays the same history through random drops, a crash and a restart", async () => {
    const once = async () => {
      const c = await createTestCluster({ ...TINY, seed: 5, delivery: { choices: [2, 0, 1, 3, 1] } });
      try {
        c.link("c1", "a1").drop(0.3);
        c.link("c1", "a2").drop(0.3);
        const hs = [1, 2, 3, 4].map((i) => c.submit("c1", { app: "sleep", payload: { ms: 40 * i } }));
        await c.run({ until: c.now + 50, maxSteps: 20_000 });
        c.crash("a2");
        await c.run({ until: c.now + 200, maxSteps: 20_000 });
        await c.restart("a2");
        await c.run({ until: () => hs.every((h) => h.settled), maxSteps: 50_000 });
        return { history: structuredClone(c.history), counters: { ...c.counters } };
      } finally {
        await c.dispose();
      }
    };
    const a = await once();
    const b = await once();
    expect(a.counters.dropped).toBeGreaterThan(0);
    expect(kinds(a.history)).toEqual(expect.arrayContaining(["crash", "restart"]));
    expect(b).toEqual(a);
  });
});
