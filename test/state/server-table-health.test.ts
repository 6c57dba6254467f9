import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { allocate, policyNames, resolvePolicy } from "../../src/policies/index.js";
import { DEFAULT_OUTLIER, ServerTable, freeSlots } from "../../src/state/index.js";
import type { OutlierConfig, ServerEntry } from "../../src/state/index.js";
import { report, seededCtx, task } from "../helpers/policy.js";

const OUTLIER: OutlierConfig = { ...DEFAULT_OUTLIER, ejectAfter: 3, ejectMs: 1000, maxEjectMs: 5000 };

function entry(t: ServerTable, id: string): ServerEntry {
  const e = t.get(id);
  if (!e) throw new Error(`no entry ${id}`);
  return e;
}

/** Every server `allocate` would choose for `app`, by draining the table's free slots (reservations released after). */
function selectable(t: ServerTable, policy = "least-loaded"): Set<string> {
  const got: ServerEntry[] = [];
  const p = resolvePolicy(policy);
  for (let i = 0; i < 1000; i++) {
    const a = allocate(t, task(), p, seededCtx(i), Infinity);
    if (!a.ok) break;
    got.push(a.server);
  }
  for (const e of got) t.release(e);
  return new Set(got.map((e) => e.id));
}

describe("state/server-table (outlier ejection and slow start)", () => {
  describe("ServerTable.apply with failures", () => {
    it("ejects a server whose reported failures reach ejectAfter, and no policy selects it", () => {
      const t = new ServerTable({ outlier: OUTLIER });
      t.apply(report({ id: "a" }), 0);
      t.apply(report({ id: "b" }), 0);
      t.apply(report({ id: "b", version: [1, 2], failures: 2 }), 10);
      expect(entry(t, "b").limit).toBe(4);
      t.apply(report({ id: "b", version: [1, 3], failures: 3 }), 20);
      expect(entry(t, "b").limit).toBe(0);
      expect(freeSlots(entry(t, "b"))).toBeLessThanOrEqual(0);
      expect(t.ejectedCount).toBe(1);
      for (const name of policyNames()) expect([...selectable(t, name)], name).toEqual(["a"]);
    });

    it("never ejects more than maxEjectedPercent of an application's live servers (fast-check)", () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 8 }),
          fc.integer({ min: 0, max: 100 }),
          fc.array(fc.record({ server: fc.nat(7), failures: fc.nat(10), advance: fc.nat(1500) }), { maxLength: 80 }),
          (n, percent, steps) => {
            const t = new ServerTable({ outlier: { ...OUTLIER, maxEjectedPercent: percent } });
            const seq = new Map<string, number>();
            let now = 0;
            for (let i = 0; i < n; i++) t.apply(report({ id: `s${i}` }), now);
            for (const s of steps) {
              const id = `s${s.server % n}`;
              const v = (seq.get(id) ?? 1) + 1;
              seq.set(id, v);
              now += s.advance;
              t.tick(now);
              t.apply(report({ id, version: [1, v], failures: s.failures }), now);
              expect(t.ejectedCount).toBeLessThanOrEqual(Math.floor((n * percent) / 100));
              const ejected = [...t.all()].filter((e) => e.outlier.ejectedUntil !== 0);
              expect(ejected.length).toBe(t.ejectedCount);
              for (const e of ejected) expect(e.limit).toBe(0);
            }
          },
        ),
      );
    });
  });

  describe("ServerTable.tick", () => {
    it("returns an ejected server when its interval passes, with a ramp; a new streak ejects it for longer", () => {
      const t = new ServerTable({ outlier: OUTLIER, slowStartMs: 1000 });
      t.apply(report({ id: "a" }), 0);
      t.apply(report({ id: "b" }), 0);
      t.apply(report({ id: "b", version: [1, 2], failures: 3 }), 100);
      expect(entry(t, "b").outlier.ejectedUntil).toBe(1100);
      t.tick(1099);
      expect(entry(t, "b").limit).toBe(0);
      t.tick(1100);
      expect(entry(t, "b").outlier.ejectedUntil).toBe(0);
      expect(entry(t, "b").limit).toBe(1); // the start of its ramp
      expect(selectable(t).has("b")).toBe(true);
      t.tick(1600);
      expect(entry(t, "b").limit).toBe(2);
      t.tick(2100);
      expect(entry(t, "b").limit).toBe(4);
      // Still failing (each failure restarts the decay): the same count is used up; three more eject it again, for 2 × ejectMs.
      t.apply(report({ id: "b", version: [1, 3], failures: 4 }), 1900);
      t.apply(report({ id: "b", version: [1, 4], failures: 5 }), 2600);
      expect(entry(t, "b").outlier.ejectedUntil).toBe(0);
      t.apply(report({ id: "b", version: [1, 5], failures: 6 }), 3300);
      expect(entry(t, "b").outlier.ejectedUntil).toBe(3300 + 2000);
      // Back, and healthy (a success, then no failure) for 2 × ejectMs: the count has decayed to 0, so the next ejection is 1 × again.
      t.tick(5300);
      t.apply(report({ id: "b", version: [1, 6], failures: 0 }), 5400);
      t.apply(report({ id: "b", version: [1, 7], failures: 3 }), 7400);
      expect(entry(t, "b").outlier.ejectedUntil).toBe(7400 + 1000);
    });

    it("a new incarnation of an ejected server is back at once, with a ramp", () => {
      const t = new ServerTable({ outlier: OUTLIER, slowStartMs: 1000 });
      t.apply(report({ id: "a" }), 0);
      t.apply(report({ id: "b" }), 0);
      t.apply(report({ id: "b", version: [1, 2], failures: 3 }), 100);
      t.apply(report({ id: "b", version: [2, 1] }), 200);
      expect(t.ejectedCount).toBe(0);
      expect(entry(t, "b").limit).toBe(1);
    });
  });

  describe("slow start", () => {
    it("does not ramp the servers a table first fills with, ramps one that comes back, and gives it its capacity at the window's end", () => {
      const t = new ServerTable({ slowStartMs: 1000 });
      t.apply(report({ id: "a", capacity: 10 }), 0);
      t.apply(report({ id: "b", capacity: 10 }), 500);
      expect(entry(t, "b").limit).toBe(10);
      t.setStatus("b", "dead", 600);
      t.apply(report({ id: "b", capacity: 10, version: [1, 2] }), 2000);
      expect(entry(t, "b").limit).toBe(1);
      let last = 1;
      for (let now = 2000; now <= 3000; now += 100) {
        t.tick(now);
        const limit = entry(t, "b").limit;
        expect(limit).toBeGreaterThanOrEqual(last);
        expect(limit).toBeLessThanOrEqual(10);
        last = limit;
      }
      expect(last).toBe(10);
      // Out of the ramp set: its limit follows its capacity from now on.
      t.apply(report({ id: "b", capacity: 12, version: [1, 3] }), 3100);
      expect(entry(t, "b").limit).toBe(12);
    });

    it("a server new to a table past its first window ramps: it gets no more than its limit while another has room, and its capacity once every other is full", () => {
      const t = new ServerTable({ slowStartMs: 1000 });
      t.apply(report({ id: "a", capacity: 4 }), 0);
      t.apply(report({ id: "c", capacity: 4 }), 5000);
      expect(entry(t, "c").limit).toBe(1);
      for (const name of policyNames()) {
        const p = resolvePolicy(name);
        const got: string[] = [];
        for (let i = 0; i < 9; i++) {
          const a = allocate(t, task(), p, seededCtx(i), Infinity);
          got.push(a.ok ? a.server.id : "refused");
        }
        // The first five: "a" fills, "c" holds its ramp's 1; then "c" takes what "a" cannot, up to its capacity.
        expect(got.slice(0, 5).filter((id) => id === "c"), name).toHaveLength(1);
        expect(got.slice(5), name).toEqual(["c", "c", "c", "refused"]);
        for (const e of [entry(t, "a"), entry(t, "c")]) while (e.reserved > 0) t.release(e);
      }
    });
  });
});
