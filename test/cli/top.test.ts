import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNode } from "../../src/index.js";
import type { RunningClient, RunningNode } from "../../src/index.js";
import { queryStatus } from "../../src/node/query.js";
import { placementQuantile } from "../../src/cli/top.js";
import type { TopSnapshot } from "../../src/cli/top.js";
import { runMain } from "../helpers/capture.js";
import { until } from "../helpers/poll.js";

const quiet = { logLevel: "silent" as const };

describe("allot top and allot status of a set, against real tier-2s and app servers", () => {
  const nodes: RunningNode[] = [];
  let a: RunningNode, b: RunningNode, client: RunningClient;

  beforeAll(async () => {
    const track = async <T extends RunningNode>(p: Promise<T>): Promise<T> => {
      const n = await p;
      nodes.push(n);
      return n;
    };
    a = await track(startNode({ ...quiet, role: "tier2", id: "top-a" }));
    b = await track(startNode({ ...quiet, role: "tier2", id: "top-b" }));
    await track(startNode({ ...quiet, role: "app", id: "top-app1", apps: ["echo"], capacity: 4, power: 1, join: [a.url, b.url] }));
    await track(startNode({ ...quiet, role: "app", id: "top-app2", apps: ["echo"], capacity: 2, power: 1, join: [a.url, b.url] }));
    client = await track(startNode({ ...quiet, role: "client", id: "top-client", entries: [a.url] }));
    for (const t of [a, b]) {
      await until(async () => {
        const s = await queryStatus(t.url);
        return (s.role === "tier2" && s.servers.filter((r) => r.status === "alive").length === 2);
      }, `both app servers alive at ${t.id}`);
    }
  }, 30_000);

  afterAll(async () => {
    for (const n of nodes.splice(0).reverse()) await n.stop();
  });

  /** Submits echo tasks one after another until `done` is set; resolves with how many ran. */
  function keepBusy(): { stop: () => Promise<number> } {
    let done = false;
    let ran = 0;
    const loop = (async () => {
      for (let i = 0; i < 100_000 && !done; i++) {
        await client.submit({ app: "echo", payload: i });
        ran += 1;
      }
    })();
    return {
      stop: async () => {
        done = true;
        await loop;
        return ran;
      },
    };
  }

  it("top --once -o json prints one snapshot: the merged servers by load with their tasks per second, totals, and says placement p99 is not in status", async () => {
    const busy = keepBusy();
    const r = await runMain(["top", "--entry", `${a.url},${b.url}`, "--once", "-o", "json", "--interval-ms", "400"]);
    const ran = await busy.stop();
    expect(r.code, r.err).toBe(0);
    const lines = r.out.trim().split("\n");
    expect(lines).toHaveLength(1);
    const s = JSON.parse(lines[0] as string) as TopSnapshot;
    expect(s.members).toEqual([
      { entry: a.url, ok: true, node: "top-a", role: "tier2", tasksPerSec: null },
      { entry: b.url, ok: true, node: "top-b", role: "tier2", tasksPerSec: null },
    ]);
    expect(s.servers.map((x) => x.id).sort()).toEqual(["top-app1", "top-app2"]);
    for (const x of s.servers) {
      expect(x).toMatchObject({ status: "alive", failures: 0, ejected: false });
      expect([...x.seenBy].sort()).toEqual(["top-a", "top-b"]);
      expect(typeof x.completed).toBe("number");
      expect(typeof x.tasksPerSec).toBe("number");
    }
    expect(s.totals).toMatchObject({ members: 2, servers: 2, alive: 2, capacity: 6 });
    expect(ran).toBeGreaterThan(0);
    expect(s.totals.tasksPerSec).toBeGreaterThan(0);
    expect(s.totals.completed).toBeGreaterThan(0);
    expect(s.intervalMs).toBeGreaterThanOrEqual(400);
    // Placements went on between the snapshots: their p99, as a bucket bound, from the tier-2s' histograms.
    expect(s.placement.placed).toBeGreaterThan(0);
    expect(typeof s.placement.p99Ms).toBe("number");
    expect(s.errors).toEqual({ unreachable: [], failing: [], ejected: [] });
    // Sorted by utilization, highest first.
    const u = s.servers.map((x) => x.utilization);
    expect([...u].sort((p, q) => q - p)).toEqual(u);
  }, 20_000);

  it("top shows an entry that does not answer as an error and keeps the rest", async () => {
    const r = await runMain(["top", "--entry", a.url, "--entry", "ws://127.0.0.1:1", "--once", "-o", "json", "--interval-ms", "100", "--timeout-ms", "2000"]);
    expect(r.code, r.err).toBe(0);
    const s = JSON.parse(r.out) as TopSnapshot;
    expect(s.members[1]).toMatchObject({ entry: "ws://127.0.0.1:1", ok: false });
    expect(s.errors.unreachable.map((u) => u.url)).toEqual(["ws://127.0.0.1:1"]);
    expect(s.servers).toHaveLength(2);
  }, 20_000);

  it("top without a terminal prints each snapshot as lines, no escape codes, and stops after --count", async () => {
    const r = await runMain(["top", "--entry", a.url, "--count", "2", "--interval-ms", "100"]);
    expect(r.code, r.err).toBe(0);
    expect(r.out.match(/^allot top /gm)).toHaveLength(2);
    expect(r.out).not.toContain("\x1b[");
    expect(r.out).toMatch(/placement p99: (n\/a \(needs two snapshots|n\/a \(no placements|<= \d+ ms over \d+ placements)/);
    expect(r.out).toMatch(/^top-app1\s+alive\s+\d+\/4/m);
    expect(r.out).toContain("errors: none");
  }, 20_000);

  it("top at a terminal redraws the view in place: home and clear before each snapshot", async () => {
    const was = Object.getOwnPropertyDescriptor(process.stdout, "isTTY");
    Object.defineProperty(process.stdout, "isTTY", { value: true, configurable: true });
    try {
      const r = await runMain(["top", "--entry", a.url, "--count", "2", "--interval-ms", "100"]);
      expect(r.code, r.err).toBe(0);
      expect(r.out.split("\x1b[H\x1b[2J")).toHaveLength(3);
      expect(r.out.startsWith("\x1b[H\x1b[2Jallot top ")).toBe(true);
    } finally {
      if (was) Object.defineProperty(process.stdout, "isTTY", was);
      else delete (process.stdout as { isTTY?: boolean }).isTTY;
    }
  }, 20_000);

  it("top refuses bad flags with exit 2, naming the flag", async () => {
    for (const [argv, flag] of [
      [["top"], "--entry"],
      [["top", "--entry", a.url, "--interval-ms", "0"], "--interval-ms"],
      [["top", "--entry", a.url, "-o", "yaml"], "--output"],
      [["top", "--entry", a.url, "--once", "--count", "3"], "--count"],
      [["top", "--entry", "http://x"], "--entry"],
    ] as const) {
      const r = await runMain([...argv]);
      expect(r.code, argv.join(" ")).toBe(2);
      expect(r.err).toContain(flag);
    }
  });

  it("status with two entries shows each member's view and the set's merged server table", async () => {
    const r = await runMain(["status", "--entry", `${a.url},${b.url}`]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain(`== ${a.url}\nallocator top-a (tier2): 2 server(s)`);
    expect(r.out).toContain(`== ${b.url}\nallocator top-b (tier2): 2 server(s)`);
    expect(r.out).toContain("set: 2 member(s), 2 allocator(s), 2 server(s)");
    expect(r.out).toMatch(/^ {2}top-app1 .*seen by top-a,top-b$/m);
    const j = await runMain(["status", "--entry", a.url, "--entry", b.url, "-o", "json"]);
    expect(j.code, j.err).toBe(0);
    const out = JSON.parse(j.out) as { members: Array<{ entry: string; role: string; node: string; servers: unknown[] }>; servers: Array<{ id: string; seenBy: string[] }> };
    expect(out.members.map((m) => [m.entry, m.role, m.node, m.servers.length])).toEqual([
      [a.url, "tier2", "top-a", 2],
      [b.url, "tier2", "top-b", 2],
    ]);
    expect(out.servers.map((s) => [s.id, [...s.seenBy].sort()])).toEqual([
      ["top-app1", ["top-a", "top-b"]],
      ["top-app2", ["top-a", "top-b"]],
    ]);
  });

  it("status of a set with a member that does not answer says so and exits 1; one entry still prints as before", async () => {
    const r = await runMain(["status", "--entry", `${a.url},ws://127.0.0.1:1`, "--timeout-ms", "2000"]);
    expect(r.code).toBe(1);
    expect(r.out).toContain("== ws://127.0.0.1:1\n  does not answer:");
    expect(r.err).toContain("ws://127.0.0.1:1");
    const one = await runMain(["status", "--entry", a.url, "-o", "json"]);
    expect(JSON.parse(one.out)).toMatchObject({ role: "tier2", node: "top-a" });
  }, 20_000);
});

describe("placementQuantile", () => {
  const h = (counts: number[]) => ({ buckets: [1, 5, 10], counts, count: counts[3] as number, sum: 0 });
  it("takes the bucket bound the quantile falls in, over the placements between two snapshots of several allocators", () => {
    // Between the snapshots: 90 placements <= 1 ms, 9 <= 5 ms, 1 <= 10 ms over two allocators.
    const prev = [h([10, 10, 10, 10]), h([0, 0, 0, 0])];
    const cur = [h([60, 65, 66, 66]), h([40, 44, 44, 44])];
    expect(placementQuantile(cur, prev, 0.99)).toEqual({ ms: 5, placed: 100 });
    expect(placementQuantile(cur, prev, 0.5)).toEqual({ ms: 1, placed: 100 });
    expect(placementQuantile(cur, prev, 1)).toEqual({ ms: 10, placed: 100 });
  });
  it("says nothing when none were placed, and Infinity past the largest bound", () => {
    expect(placementQuantile([h([3, 3, 3, 3])], [h([3, 3, 3, 3])], 0.99)).toBeUndefined();
    expect(placementQuantile([h([0, 0, 0, 5])], [], 0.99)).toEqual({ ms: Number.POSITIVE_INFINITY, placed: 5 });
  });
});
