import { describe, expect, it } from "vitest";
import { DEFAULT_SUPERVISION, createBudget } from "../../src/actors/runtime/supervision.js";
import type { SupervisionStrategy } from "../../src/actors/runtime/supervision.js";

/** A clock the test moves by hand. */
function fakeClock(start = 0): { now: () => number; set: (t: number) => void } {
  let t = start;
  return { now: () => t, set: (x) => void (t = x) };
}

const strategy = (maxRestarts: number, withinMs: number): SupervisionStrategy => ({ name: "one-for-one", maxRestarts, withinMs });
const boom = new Error("boom");

describe("actors/supervision", () => {
  describe("createBudget", () => {
    it("resumes up to maxRestarts crashes within the window", () => {
      const clock = fakeClock();
      const decide = createBudget(strategy(3, 1000), clock.now);
      for (const t of [0, 10, 20]) {
        clock.set(t);
        expect(decide(boom)).toBe("resume");
      }
    });

    it("gives up on the crash past maxRestarts within the window", () => {
      const clock = fakeClock();
      const decide = createBudget(strategy(3, 1000), clock.now);
      for (const t of [0, 10, 20]) {
        clock.set(t);
        decide(boom);
      }
      clock.set(999);
      expect(decide(boom)).toBe("give-up");
    });

    it("gives up on the first crash when maxRestarts is 0", () => {
      expect(createBudget(strategy(0, 1000), () => 0)(boom)).toBe("give-up");
    });

    it("forgets crashes older than withinMs", () => {
      const clock = fakeClock();
      const decide = createBudget(strategy(2, 1000), clock.now);
      clock.set(0);
      decide(boom);
      clock.set(500);
      decide(boom);
      clock.set(1000); // the crash at 0 is now a full window old
      expect(decide(boom)).toBe("resume");
      clock.set(1499);
      expect(decide(boom)).toBe("give-up"); // 500, 1000, 1499
      clock.set(5000);
      expect(decide(boom)).toBe("resume");
    });

    it("keeps resuming a steady trickle of crashes spaced wider than the window", () => {
      const clock = fakeClock();
      const decide = createBudget(strategy(1, 100), clock.now);
      for (let t = 0; t < 10_000; t += 100) {
        clock.set(t);
        expect(decide(boom)).toBe("resume");
      }
    });

    it("reads the clock once per crash and not at creation", () => {
      let reads = 0;
      const decide = createBudget(strategy(1, 100), () => {
        reads++;
        return 0;
      });
      expect(reads).toBe(0);
      decide(boom);
      expect(reads).toBe(1);
    });

    it("accepts the default strategy", () => {
      expect(createBudget(DEFAULT_SUPERVISION, () => 0)(boom)).toBe("resume");
    });

    it.each<[string, SupervisionStrategy]>([
      ["negative maxRestarts", strategy(-1, 1000)],
      ["fractional maxRestarts", strategy(1.5, 1000)],
      ["NaN maxRestarts", strategy(NaN, 1000)],
      ["infinite maxRestarts", strategy(Infinity, 1000)],
      ["zero withinMs", strategy(3, 0)],
      ["negative withinMs", strategy(3, -5)],
      ["NaN withinMs", strategy(3, NaN)],
    ])("throws a RangeError for %s", (what, s) => {
      expect(() => createBudget(s, () => 0)).toThrow(RangeError);
      expect(() => createBudget(s, () => 0)).toThrow(what.includes("maxRestarts") ? /maxRestarts/ : /withinMs/);
    });
  });
});
