import type { Task } from "../protocol/index.js";
import { hash32 } from "../state/index.js";
import type { ServerEntry, ServerTable } from "../state/index.js";
import type { Policy, PolicyContext } from "./policy.js";

/** What the key is read from: the task's user, or one of the client's attributes. */
export function keyOf(task: Task, from: string): string | undefined {
  if (from === "user") return task.user;
  const v = task.clientAttrs[from.slice("attr:".length)];
  return v === undefined ? undefined : String(v);
}

/** Servers a decision reads on the ring from the key's point before it falls back. */
const RING_LOOK = 64;

const ratio = (e: ServerEntry): number => (e.load + e.reserved) / e.capacity;

/**
 * Affinity: a key (the task's user, or a client attribute) goes to the same server as long as
 * that server is there, by consistent hashing on the application's ring (in `allocate`; among
 * bare candidates, by rendezvous hashing: the highest hash of key and server id wins), so a
 * server joining or leaving moves only the keys it takes or held — about 1/n of them. A bound on
 * load keeps one hot key from overloading its server (consistent hashing with bounded loads): a
 * server may hold at most ceil(bound × (total load + 1) × its share of the capacity) tasks, and
 * one that would pass that is passed over for the next in the key's order. A task with no key,
 * or one no server has room for under the bound, goes to the least loaded server.
 */
export function createHash(from = "user", bound = 1.25): Policy {
  if (from !== "user" && !/^attr:.+$/.test(from)) throw new TypeError(`hash: key must be user or attr:NAME, got ${JSON.stringify(from)}`);
  if (!(bound >= 1) || !Number.isFinite(bound)) throw new TypeError(`hash: bound must be a number >= 1, got ${bound}`);
  const policy = {
    name: "hash",
    // The key's place on the application's ring: the first server clockwise that is eligible and
    // under the bound, with the bound taken from the application's available servers.
    locate(table: ServerTable, task: Task, _ctx: PolicyContext, eligible: (e: ServerEntry) => boolean): ServerEntry | undefined {
      const key = keyOf(task, from);
      const avail = table.available(task.app);
      if (key === undefined || !avail || avail.capacity === 0) return undefined;
      const perCapacity = (bound * (avail.used + 1)) / avail.capacity;
      let found: ServerEntry | undefined;
      // At most RING_LOOK servers from the key's point: past them (a saturated or very selective
      // fleet) the candidates' fallback decides, instead of a walk round the whole ring.
      table.ring(task.app).walk(
        hash32(key),
        (e) => {
          if (!eligible(e) || e.load + e.reserved + 1 > Math.ceil(perCapacity * e.capacity)) return true;
          found = e;
          return false;
        },
        RING_LOOK,
      );
      return found;
    },
    // Without a key, or when no server is under the bound: rendezvous hashing among the candidates.
    select(cs: readonly ServerEntry[], task: Task): ServerEntry | undefined {
      const key = keyOf(task, from);
      let load = 0;
      let capacity = 0;
      for (const e of cs) {
        load += e.load + e.reserved;
        capacity += e.capacity;
      }
      const perCapacity = (bound * (load + 1)) / capacity;
      let best: ServerEntry | undefined;
      let bestScore = -1;
      let fallback: ServerEntry | undefined;
      const k = key === undefined ? 0 : hash32(key);
      for (const e of cs) {
        if (fallback === undefined || ratio(e) < ratio(fallback)) fallback = e;
        if (key === undefined || e.load + e.reserved + 1 > Math.ceil(perCapacity * e.capacity)) continue;
        const score = hash32(e.id, k);
        if (score > bestScore) {
          best = e;
          bestScore = score;
        }
      }
      return best ?? fallback;
    },
  };
  // locate only reads the ring and the index (building either on first use is a cache): a dry run may call it.
  return { ...policy, peek: policy.locate } satisfies Policy;
}

export { hash32 };
