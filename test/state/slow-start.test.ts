import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { rampLimit, validateSlowStart } from "../../src/state/index.js";

describe("state/slow-start", () => {
  describe("rampLimit", () => {
    const args = fc.record({ capacity: fc.integer({ min: 1, max: 10_000 }), windowMs: fc.integer({ min: 1, max: 600_000 }), a: fc.integer({ min: -1000, max: 700_000 }), b: fc.integer({ min: -1000, max: 700_000 }) });

    it("gives at least 1 and never more than the capacity (fast-check)", () => {
      fc.assert(
        fc.property(args, ({ capacity, windowMs, a }) => {
          const n = rampLimit(capacity, a, windowMs);
          expect(Number.isInteger(n)).toBe(true);
          expect(n).toBeGreaterThanOrEqual(1);
          expect(n).toBeLessThanOrEqual(capacity);
        }),
      );
    });

    it("is non-decreasing in time (fast-check)", () => {
      fc.assert(
        fc.property(args, ({ capacity, windowMs, a, b }) => {
          const [early, late] = a <= b ? [a, b] : [b, a];
          expect(rampLimit(capacity, early, windowMs)).toBeLessThanOrEqual(rampLimit(capacity, late, windowMs));
        }),
      );
    });

    it("grows linearly from 1 and reaches the capacity at the window's end (fast-check)", () => {
      fc.assert(
        fc.property(args, ({ capacity, windowMs }) => {
          expect(rampLimit(capacity, windowMs, windowMs)).toBe(capacity);
          if (capacity > 1 && windowMs > 1) expect(rampLimit(capacity, 0, windowMs)).toBe(1);
          // Linear: within one slot of capacity × elapsed / window all along.
          for (const share of [0.1, 0.25, 0.5, 0.9]) {
            const at = Math.floor(windowMs * share);
            expect(Math.abs(rampLimit(capacity, at, windowMs) - (capacity * at) / windowMs)).toBeLessThanOrEqual(1);
          }
        }),
      );
    });

    it("a window of 0 gives the whole capacity at once", () => {
      expect(rampLimit(8, 0, 0)).toBe(8);
    });
  });

  describe("validateSlowStart", () => {
    it("refuses a negative or fractional window", () => {
      expect(() => validateSlowStart(0)).not.toThrow();
      expect(() => validateSlowStart(-1)).toThrow(RangeError);
      expect(() => validateSlowStart(1.5)).toThrow(RangeError);
    });
  });
});
