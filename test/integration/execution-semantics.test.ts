import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AllotError, startNode } from "../../src/index.js";
import type { RunningApp, RunningClient, RunningNode, TaskResult } from "../../src/index.js";
import type { Handler } from "../../src/actors/runtime/handlers.js";
import { eventually } from "../helpers/raw-client.js";
import { trackNodes } from "../helpers/nodes.js";

// Execution semantics: one run per (client, key) on one server incarnation (single flight), a
// repeat placed on the server that had the key while it lives (allocators' key memory, shared by
// peers), and a run elsewhere only once that server is dead (at-least-once).

const track = trackNodes();
const common = { logLevel: "silent" as const };

/** Handlers that record every run, by server: `count` answers at once, `gated` when the gate opens, `naps` after `payload` ms. */
function recorder() {
  const runs: Array<{ server: string; key: string }> = [];
  let open: () => void = () => {};
  let gate = new Promise<void>((r) => (open = r));
  const handlersFor = (server: string): Record<string, Handler> => ({
    count: (_p, task) => {
      runs.push({ server, key: task.key });
      return { server, n: runs.length };
    },
    gated: async (_p, task) => {
      runs.push({ server, key: task.key });
      const n = runs.length;
      await gate;
      return { server, n };
    },
    /** Waits for the gate, or fails as soon as its run is aborted. */
    abortable: async (_p, task) => {
      runs.push({ server, key: task.key });
      const n = runs.length;
      await new Promise<void>((resolve, reject) => {
        void gate.then(resolve);
        task.signal.addEventListener("abort", () => reject(new Error("aborted")), { once: true });
      });
      return { server, n };
    },
    naps: async (p, task) => {
      runs.push({ server, key: task.key });
      const n = runs.length;
      await new Promise((r) => setTimeout(r, typeof p === "number" ? p : 0));
      return { server, n };
    },
  });
  return {
    runs,
    handlersFor,
    of: (key: string) => runs.filter((r) => r.key === key),
    release() {
      open();
      gate = new Promise<void>((r) => (open = r));
    },
  };
}

type Rec = ReturnType<typeof recorder>;

async function app(rec: Rec, id: string, join: string[]): Promise<RunningApp> {
  return track(startNode({ ...common, role: "app", id, apps: ["count", "gated", "naps", "abortable"], capacity: 8, power: 1, join, workers: 0, handlers: rec.handlersFor(id) }));
}

const alive = (n: RunningNode): number => (n.stats().servers as Array<{ status: string }>).filter((s) => s.status === "alive").length;
const shared = (a: RunningApp): number => Number(a.stats().shared ?? 0);
const keysReceived = (n: RunningNode): number => Number((n.stats().keyMemory as { received?: number } | undefined)?.received ?? 0);

describe("execution semantics", () => {
  describe("single flight at the app server", () => {
    it("runs concurrent submits of one key once: the duplicates wait for the first run and share its result", async () => {
      const rec = recorder();
      const t2 = await track(startNode({ ...common, role: "tier2" }));
      const a = await app(rec, "a1", [t2.url]);
      await eventually(() => alive(t2) === 1, 5000, "the server to register");
      const client = await track(startNode({ ...common, role: "client", entries: [t2.url] }));
      const submits = Array.from({ length: 5 }, () => client.submit({ app: "gated", key: "same", timeoutMs: 20_000 }));
      // Every duplicate reached the server and waits on the first run before the gate opens.
      await eventually(() => shared(a) === 4 || rec.runs.length > 1, 10_000, "the duplicates to reach the server");
      rec.release();
      const results = await Promise.all(submits);
      expect(rec.of("same")).toHaveLength(1);
      expect(new Set(results.map((r) => JSON.stringify(r.result))).size).toBe(1);
      expect(results.filter((r) => r.cached)).toHaveLength(4);
    });
  });

  describe("a first run cancelled by its client", () => {
    it("sends the duplicate waiting on it to place again, and the key's next run answers it", async () => {
      const rec = recorder();
      const t2 = await track(startNode({ ...common, role: "tier2" }));
      const a = await app(rec, "a1", [t2.url]);
      await eventually(() => alive(t2) === 1, 5000, "the server to register");
      const client = await track(startNode({ ...common, role: "client", entries: [t2.url] }));
      const cancel = new AbortController();
      const first = client.submit({ app: "abortable", key: "c", signal: cancel.signal, timeoutMs: 20_000 }).then(
        () => "completed",
        (e: unknown) => (e instanceof AllotError ? e.code : String(e)),
      );
      await eventually(() => rec.of("c").length === 1, 5000, "the first run to start");
      const second = client.submit({ app: "abortable", key: "c", timeoutMs: 20_000 });
      await eventually(() => shared(a) === 1, 5000, "the duplicate to wait on the first run");
      cancel.abort();
      expect(await first).toBe("CANCELLED");
      // The duplicate places again and runs the key itself.
      await eventually(() => rec.of("c").length === 2, 10_000, "the key's second run");
      rec.release();
      expect(await second).toMatchObject({ cached: false, result: { n: 2 } });
    });
  });

  describe("keys are a client's own", () => {
    it("runs the same key of two clients twice: one client's key never reads another's result", async () => {
      const rec = recorder();
      const t2 = await track(startNode({ ...common, role: "tier2" }));
      await app(rec, "a1", [t2.url]);
      await eventually(() => alive(t2) === 1, 5000, "the server to register");
      const c1 = await track(startNode({ ...common, role: "client", id: "c1", entries: [t2.url] }));
      const c2 = await track(startNode({ ...common, role: "client", id: "c2", entries: [t2.url] }));
      const [r1, r2] = await Promise.all([c1.submit({ app: "count", key: "k" }), c2.submit({ app: "count", key: "k" })]);
      expect(rec.of("k")).toHaveLength(2);
      expect([r1.cached, r2.cached]).toEqual([false, false]);
    });
  });

  describe("key memory at the allocators", () => {
    it("places a repeat of a key on the server that had it, across a set of peered tier-2s: 10 sequential submits, one run", async () => {
      const rec = recorder();
      const t2a = await track(startNode({ ...common, role: "tier2", id: "t2a" }));
      const t2b = await track(startNode({ ...common, role: "tier2", id: "t2b", peers: [t2a.url] }));
      await app(rec, "a1", [t2a.url, t2b.url]);
      await app(rec, "a2", [t2a.url, t2b.url]);
      await eventually(() => alive(t2a) === 2 && alive(t2b) === 2 && t2a.stats().syncLinks === 1 && t2b.stats().syncLinks === 1, 5000, "the servers to register and the tier-2s to link");
      // The client has both tier-2s (a repeat of a key goes through the entry the key last went
      // through, while it is connected; another client's instance reaches the other member, below).
      const client = await track(startNode({ ...common, role: "client", entries: [t2a.url, t2b.url] }));
      const first = await client.submit({ app: "count", key: "k" });
      // The placement reached the other tier-2 (it travels beside the client's run, not after it).
      await eventually(() => keysReceived(t2a) + keysReceived(t2b) >= 1, 5000, "the peer to hear of the key");
      const rest: TaskResult[] = [];
      for (let i = 0; i < 9; i++) rest.push(await client.submit({ app: "count", key: "k" }));
      expect(rec.of("k")).toHaveLength(1);
      expect(rest.every((r) => r.serverId === first.serverId && r.cached && JSON.stringify(r.result) === JSON.stringify(first.result))).toBe(true);
    });

    it("hands its whole key memory to a peer that connects later, which places the repeat where the key went", async () => {
      const rec = recorder();
      const t2a = await track(startNode({ ...common, role: "tier2", id: "t2a" }));
      await app(rec, "a1", [t2a.url]);
      await app(rec, "a2", [t2a.url]);
      await eventually(() => alive(t2a) === 2, 5000, "the servers to register");
      const c1 = await track(startNode({ ...common, role: "client", id: "c1", entries: [t2a.url] }));
      const first = await c1.submit({ app: "count", key: "late" });
      // A second tier-2 joins the set: the servers' entries and the key memory come with the link.
      const t2b = await track(startNode({ ...common, role: "tier2", id: "t2b", peers: [t2a.url] }));
      await eventually(() => alive(t2b) === 2 && keysReceived(t2b) >= 1, 5000, "the new tier-2 to sync");
      const viaB = await track(startNode({ ...common, role: "client", id: "c1", entries: [t2b.url] }));
      const again = await viaB.submit({ app: "count", key: "late" });
      expect(again).toMatchObject({ serverId: first.serverId, cached: true });
      expect(rec.of("late")).toHaveLength(1);
    });

    it("places a repeat on the server that had the key through masters too (grant and indicate)", async () => {
      for (const assign of ["grant", "indicate"] as const) {
        const rec = recorder();
        const m1 = await track(startNode({ ...common, role: "master", id: `m1-${assign}`, assign }));
        const m2 = await track(startNode({ ...common, role: "master", id: `m2-${assign}`, assign, peers: [m1.url] }));
        const join = [m1.url, m2.url];
        await app(rec, `${assign}-a1`, join);
        await app(rec, `${assign}-a2`, join);
        const slaves = await Promise.all((["proxy", "direct"] as const).map((link) => track(startNode({ ...common, role: "slave", id: `${assign}-s-${link}`, masters: join, link }))));
        const both = (m: RunningNode): boolean => alive(m) === 2 && (m.stats().slaves as Array<{ status: string }>).filter((s) => s.status === "alive").length === slaves.length && m.stats().syncLinks === 1;
        await eventually(() => both(m1) && both(m2), 5000, "servers and slaves to register, and the masters to link");
        const client: RunningClient = await track(startNode({ ...common, role: "client", entries: join }));
        const first = await client.submit({ app: "count", key: `k-${assign}` });
        await eventually(() => keysReceived(m1) + keysReceived(m2) >= 1, 5000, "the peer to hear of the key");
        for (let i = 0; i < 7; i++) expect((await client.submit({ app: "count", key: `k-${assign}` })).serverId).toBe(first.serverId);
        expect(rec.of(`k-${assign}`)).toHaveLength(1);
      }
    });

    it("runs a key again elsewhere once the server that had it is dead (at-least-once)", async () => {
      const rec = recorder();
      const t2 = await track(startNode({ ...common, role: "tier2" }));
      const apps = new Map([
        ["a1", await app(rec, "a1", [t2.url])],
        ["a2", await app(rec, "a2", [t2.url])],
      ]);
      await eventually(() => alive(t2) === 2, 5000, "the servers to register");
      const client = await track(startNode({ ...common, role: "client", entries: [t2.url] }));
      const first = await client.submit({ app: "count", key: "k" });
      // The server that had it stops; its link closes, and the allocator marks it dead.
      await apps.get(first.serverId)?.stop();
      await eventually(() => alive(t2) === 1, 5000, "the allocator to see the server gone");
      const again = await client.submit({ app: "count", key: "k" });
      expect(again.cached).toBe(false);
      expect(again.serverId).not.toBe(first.serverId);
      expect(rec.of("k").map((r) => r.server)).toEqual([first.serverId, again.serverId]);
    });
  });

  describe("any interleaving of duplicates", () => {
    it("runs a key once on one server incarnation, whatever the order and timing of its duplicates (property)", async () => {
      const rec = recorder();
      const t2 = await track(startNode({ ...common, role: "tier2" }));
      await app(rec, "a1", [t2.url]);
      await app(rec, "a2", [t2.url]);
      await eventually(() => alive(t2) === 2, 5000, "the servers to register");
      const client = await track(startNode({ ...common, role: "client", entries: [t2.url] }));
      let n = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 12 }), { minLength: 1, maxLength: 6 }), fc.integer({ min: 0, max: 25 }), async (gaps, napMs) => {
          const key = `p${++n}`;
          const submits: Array<Promise<TaskResult>> = [];
          for (const gap of gaps) {
            if (gap > 0) await new Promise((r) => setTimeout(r, gap));
            submits.push(client.submit({ app: "naps", key, payload: napMs, timeoutMs: 20_000 }));
          }
          const results = await Promise.all(submits);
          expect(rec.of(key)).toHaveLength(1);
          expect(new Set(results.map((r) => JSON.stringify(r.result))).size).toBe(1);
          expect(new Set(results.map((r) => r.serverId)).size).toBe(1);
        }),
        { numRuns: 25 },
      );
    });
  });
});
