import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { DEFAULT_RETRY_BUDGET, RetryBudget } from "../../src/state/index.js";

describe("state/retry-budget", () => {
  describe("RetryBudget", () => {
    it("never grants more than burst + ratio × requests + minPerSecond × elapsed (property)", () => {
      const event = fc.record({ dt: fc.integer({ min: 0, max: 2000 }), retry: fc.boolean() });
      const opts = fc.record({ ratio: fc.double({ min: 0, max: 1, noNaN: true }), minPerSecond: fc.double({ min: 0, max: 50, noNaN: true }), burst: fc.integer({ min: 1, max: 200 }) });
      fc.assert(
        fc.property(opts, fc.array(event, { maxLength: 500 }), (o, events) => {
          const b = new RetryBudget(o, 0);
          let now = 0;
          let requests = 0;
          let granted = 0;
          for (const e of events) {
            now += e.dt;
            if (e.retry) granted += b.tryRetry(now) ? 1 : 0;
            else {
              b.request(now);
              requests++;
            }
          }
          expect(granted).toBeLessThanOrEqual(o.burst + o.ratio * requests + (o.minPerSecond * now) / 1000 + 1e-9);
          expect(b.granted).toBe(granted);
        }),
      );
    });

    it("refuses once the burst is spent, and grants again as requests and time refill it", () => {
      const b = new RetryBudget({ ratio: 0.2, minPerSecond: 10, burst: 3 }, 0);
      expect([b.tryRetry(0), b.tryRetry(0), b.tryRetry(0), b.tryRetry(0)]).toEqual([true, true, true, false]);
      expect(b.refused).toBe(1);
      for (let i = 0; i < 5; i++) b.request(0); // 5 × 0.2 = one retry
      expect(b.tryRetry(0)).toBe(true);
      expect(b.tryRetry(0)).toBe(false);
      expect(b.tryRetry(100)).toBe(true); // 100 ms at 10/s
      expect(b.available(10_000)).toBe(3); // capped at the burst
    });

    it("earns nothing from a clock that steps back", () => {
      const b = new RetryBudget({ ratio: 0, minPerSecond: 10, burst: 1 }, 1000);
      expect(b.tryRetry(1000)).toBe(true);
      expect(b.tryRetry(0)).toBe(false);
      expect(b.tryRetry(1000)).toBe(false);
    });

    it("refuses options that would not bound retries", () => {
      expect(() => new RetryBudget({ ...DEFAULT_RETRY_BUDGET, ratio: 1.5 }, 0)).toThrow(RangeError);
      expect(() => new RetryBudget({ ...DEFAULT_RETRY_BUDGET, burst: 0 }, 0)).toThrow(RangeError);
      expect(() => new RetryBudget({ ...DEFAULT_RETRY_BUDGET, minPerSecond: Infinity }, 0)).toThrow(RangeError);
    });
  });
});
