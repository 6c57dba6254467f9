import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { AttrEntry } from "../../src/protocol/index.js";
import { AttrTable, TableFullError, compareStamp } from "../../src/state/index.js";

const entryArb: fc.Arbitrary<AttrEntry> = fc.record({
  id: fc.constantFrom("a", "b", "c"),
  attrs: fc.dictionary(fc.constantFrom("region", "gpu", "tier"), fc.oneof(fc.string({ maxLength: 4 }), fc.integer(), fc.boolean()), { maxKeys: 3 }),
  version: fc.tuple(fc.integer({ min: 0, max: 20 }), fc.constantFrom("n1", "n2", "n3")),
});

const snapshot = (t: AttrTable): AttrEntry[] => [...t.all()].sort((x, y) => (x.id < y.id ? -1 : 1));
function mergedFrom(entries: readonly AttrEntry[]): AttrTable {
  const t = new AttrTable();
  for (const e of entries) t.merge(e);
  return t;
}

describe("state/attr-table", () => {
  describe("AttrTable.set", () => {
    it("merges keys into the entry and stamps it after anything seen", () => {
      const t = new AttrTable();
      const first = t.set("c1", { region: "eu" }, 100, "n1");
      const second = t.set("c1", { gpu: true }, 50, "n1");
      expect(second.attrs).toEqual({ region: "eu", gpu: true });
      expect(compareStamp(second.version, first.version)).toBe(1);
    });
  });

  describe("AttrTable.unset", () => {
    it("removes keys from the entry and stamps it after anything seen", () => {
      const t = new AttrTable();
      const first = t.set("c1", { region: "eu", gpu: true }, 100, "n1");
      const after = t.unset("c1", ["gpu", "absent"], 50, "n2");
      expect(after?.attrs).toEqual({ region: "eu" });
      expect(compareStamp(after?.version ?? [0, ""], first.version)).toBe(1);
      expect(t.get("c1")).toEqual({ region: "eu" });
    });

    it("keeps an entry with no attributes left, so the removal wins over an older copy", () => {
      const t = new AttrTable();
      const old = t.set("c1", { region: "eu" }, 100, "n1");
      const removed = t.unset("c1", ["region"], 200, "n1");
      const peer = new AttrTable();
      peer.merge(old);
      expect(removed && peer.merge(removed)).toBe(true);
      expect(peer.merge(old)).toBe(false);
      expect(peer.get("c1")).toEqual({});
    });

    it("changes nothing for an unknown entry", () => {
      const t = new AttrTable();
      expect(t.unset("nobody", ["region"], 1, "n1")).toBeUndefined();
      expect(t.size).toBe(0);
    });
  });

  describe("AttrTable.merge", () => {
    it("converges to the same table whatever order, duplication or grouping the entries arrive in (property)", () => {
      // Equal stamps with different contents cannot happen (a stamp names its writer), so one entry per stamp.
      const uniqueArb = fc.uniqueArray(entryArb, { maxLength: 12, selector: (e) => `${e.id}/${e.version[0]}/${e.version[1]}` });
      const caseArb = uniqueArb.chain((es) =>
        fc.tuple(fc.constant(es), fc.shuffledSubarray([...es, ...es], { minLength: es.length * 2, maxLength: es.length * 2 }), fc.nat({ max: es.length })),
      );
      fc.assert(
        fc.property(caseArb, ([unique, reordered, cut]) => {
          const reference = snapshot(mergedFrom(unique));
          // Another order, every entry twice.
          expect(snapshot(mergedFrom(reordered))).toEqual(reference);
          // Grouping: merging one table into another equals merging everything at once.
          const left = mergedFrom(unique.slice(0, cut));
          for (const e of mergedFrom(unique.slice(cut)).all()) left.merge(e);
          expect(snapshot(left)).toEqual(reference);
        }),
        { numRuns: 200 },
      );
    });

    it("never lowers an entry's stamp (property)", () => {
      fc.assert(
        fc.property(fc.array(entryArb, { maxLength: 12 }), (entries) => {
          const t = new AttrTable();
          const best = new Map<string, AttrEntry["version"]>();
          for (const e of entries) {
            t.merge(e);
            const b = best.get(e.id);
            if (!b || compareStamp(e.version, b) > 0) best.set(e.id, e.version);
            for (const [id, v] of best) expect(compareStamp(t.all().find((x) => x.id === id)?.version ?? [0, ""], v)).toBe(0);
          }
        }),
        { numRuns: 200 },
      );
    });
  });
});

describe("state/AttrTable size", () => {
  it("refuses a new id past its cap, still updates the ids it holds, and skips a peer's new entry while full", () => {
    const t = new AttrTable(2);
    t.set("a", { x: 1 }, 1, "n");
    t.set("b", { x: 1 }, 1, "n");
    expect(() => t.set("c", { x: 1 }, 1, "n")).toThrow(TableFullError);
    expect(t.set("a", { y: 2 }, 2, "n").attrs).toEqual({ x: 1, y: 2 });
    expect(t.merge({ id: "d", attrs: {}, version: [9, "peer"] })).toBe(false);
    expect(t.size).toBe(2);
  });
});
