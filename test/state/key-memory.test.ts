import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { KeyMemory } from "../../src/state/index.js";

describe("state/key-memory", () => {
  describe("get", () => {
    it("answers the server a key was placed on until its window passes, then forgets it", () => {
      const m = new KeyMemory({ windowMs: 1000, maxTotal: 10, maxPerClient: 10 });
      m.set("c", "k", "s1", 0);
      expect(m.get("c", "k", 999)).toBe("s1");
      expect(m.get("c", "k", 1000)).toBeUndefined();
      expect(m.size).toBe(0);
      expect(m.counts.expired).toBe(1);
    });

    it("keeps keys apart by client", () => {
      const m = new KeyMemory({ windowMs: 1000, maxTotal: 10, maxPerClient: 10 });
      m.set("c1", "k", "s1", 0);
      expect(m.get("c2", "k", 0)).toBeUndefined();
    });

    it("never stretches a peer's placement past its own window", () => {
      const m = new KeyMemory({ windowMs: 1000, maxTotal: 10, maxPerClient: 10 });
      m.set("c", "k", "s1", 0, 86_400_000);
      expect(m.get("c", "k", 1000)).toBeUndefined();
    });
  });

  describe("bounds", () => {
    it("pushes out a client's own oldest key past its per-client bound, never another client's", () => {
      const m = new KeyMemory({ windowMs: 1000, maxTotal: 100, maxPerClient: 3 });
      m.set("other", "x", "s", 0);
      for (let i = 0; i < 10; i++) m.set("greedy", `k${i}`, "s", 0);
      expect(m.get("other", "x", 1)).toBe("s");
      expect(m.get("greedy", "k9", 1)).toBe("s");
      expect(m.get("greedy", "k6", 1)).toBeUndefined();
      expect(m.counts.evictedClient).toBe(7);
    });

    it("holds at most maxTotal and maxPerClient entries, and the newest placement of a key wins (property)", () => {
      const op = fc.record({ client: fc.constantFrom("a", "b", "c", "d"), key: fc.constantFrom("1", "2", "3", "4", "5", "6"), server: fc.constantFrom("s1", "s2"), dt: fc.integer({ min: 0, max: 300 }) });
      fc.assert(
        fc.property(fc.array(op, { maxLength: 200 }), fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 4 }), (ops, maxTotal, maxPerClient) => {
          const windowMs = 1000;
          const m = new KeyMemory({ windowMs, maxTotal, maxPerClient });
          const last = new Map<string, { server: string; at: number }>();
          let now = 0;
          for (const o of ops) {
            now += o.dt;
            m.set(o.client, o.key, o.server, now);
            last.set(`${o.client}/${o.key}`, { server: o.server, at: now });
            expect(m.size).toBeLessThanOrEqual(maxTotal);
            const perClient = new Map<string, number>();
            for (const e of m.entries(now)) perClient.set(e.client, (perClient.get(e.client) ?? 0) + 1);
            for (const n of perClient.values()) expect(n).toBeLessThanOrEqual(maxPerClient);
          }
          // Whatever it still remembers is the newest placement, within its window.
          for (const [k, v] of last) {
            const [client, key] = k.split("/") as [string, string];
            const got = m.get(client, key, now);
            if (got !== undefined) expect(got).toBe(v.server);
            if (now - v.at >= windowMs) expect(got).toBeUndefined();
          }
          m.sweep(now + windowMs);
          expect(m.size).toBe(0);
        }),
      );
    });
  });
});
