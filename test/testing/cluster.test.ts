import { describe, expect, it } from "vitest";
import { StepLimitError, UnknownNodeError, createTestCluster } from "../../src/testing/index.js";
import type { TestClusterSpec } from "../../src/testing/index.js";
import { TIERED } from "./fixtures.js";

const spec = (seed: number, choices?: number[]): TestClusterSpec => ({
  seed,
  tiered: TIERED,
  clients: ["c1", "c2"],
  handlers: { work: async (p, task) => ({ p, key: task.key }) },
  heartbeatMs: 200,
  ...(choices ? { delivery: { choices } } : {}),
});

async function twentyTasks(s: TestClusterSpec) {
  const c = await createTestCluster(s);
  try {
    const hs = Array.from({ length: 20 }, (_, i) => c.submit(i % 2 === 0 ? "c1" : "c2", { app: i % 3 === 0 ? "echo" : "work", payload: i }));
    await c.run({ maxSteps: 50_000 });
    return { c, hs, history: structuredClone(c.history) };
  } finally {
    await c.dispose();
  }
}

describe("test cluster", () => {
  it("runs 20 tasks through the whole tiered design, FIFO", async () => {
    const { hs, history } = await twentyTasks(spec(7));
    for (const [i, h] of hs.entries()) {
      expect(h.settled, `op ${h.op}`).toBe(true);
      expect(h.error).toBeUndefined();
      expect(i % 3 === 0 ? h.result?.result : (h.result?.result as { p: number }).p).toBe(i);
    }
    expect(history.filter((e) => e.kind === "submit")).toHaveLength(20);
    expect(history.filter((e) => e.kind === "settle" && e.ok)).toHaveLength(20);
    const starts = history.filter((e) => e.kind === "run.start");
    expect(starts.length).toBeGreaterThanOrEqual(20);
    for (const s of starts) if (s.kind === "run.start") expect(s.running).toBeLessThanOrEqual(s.capacity);
    const clients = new Set(starts.map((s) => (s.kind === "run.start" ? s.client : "")));
    expect([...clients].sort()).toEqual(["c1", "c2"]);
  });

  it("gives the same history for the same seed (and delivery tape)", async () => {
    const a = await twentyTasks(spec(11, [3, 1, 4, 1, 5, 9, 2, 6]));
    const b = await twentyTasks(spec(11, [3, 1, 4, 1, 5, 9, 2, 6]));
    expect(a.history.length).toBeGreaterThan(40);
    expect(b.history).toEqual(a.history);
  });

  it("runs a 10 s deadline on virtual time in well under a second of wall time", async () => {
    const c = await createTestCluster({ tiered: { tier2: [{ id: "t2" }], apps: [{ id: "a1", apps: ["sleep"], capacity: 1 }] }, clients: [{ id: "c1", timeoutMs: 10_000 }] });
    try {
      const t0 = c.now;
      const wall = performance.now();
      const h = c.submit("c1", { app: "sleep", payload: { ms: 60_000 } });
      await c.run({ maxSteps: 50_000 });
      const took = performance.now() - wall;
      expect(h.settled).toBe(true);
      expect((h.error as { code?: string }).code).toBe("TIMEOUT");
      expect(c.now - t0).toBeGreaterThanOrEqual(10_000);
      expect(c.now - t0).toBeLessThan(11_000);
      expect(took).toBeLessThan(1000);
      const slept = c.submit("c1", { app: "sleep", payload: { ms: 5_000 } });
      const before = c.now;
      await c.run({ maxSteps: 50_000 });
      expect(slept.result?.result).toEqual({ slept: 5000 });
      expect(c.now - before).toBeGreaterThanOrEqual(5000);
    } finally {
      await c.dispose();
    }
  });

  it("takes counts of tier-1s and vips, and enters at the outer vip", async () => {
    const c = await createTestCluster({ tiered: { vips: 2, tier1: 2, tier2: [{ id: "t2a", peers: ["t2b"] }, { id: "t2b" }], apps: [{ id: "a1", apps: ["echo"], capacity: 2 }] }, clients: ["c1"] });
    try {
      expect(Object.keys(c.nodes).sort()).toEqual(["a1", "c1", "t2a", "t2b", "tier1-1", "tier1-2", "vip-1", "vip-2"]);
      const hs = [1, 2, 3, 4].map((i) => c.submit("c1", { app: "echo", payload: i }));
      await c.run({ maxSteps: 20_000 });
      expect(hs.map((h) => h.result?.result)).toEqual([1, 2, 3, 4]);
      const vip1 = c.node("vip-1").stats();
      expect(vip1?.connections).toBeGreaterThan(0);
    } finally {
      await c.dispose();
    }
  });

  it("records each allocator's table and each server's own version", async () => {
    const c = await createTestCluster({ tiered: TIERED, clients: ["c1"], handlers: { work: (p) => p } });
    try {
      const t = c.snapshotTables();
      expect(t.sets[0]?.members.map((m) => m.node).sort()).toEqual(["t2a", "t2b"]);
      for (const m of t.sets[0]?.members ?? []) {
        expect(Object.keys(m.servers).sort()).toEqual(["a1", "a2"]);
        for (const [id, e] of Object.entries(m.servers)) {
          expect(e.status).toBe("alive");
          expect(e.version[0]).toBe(t.truth[id]?.[0]);
        }
      }
      expect(c.history.at(-1)).toBe(t);
    } finally {
      await c.dispose();
    }
  });

  it("starts a master/slave cluster and runs through a proxy and a direct slave", async () => {
    const c = await createTestCluster({
      masterSlave: {
        masters: [{ id: "m1", peers: ["m2"] }, { id: "m2", peers: ["m1"] }],
        slaves: [{ id: "sp", link: "proxy" }, { id: "sd", link: "direct" }],
        apps: [{ id: "a1", apps: ["echo"], capacity: 2 }],
      },
      clients: ["c1"],
    });
    try {
      const hs = Array.from({ length: 6 }, (_, i) => c.submit("c1", { app: "echo", payload: i }));
      await c.run({ maxSteps: 50_000 });
      expect(hs.map((h) => h.result?.result)).toEqual([0, 1, 2, 3, 4, 5]);
    } finally {
      await c.dispose();
    }
  });
});

describe("test cluster limits", () => {
  it("a run past maxSteps throws StepLimitError with the history's tail", async () => {
    const c = await createTestCluster({ tiered: { tier2: [{ id: "t2" }], apps: [{ id: "a1", apps: ["sleep"], capacity: 1 }] }, clients: ["c1"] });
    try {
      c.submit("c1", { app: "sleep", payload: { ms: 60_000 } });
      const err = await c.run({ maxSteps: 50 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StepLimitError);
      expect((err as StepLimitError).tail.at(-1)?.kind).toBe("run.start");
      expect(() => c.node("nope")).toThrow(UnknownNodeError);
    } finally {
      await c.dispose();
    }
  });
});

describe("test cluster attributes", () => {
  it("setAttrs reaches the allocators and the history's run.start", async () => {
    const c = await createTestCluster({ tiered: { tier2: [{ id: "t2" }], apps: [{ id: "a1", apps: ["echo"], capacity: 1, attrs: { zone: "x" } }] }, clients: ["c1"] });
    try {
      c.setAttrs("a1", { zone: "y" });
      // The change travels in a report: let it arrive before asking for it.
      const seen = (): boolean => {
        const rows = c.node("t2").stats()?.servers;
        return Array.isArray(rows) && rows.some((r: { attrs?: { zone?: string } }) => r.attrs?.zone === "y");
      };
      await c.run({ until: seen, maxSteps: 20_000 });
      const h = c.submit("c1", { app: "echo", payload: 1, require: [{ key: "zone", op: "=", value: "y" }] });
      await c.run({ maxSteps: 20_000 });
      expect(h.result?.serverId).toBe("a1");
      const start = c.history.find((e) => e.kind === "run.start");
      expect(start).toMatchObject({ attrs: { zone: "y" }, client: "c1", key: h.key, incarnation: 1 });
      expect(() => c.crash("ghost")).toThrow(UnknownNodeError);
    } finally {
      await c.dispose();
    }
  });
});
