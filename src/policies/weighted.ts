import type { ServerEntry } from "../state/index.js";
import type { Policy } from "./policy.js";

/** Random, each candidate as likely as its computing power: a power-4 server gets 4× a power-1's share. */
export const weighted: Policy = {
  name: "weighted",
  select(cs, _task, ctx) {
    let total = 0;
    for (const e of cs) total += e.power;
    let at = ctx.random() * total;
    let last: ServerEntry | undefined;
    for (const e of cs) {
      last = e;
      at -= e.power;
      if (at < 0) return e;
    }
    return last; // rounding left `at` a hair above 0
  },
};
