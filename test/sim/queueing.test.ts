import { describe, expect, it } from "vitest";
import { DEFAULT_TASK_MS, makeWorkload, runPolicy } from "../../src/sim/index.js";
import { meanFieldResponse, uniformChoices } from "./uniform-choices.js";

const MS = DEFAULT_TASK_MS; // mean service time at power 1

describe("sim against queueing results", () => {
  it("one power-1 server with exponential sizes is M/M/1: every row's mean is 1/(μ − λ), within 3% at load 0.5 and 4% at 0.8", () => {
    // As `allot sim --servers 1 --powers 1`: with one server every row is the same queue.
    const w = makeWorkload({ servers: 1, allocators: 1, tasks: 300_000, service: "exp", seed: 1, powerChoices: [1] });
    for (const [load, tolerance] of [[0.5, 0.03], [0.8, 0.04]] as const) {
      const expected = MS / (1 - load);
      for (const spec of ["oracle", "random", "least-loaded"]) {
        const r = runPolicy(w, spec, { load, warmup: 0, warmMs: 20 * MS });
        // Over seeds 1–6 the mean lands within 0.6% (load 0.5) and 1.5% (0.8) of the formula.
        expect(Math.abs(r.meanMs - expected) / expected, `${spec} at ${load}`).toBeLessThan(tolerance);
      }
    }
  });

  it("one server with deterministic sizes is M/D/1: the mean is Pollaczek–Khinchine's 1/μ + λE[S²]/(2(1 − ρ)), within 3% at 0.5 and 4% at 0.8", () => {
    const w = makeWorkload({ servers: 1, allocators: 1, tasks: 200_000, service: "det", seed: 2, powerChoices: [1] });
    expect(w.sizes.every((s) => s === 1)).toBe(true);
    for (const [load, tolerance] of [[0.5, 0.03], [0.8, 0.04]] as const) {
      const expected = MS * (1 + load / (2 * (1 - load))); // E[S²] = MS²
      const r = runPolicy(w, "random", { load, warmup: 0, warmMs: 20 * MS });
      // Over seeds 1–6: within 0.6% and 1.7%.
      expect(Math.abs(r.meanMs - expected) / expected, `load ${load}`).toBeLessThan(tolerance);
    }
  });

  it("a warm start removes the empty start's bias from a short run at high load", () => {
    // 20 tasks per server at load 0.95: from empty, the queues have not filled when the run ends.
    const expected = MS * meanFieldResponse(0.95, 2);
    const w = makeWorkload({ servers: 1000, allocators: 1, tasks: 20_000, service: "exp", seed: 1, powerChoices: [1] });
    const cold = runPolicy(w, uniformChoices(2), { load: 0.95, delayMs: 0, warmup: 0 });
    const warm = runPolicy(w, uniformChoices(2), { load: 0.95, delayMs: 0, warmup: 0, warmMs: 80 * MS });
    // Seeds 1–4: cold 2,141–2,385 ms, warm (80 task times) 3,100–3,470 ms, the limit 3,383 ms.
    expect(cold.meanMs).toBeLessThan(0.8 * expected);
    expect(Math.abs(warm.meanMs - expected) / expected).toBeLessThan(0.1);
    expect(cold.warmTasks).toBe(0);
    // 80 s of arrivals at 950 tasks/s, none measured; the run's own tasks are all measured.
    expect(warm.warmTasks).toBeGreaterThan(0.95 * 76_000);
    expect(warm.warmTasks).toBeLessThan(1.05 * 76_000);
    expect(warm.measured).toBe(20_000);
  });

  it("draws the warm-up from streams of its own: one that brings no task only shifts the run in time", () => {
    const w = makeWorkload({ servers: 4, allocators: 2, tasks: 5000, service: "exp", seed: 3 });
    const shifted = runPolicy(w, "least-loaded", { load: 0.7, warmMs: 0.001 });
    const plain = runPolicy(w, "least-loaded", { load: 0.7 });
    expect(shifted.warmTasks).toBe(0);
    // The same tasks, sizes and decisions, 0.001 ms later: equal response times up to rounding.
    expect(shifted.measured).toBe(plain.measured);
    expect(shifted.meanMs).toBeCloseTo(plain.meanMs, 6);
    expect(shifted.p99Ms).toBeCloseTo(plain.p99Ms, 6);
    expect(() => runPolicy(w, "oracle", { load: 0.7, warmMs: -1 })).toThrow(RangeError);
  });

  it("holds only the tasks in flight: a run of many tasks per server recycles their slots", () => {
    const w = makeWorkload({ servers: 100, allocators: 2, tasks: 200_000, service: "exp", seed: 4 });
    const r = runPolicy(w, "shortest-delay", { load: 0.9 });
    expect(r.measured).toBe(180_000);
    expect(r.peakTasks).toBeLessThan(2000); // about 100 × the mean queue, not 200,000
    // A run length per run: fewer tasks than the workload's, the same first ones.
    const short = runPolicy(w, "oracle", { load: 0.9, tasks: 1000, warmup: 0 });
    expect(short.measured).toBe(1000);
    expect(short.ran.reduce((a, n) => a + n, 0)).toBe(1000);
  });
});
