import { idlePower } from "../state/index.js";
import type { ServerEntry } from "../state/index.js";
import type { Policy } from "./policy.js";

/**
 * The server whose idle computing power covers the task's expected cost most tightly, so big
 * servers stay free for big tasks; when none covers it, the one with the most idle power. A task
 * without a cost fits anywhere: the least idle server takes it (packing).
 */
export const bestFit: Policy = {
  name: "best-fit",
  select(cs, task) {
    const cost = task.cost ?? 0;
    let fit: ServerEntry | undefined;
    let fitIdle = Infinity;
    let roomiest: ServerEntry | undefined;
    let roomiestIdle = -1;
    for (const e of cs) {
      const idle = idlePower(e);
      if (idle >= cost && idle < fitIdle) {
        fit = e;
        fitIdle = idle;
      }
      if (idle > roomiestIdle) {
        roomiest = e;
        roomiestIdle = idle;
      }
    }
    return fit ?? roomiest;
  },
};
