import { idlePower } from "../state/index.js";
import type { ServerEntry } from "../state/index.js";
import type { Task } from "../protocol/index.js";
import { DEFAULT_CANDIDATES } from "./allocate.js";
import { hasPreferences } from "./has-preferences.js";
import type { Policy } from "./policy.js";

/**
 * Eligible servers a decision reads, fullest first, for the tightest fit: as many as the other
 * policies gather, so it costs what they do at any fleet size. (At 64 a decision at 100,000
 * servers cost twice one at 100, where fewer than 64 are eligible.)
 */
const FIT_LOOK = DEFAULT_CANDIDATES;

/**
 * The server whose idle computing power covers the task's expected cost most tightly, so big
 * servers stay free for big tasks; when none covers it, the one with the most idle power. A task
 * without a cost fits anywhere: the least idle server takes it (packing). It reads the
 * application's servers fullest first (up to 32 eligible ones), so it packs at any fleet size;
 * when none of those covers the cost, or the task has soft preferences (which only the scored
 * candidates weigh), the idlest candidates decide.
 */
export const bestFit: Policy = {
  name: "best-fit",
  locate(table, task, _ctx, eligible) {
    if (hasPreferences(task)) return undefined;
    const cost = task.cost ?? 0;
    let fit: ServerEntry | undefined;
    let fitIdle = Infinity;
    let read = 0;
    table.available(task.app)?.visit((e) => {
      if (!eligible(e)) return true;
      read++;
      const idle = idlePower(e);
      if (idle >= cost && idle < fitIdle) {
        fit = e;
        fitIdle = idle;
      }
      return read < FIT_LOOK;
    }, true);
    return fit;
  },
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

