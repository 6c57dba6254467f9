import type { Task } from "../protocol/index.js";
import type { ServerEntry } from "../state/index.js";
import type { Policy } from "./policy.js";

/** 32-bit FNV-1a of a string, then a murmur finaliser so near keys spread apart. */
export function hash32(s: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** What the key is read from: the task's user, or one of the client's attributes. */
export function keyOf(task: Task, from: string): string | undefined {
  if (from === "user") return task.user;
  const v = task.clientAttrs[from.slice("attr:".length)];
  return v === undefined ? undefined : String(v);
}

const ratio = (e: ServerEntry): number => (e.load + e.reserved) / e.capacity;

/**
 * Affinity: a key (the task's user, or a client attribute) goes to the same server as long as
 * that server is there, by rendezvous hashing (the highest hash of key and server id wins), so a
 * server joining or leaving moves only the keys it wins or held — about 1/n of them. A bound on
 * load keeps one hot key from overloading its server (consistent hashing with bounded loads): a
 * server may hold at most ceil(bound × (total load + 1) × its share of the capacity) tasks, and
 * one that would pass that is passed over for the next in the key's order. A task with no key,
 * or one no server has room for under the bound, goes to the least loaded server.
 */
export function createHash(from = "user", bound = 1.25): Policy {
  if (from !== "user" && !/^attr:.+$/.test(from)) throw new TypeError(`hash: key must be user or attr:NAME, got ${JSON.stringify(from)}`);
  if (!(bound >= 1) || !Number.isFinite(bound)) throw new TypeError(`hash: bound must be a number >= 1, got ${bound}`);
  return {
    name: "hash",
    // Affinity needs the same view of every server whatever their load: a sample would move keys.
    candidates: Infinity,
    select(cs, task) {
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
}
