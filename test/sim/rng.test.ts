import { describe, expect, it } from "vitest";
import { BoundedPareto, PARETO_SERVICE, Rng } from "../../src/sim/rng.js";

function range(xs: number[]): { min: number; max: number } {
  let min = Infinity;
  let max = -Infinity;
  for (const x of xs) {
    if (x < min) min = x;
    if (x > max) max = x;
  }
  return { min, max };
}

function meanVar(xs: number[]): { mean: number; variance: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const variance = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1);
  return { mean, variance };
}

describe("sim/rng", () => {
  it("is deterministic per seed and stream, and seeds and streams differ", () => {
    const draw = (seed: number, stream: number): number[] => {
      const r = new Rng(seed, stream);
      return Array.from({ length: 8 }, () => r.nextU32());
    };
    expect(draw(1, 0)).toEqual(draw(1, 0));
    expect(draw(1, 0)).not.toEqual(draw(2, 0));
    expect(draw(1, 0)).not.toEqual(draw(1, 1));
    expect(draw(0, 0)).not.toEqual(draw(0, 1));
  });

  it("draws uniform numbers in [0, 1) with the right mean and variance", () => {
    const r = new Rng(42);
    const xs = Array.from({ length: 100_000 }, () => r.next());
    expect(range(xs).min).toBeGreaterThanOrEqual(0);
    expect(range(xs).max).toBeLessThan(1);
    const { mean, variance } = meanVar(xs);
    expect(mean).toBeCloseTo(0.5, 2);
    expect(variance).toBeCloseTo(1 / 12, 2);
    const counts = new Array<number>(10).fill(0);
    for (let i = 0; i < 100_000; i++) counts[r.int(10)]!++;
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(500);
  });

  it("samples exponentials with the mean asked for", () => {
    const r = new Rng(7);
    const { mean, variance } = meanVar(Array.from({ length: 200_000 }, () => r.exponential(3)));
    expect(mean / 3).toBeCloseTo(1, 1);
    expect(variance / 9).toBeCloseTo(1, 1);
  });

  it("samples Poisson counts with mean = variance = the mean asked for, small and large", () => {
    const r = new Rng(9);
    for (const m of [0.5, 4, 29, 30, 250]) {
      const { mean, variance } = meanVar(Array.from({ length: 50_000 }, () => r.poisson(m)));
      expect(Math.abs(mean - m) / m).toBeLessThan(0.03);
      expect(Math.abs(variance - m) / m).toBeLessThan(0.06);
    }
    expect(r.poisson(0)).toBe(0);
    expect(() => r.poisson(-1)).toThrow(RangeError);
  });

  it("samples the bounded Pareto within its bounds, with mean 1 and its second moment", () => {
    const p = PARETO_SERVICE;
    expect(p.alpha).toBe(1.5);
    expect(p.high / p.low).toBeCloseTo(1000, 6);
    const r = new Rng(3);
    const xs = Array.from({ length: 400_000 }, () => p.sample(r));
    expect(range(xs).min).toBeGreaterThanOrEqual(p.low);
    expect(range(xs).max).toBeLessThanOrEqual(p.high);
    const { mean } = meanVar(xs);
    expect(mean).toBeGreaterThan(0.97);
    expect(mean).toBeLessThan(1.03);
    // A light-tailed check of the formula: alpha 3, spread 10.
    const q = new BoundedPareto(3, 10, 2);
    const ys = Array.from({ length: 200_000 }, () => q.sample(r));
    expect(meanVar(ys).mean / 2).toBeCloseTo(1, 2);
    expect(ys.reduce((a, y) => a + y * y, 0) / ys.length / q.secondMoment()).toBeCloseTo(1, 1);
  });
});
