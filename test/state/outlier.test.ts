import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DEFAULT_OUTLIER, decayed, eject, ejectionMs, freshFailures, mayEject, newOutlierState, observeFailures, release, shouldEject, validateOutlier } from "../../src/state/index.js";
import type { OutlierConfig } from "../../src/state/index.js";

const config: fc.Arbitrary<OutlierConfig> = fc
  .record({ ejectAfter: fc.integer({ min: 1, max: 20 }), ejectMs: fc.integer({ min: 1, max: 100_000 }), times: fc.integer({ min: 1, max: 20 }), maxEjectedPercent: fc.integer({ min: 0, max: 100 }) })
  .map(({ times, ...c }) => ({ ...c, maxEjectMs: c.ejectMs * times }));

describe("state/outlier", () => {
  describe("validateOutlier", () => {
    it("accepts the defaults and refuses nonsense", () => {
      expect(() => validateOutlier(DEFAULT_OUTLIER)).not.toThrow();
      expect(() => validateOutlier({ ...DEFAULT_OUTLIER, ejectAfter: -1 })).toThrow(RangeError);
      expect(() => validateOutlier({ ...DEFAULT_OUTLIER, ejectMs: 0 })).toThrow(RangeError);
      expect(() => validateOutlier({ ...DEFAULT_OUTLIER, maxEjectMs: DEFAULT_OUTLIER.ejectMs - 1 })).toThrow(RangeError);
      expect(() => validateOutlier({ ...DEFAULT_OUTLIER, maxEjectedPercent: 101 })).toThrow(RangeError);
    });
  });

  describe("mayEject", () => {
    it("never lets more than floor(fleet × percent / 100) be ejected at once (fast-check)", () => {
      fc.assert(
        fc.property(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: 100 }), (fleet, percent) => {
          let ejected = 0;
          while (ejected <= fleet && mayEject(fleet, ejected, percent)) ejected++;
          expect(ejected).toBe(Math.floor((fleet * percent) / 100));
        }),
      );
    });

    it("never ejects a last server at the default share", () => {
      expect(mayEject(1, 0, DEFAULT_OUTLIER.maxEjectedPercent)).toBe(false);
      expect(mayEject(2, 0, DEFAULT_OUTLIER.maxEjectedPercent)).toBe(true);
      expect(mayEject(2, 1, DEFAULT_OUTLIER.maxEjectedPercent)).toBe(false);
    });
  });

  describe("ejectionMs", () => {
    it("grows with each ejection and never passes the cap (fast-check)", () => {
      fc.assert(
        fc.property(config, fc.integer({ min: 1, max: 50 }), (c, n) => {
          expect(ejectionMs(n + 1, c)).toBeGreaterThanOrEqual(ejectionMs(n, c));
          expect(ejectionMs(n, c)).toBeLessThanOrEqual(c.maxEjectMs);
          expect(ejectionMs(n, c)).toBe(Math.min(c.maxEjectMs, n * c.ejectMs));
        }),
      );
    });
  });

  describe("eject and release", () => {
    it("a server that keeps failing is ejected for growing, capped intervals and returns after each (fast-check)", () => {
      fc.assert(
        fc.property(config, fc.integer({ min: 1, max: 12 }), fc.integer({ min: 0, max: 1_000_000 }), (c, rounds, t0) => {
          const s = newOutlierState();
          let now = t0;
          let reported = 0;
          let last = 0;
          for (let i = 0; i < rounds; i++) {
            // Fails ejectAfter - 1 runs: not yet.
            reported += c.ejectAfter - 1;
            observeFailures(s, reported, now, c);
            expect(shouldEject(s, reported, c)).toBe(false);
            reported++;
            observeFailures(s, reported, now, c);
            expect(shouldEject(s, reported, c)).toBe(true);
            const until = eject(s, reported, now, c);
            const length = until - now;
            expect(length).toBeGreaterThanOrEqual(last); // back at once: no decay between
            expect(length).toBeLessThanOrEqual(c.maxEjectMs);
            last = length;
            // Ejected: not released a moment early, nor ejected twice.
            expect(shouldEject(s, reported + c.ejectAfter, c)).toBe(false);
            expect(release(s, until - 1)).toBe(false);
            expect(release(s, until)).toBe(true);
            expect(s.ejectedUntil).toBe(0);
            // The count it reports still: the old failures are used up.
            expect(freshFailures(s, reported)).toBe(0);
            now = until;
          }
        }),
      );
    });

    it("a success between (the count falls) lets the next streak count from 0", () => {
      const c = { ...DEFAULT_OUTLIER, ejectAfter: 3 };
      const s = newOutlierState();
      eject(s, 7, 0, c);
      release(s, s.ejectedUntil);
      observeFailures(s, 2, s.since, c);
      expect(freshFailures(s, 2)).toBe(2);
      observeFailures(s, 3, s.since, c);
      expect(shouldEject(s, 3, c)).toBe(true);
    });

    it("the count of ejections decays by one per ejectMs back in selection", () => {
      const c = { ...DEFAULT_OUTLIER, ejectMs: 100, maxEjectMs: 1000 };
      const s = newOutlierState();
      for (let i = 0; i < 3; i++) {
        eject(s, 0, s.since, c);
        release(s, s.ejectedUntil);
      }
      expect(s.ejections).toBe(3);
      expect(decayed(s, s.since + 99, c)).toBe(3);
      expect(decayed(s, s.since + 100, c)).toBe(2);
      expect(decayed(s, s.since + 10_000, c)).toBe(0);
      const t = s.since + 250;
      expect(eject(s, 0, t, c) - t).toBe(100 * 2); // 3, less 2 decayed, plus this one
    });

    it("ejectAfter 0 never ejects", () => {
      expect(shouldEject(newOutlierState(), 1_000_000, { ...DEFAULT_OUTLIER, ejectAfter: 0 })).toBe(false);
    });
  });
});
