import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BoundedMap } from "../../src/actors/runtime/bounded-map.js";

const keysIn = <K>(m: BoundedMap<K, unknown>, candidates: readonly K[]): K[] => candidates.filter((k) => m.has(k));

describe("actors/bounded-map", () => {
  describe("BoundedMap", () => {
    it.each([0, -1, 1.5, NaN])("throws a RangeError for max %s", (max) => {
      expect(() => new BoundedMap<string, number>(max)).toThrow(RangeError);
    });
  });

  describe("BoundedMap.set", () => {
    it("keeps every entry up to the bound", () => {
      const m = new BoundedMap<string, number>(3);
      m.set("a", 1).set("b", 2).set("c", 3);
      expect(m.size).toBe(3);
      expect([m.get("a"), m.get("b"), m.get("c")]).toEqual([1, 2, 3]);
    });

    it("forgets the oldest entry when a new key goes past the bound", () => {
      const m = new BoundedMap<string, number>(2);
      m.set("a", 1).set("b", 2).set("c", 3);
      expect(m.size).toBe(2);
      expect(m.has("a")).toBe(false);
      expect(m.get("a")).toBeUndefined();
      expect(keysIn(m, ["a", "b", "c"])).toEqual(["b", "c"]);
    });

    it("updates an existing key at the bound without forgetting anything", () => {
      const m = new BoundedMap<string, number>(2);
      m.set("a", 1).set("b", 2).set("a", 10);
      expect(m.size).toBe(2);
      expect([m.get("a"), m.get("b")]).toEqual([10, 2]);
    });

    it("forgets by insertion order, so an updated key is still the oldest", () => {
      const m = new BoundedMap<string, number>(2);
      m.set("a", 1).set("b", 2).set("a", 10).set("c", 3);
      expect(keysIn(m, ["a", "b", "c"])).toEqual(["b", "c"]);
    });

    it("holds one entry with a bound of 1", () => {
      const m = new BoundedMap<string, number>(1);
      m.set("a", 1).set("b", 2);
      expect(m.size).toBe(1);
      expect(keysIn(m, ["a", "b"])).toEqual(["b"]);
    });

    it("keeps exactly the newest max distinct keys, with their latest values (property)", () => {
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 6 }), fc.array(fc.tuple(fc.integer({ min: 0, max: 9 }), fc.nat()), { maxLength: 60 }), (max, writes) => {
          const m = new BoundedMap<number, number>(max);
          const order: number[] = []; // distinct keys by first insertion since last eviction
          const latest = new Map<number, number>();
          for (const [k, v] of writes) {
            m.set(k, v);
            if (!order.includes(k)) {
              order.push(k);
              if (order.length > max) latest.delete(order.shift() as number);
            }
            latest.set(k, v);
            expect(m.size).toBeLessThanOrEqual(max);
          }
          expect(m.size).toBe(latest.size);
          for (let k = 0; k <= 9; k++) expect(m.get(k)).toBe(latest.get(k));
        }),
        { numRuns: 200 },
      );
    });
  });
});
