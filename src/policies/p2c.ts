import type { ServerEntry, ServerTable } from "../state/index.js";
import type { Task } from "../protocol/index.js";
import { hasPreferences } from "./has-preferences.js";
import type { Policy, PolicyContext } from "./policy.js";
import { drawPlaces, sampleEligible, walkEligible } from "./sample.js";
import type { Screen } from "./screen.js";
import { expectedDelay } from "./shortest-delay.js";

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

/** The sampled server with the least expected delay; ties to the one drawn first. */
function leastDelay(picks: readonly ServerEntry[]): ServerEntry | undefined {
  let best: ServerEntry | undefined;
  let bestD = Infinity;
  for (const e of picks) {
    const d = expectedDelay(e);
    if (d < bestD) {
      best = e;
      bestD = d;
    }
  }
  return best;
}

/**
 * Power of d choices: d distinct servers drawn uniformly at random among all the eligible ones
 * (offering the application, alive, meeting the hard constraints, a free slot), the one with the
 * least expected delay, (load + reserved + 1) / power, taken — the shortest queue on a
 * homogeneous fleet. It reads d servers, not all, so allocators with stale views do not herd onto
 * the same idle ones. The draws come from the application's available servers
 * (`ServerTable.available`, `FreeIndex.sample`), so a decision costs O(d) at any fleet size
 * unless eligible servers are rare (`sampleEligible`). A task with soft preferences is sampled
 * among `allocate`'s best-scoring candidates instead.
 */
export function createP2c(d = 2): Policy {
  if (!Number.isInteger(d) || d < 1) throw new TypeError(`p2c: d must be an integer >= 1, got ${d}`);
  const picks: ServerEntry[] = [];
  const places: number[] = [];
  const indices: number[] = [];
  const locate = (table: ServerTable, task: Task, ctx: PolicyContext, eligible: (e: ServerEntry) => boolean, screen?: Screen): ServerEntry | undefined => {
    if (hasPreferences(task)) return undefined;
    const index = table.available(task.app);
    if (index === undefined) return undefined;
    if (screen !== undefined) {
      // The delays from the index's rows: only the server taken is read.
      if (drawPlaces(index, d, ctx.random, screen, places) === d) {
        let best = places[0] as number;
        let bestD = index.delayAt(best);
        for (let k = 1; k < d; k++) {
          const h = places[k] as number;
          const delay = index.delayAt(h);
          if (delay < bestD) {
            best = h;
            bestD = delay;
          }
        }
        return index.at(best);
      }
      const walked = leastDelay(walkEligible(index, d, ctx.random, eligible, picks));
      picks.length = 0;
      return walked;
    }
    const best = leastDelay(sampleEligible(index, d, ctx.random, eligible, picks));
    picks.length = 0;
    return best;
  };
  return {
    name: "p2c",
    samples: true,
    locate,
    // locate only reads the table (and draws from ctx.random): a dry run may call it.
    peek: locate,
    select(cs, _task, ctx) {
      sampleIndices(cs.length, d, ctx.random, indices);
      for (const k of indices) picks.push(cs[k] as ServerEntry);
      const best = leastDelay(picks);
      picks.length = 0;
      return best;
    },
  };
}
