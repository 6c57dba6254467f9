import type { ServerEntry } from "../state/index.js";
import { hasPreferences } from "./has-preferences.js";
import type { Policy } from "./policy.js";
import { sampleByPower } from "./sample.js";

/**
 * Random in proportion to computing power: every eligible server (offering the application,
 * alive, meeting the hard constraints, a free slot) is chosen with probability its power over
 * the eligible servers' total, so a power-4 server gets 4× a power-1's share. Drawn from the
 * application's available servers by rejection against the highest power among its servers
 * (`ServerTable.maxPower`, `sampleByPower`). A task with soft preferences: the same rule among
 * `allocate`'s best-scoring candidates.
 */
export const weighted: Policy = {
  name: "weighted",
  samples: true,
  locate(table, task, ctx, eligible, screen) {
    if (hasPreferences(task)) return undefined;
    const index = table.available(task.app);
    return index === undefined ? undefined : sampleByPower(index, table.maxPower(task.app), ctx.random, eligible, screen);
  },
  // locate only reads the table (and draws from ctx.random): a dry run may call it.
  peek(table, task, ctx, eligible, screen) {
    return weighted.locate?.(table, task, ctx, eligible, screen);
  },
  select(cs, _task, ctx) {
    let total = 0;
    for (const e of cs) total += e.power;
    // Powers near Number.MAX_VALUE sum to Infinity, and every draw would then land on the last: scaled down, the shares stand.
    const scale = total === Infinity ? 2 ** -64 : 1;
    if (scale !== 1) {
      total = 0;
      for (const e of cs) total += e.power * scale;
    }
    let at = ctx.random() * total;
    let last: ServerEntry | undefined;
    for (const e of cs) {
      last = e;
      at -= e.power * scale;
      if (at < 0) return e;
    }
    return last; // rounding left `at` a hair above 0
  },
};
