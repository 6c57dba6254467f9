import type { Policy, PolicyContext } from "../../src/policies/index.js";
import type { ServerEntry, ServerTable } from "../../src/state/index.js";
import type { Task } from "../../src/protocol/index.js";
import type { PolicySpec } from "../../src/sim/index.js";

/**
 * A stand-in for power-of-d-choices as the literature defines it: d servers drawn uniformly at
 * random among every server offering the application (ineligible draws rejected, a bounded
 * number of tries), the one with the least expected delay (load + reserved + 1) / power taken.
 * The mean-field test checks the simulator with it, independently of how the registered `p2c`
 * gathers its candidates.
 */
export function uniformChoices(d: number): PolicySpec {
  return {
    name: `uniform-choices:d=${d}`,
    create(): Policy {
      const locate = (table: ServerTable, task: Task, ctx: PolicyContext, eligible: (e: ServerEntry) => boolean): ServerEntry | undefined => {
        const all = table.offering(task.app);
        let best: ServerEntry | undefined;
        let bestDelay = Infinity;
        for (let tries = 0, got = 0; got < d && tries < 8 * d && all.length > 0; tries++) {
          const e = all[Math.floor(ctx.random() * all.length)] as ServerEntry;
          if (!eligible(e)) continue;
          got++;
          const delay = (e.load + e.reserved + 1) / e.power;
          if (delay < bestDelay) {
            best = e;
            bestDelay = delay;
          }
        }
        return best;
      };
      return { name: "uniform-choices", locate, peek: locate, select: (cs, _task, ctx) => cs[Math.floor(ctx.random() * cs.length)] };
    },
  };
}

/**
 * The mean-field limit of d uniform choices on homogeneous exponential servers of rate 1
 * (Mitzenmacher): the share of queues holding at least i tasks is s_i = λ^((d^i − 1)/(d − 1)),
 * and by Little's law the mean response time is (1/λ) Σ_{i≥1} s_i, in mean service times.
 */
export function meanFieldResponse(load: number, d: number): number {
  let sum = 0;
  for (let i = 1; i <= 64; i++) {
    const s = Math.pow(load, (Math.pow(d, i) - 1) / (d - 1));
    sum += s;
    if (s < 1e-15) break;
  }
  return sum / load;
}
