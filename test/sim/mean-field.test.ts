import { describe, expect, it } from "vitest";
import { makeWorkload, runPolicy } from "../../src/sim/index.js";
import { runMain } from "../helpers/capture.js";
import { meanFieldResponse, uniformChoices } from "./uniform-choices.js";

// 1,000 homogeneous servers, one allocator with a fresh view: the setting of the mean-field limit.
const SERVERS = 1000;
const LOADS = [0.5, 0.9, 0.95];
const SEEDS = [1, 2];
const TASKS = 300_000;
/** Tolerance on the mean over SEEDS: at 1,000 servers and 300 tasks per server the seeds' means land within 1.5% of the limit (4% for one seed at 0.95). */
const TOLERANCE = 0.03;
const TASK_MS = 1000;

describe("sim against the mean-field limit of d random choices", () => {
  it.each([2, 3])("a uniform d=%i stand-in matches s_i = λ^((d^i − 1)/(d − 1)) within 3% up to load 0.95", (d) => {
    for (const load of LOADS) {
      let sum = 0;
      for (const seed of SEEDS) {
        const w = makeWorkload({ servers: SERVERS, allocators: 1, tasks: TASKS, service: "exp", seed, powerChoices: [1], taskMs: TASK_MS });
        const r = runPolicy(w, uniformChoices(d), { load, delayMs: 0, warmup: 0, warmMs: 20 * TASK_MS });
        expect(r.policy).toBe(`uniform-choices:d=${d}`);
        expect(r.measured).toBe(TASKS);
        sum += r.meanMs;
      }
      const expected = TASK_MS * meanFieldResponse(load, d);
      expect(Math.abs(sum / SEEDS.length - expected) / expected, `d=${d} load ${load}`).toBeLessThan(TOLERANCE);
    }
  });

  it("allot sim --powers 1 --allocators 1 --delay-ms 0 --policy p2c,p2c:d=3 matches the limit within 3% up to load 0.95", async () => {
    const sums = new Map<string, number>();
    for (const seed of SEEDS) {
      const argv = ["sim", "--servers", String(SERVERS), "--powers", "1", "--allocators", "1", "--delay-ms", "0", "--policy", "p2c,p2c:d=3", "--load", LOADS.join(","), "--tasks", String(TASKS), "--warm-start", "--seed", String(seed), "--json"];
      const r = await runMain(argv);
      expect(r.code).toBe(0);
      for (const line of r.out.trimEnd().split("\n")) {
        const { load, policies } = JSON.parse(line) as { load: number; policies: Array<{ policy: string; meanMs: number }> };
        for (const p of policies) sums.set(`${p.policy}@${load}`, (sums.get(`${p.policy}@${load}`) ?? 0) + p.meanMs);
      }
    }
    for (const [policy, d] of [["p2c", 2], ["p2c:d=3", 3]] as const) {
      for (const load of LOADS) {
        const mean = (sums.get(`${policy}@${load}`) as number) / SEEDS.length;
        const expected = TASK_MS * meanFieldResponse(load, d);
        expect(Math.abs(mean - expected) / expected, `${policy} at load ${load}: ${mean.toFixed(1)} ms against ${expected.toFixed(1)} ms`).toBeLessThan(TOLERANCE);
      }
    }
  });

  it("computes the limit: d=2 at load 0.9 is 2.6141 service times, and d=1 would be M/M/1's 1/(1 − λ)", () => {
    expect(meanFieldResponse(0.9, 2)).toBeCloseTo(2.6141, 3);
    // d → 1 is not defined by the formula; its d=1 limit, s_i = λ^i, sums to λ/(1 − λ).
    let s = 0;
    for (let i = 1; i < 2000; i++) s += Math.pow(0.9, i);
    expect(s / 0.9).toBeCloseTo(1 / (1 - 0.9), 6);
  });
});
