import type { ServerEntry } from "../state/index.js";
import type { Policy, PolicyContext } from "./policy.js";

const ratio = (e: ServerEntry): number => (e.load + e.reserved) / e.capacity;

/**
 * `d` distinct indices below `n`, drawn with `random` (all of them when n <= d), written into
 * `out`. Exported so that tests can see which servers a decision sampled.
 */
export function sampleIndices(n: number, d: number, random: () => number, out: number[]): number[] {
  out.length = 0;
  if (n <= d) {
    for (let i = 0; i < n; i++) out.push(i);
    return out;
  }
  while (out.length < d) {
    const k = Math.floor(random() * n) % n;
    if (!out.includes(k)) out.push(k);
  }
  return out;
}

/**
 * Power of d choices: sample d candidates at random, take the least loaded of them. Nearly as
 * good as least-loaded, reading d servers instead of all, and with less herding when views are
 * stale.
 */
export function createP2c(d = 2): Policy {
  if (!Number.isInteger(d) || d < 1) throw new TypeError(`p2c: d must be an integer >= 1, got ${d}`);
  const picks: number[] = [];
  return {
    name: "p2c",
    select(cs, _task, ctx: PolicyContext) {
      sampleIndices(cs.length, d, ctx.random, picks);
      let best: ServerEntry | undefined;
      for (const k of picks) {
        const e = cs[k] as ServerEntry;
        if (best === undefined || ratio(e) < ratio(best)) best = e;
      }
      return best;
    },
  };
}
