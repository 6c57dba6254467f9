import type { Task } from "../protocol/index.js";
import { freeSlots, idlePower } from "../state/index.js";
import type { ServerEntry, ServerTable } from "../state/index.js";
import { hasPreferences } from "./has-preferences.js";
import type { AllocatorIdentity } from "./home-servers.js";
import { drawPlaces, sampleEligible, walkEligible } from "./sample.js";
import type { Screen } from "./screen.js";

/** What a policy may use besides the candidates: injected randomness and clock, and who decides. */
export interface PolicyContext {
  random(): number;
  now(): number;
  /**
   * The deciding allocator and the members of its allocator set, for policies that split the
   * servers among the members (`shortest-delay`'s home servers). Optional: without it such a
   * policy acts as if alone. An actor that passes it must pass its own id and the ids of every
   * live member of its set (itself included), the same list on every member, as a new array
   * whenever membership changes (the array may be reused between decisions while it does not).
   */
  allocator?: AllocatorIdentity;
}

/**
 * Picks one of `candidates`, every one of which already offers the task's application, meets its
 * hard constraints and has a free slot. Pure: no I/O, no clock or randomness but the context's.
 */
export interface Policy {
  readonly name: string;
  /**
   * How many eligible candidates it wants to choose among (default 32, idlest first); Infinity
   * for a policy that must see every eligible server (its decisions then cost a scan).
   */
  readonly candidates?: number;
  /**
   * The order candidates are read in: `free`, idlest first by free share of capacity (default),
   * `delay`, shortest expected delay ((load + reserved + 1) / power) first, or `idle`, most idle
   * computing power (`idlePower`) first.
   */
  readonly order?: "free" | "delay" | "idle";
  /**
   * For a policy that finds its server through the table's own indexes (hash: the key's place on
   * the application's ring) instead of among gathered candidates: the first server it likes that
   * `eligible` accepts, or undefined to fall back to choosing among candidates.
   */
  locate?(table: ServerTable, task: Task, ctx: PolicyContext, eligible: (e: ServerEntry) => boolean, screen?: Screen): ServerEntry | undefined;
  /**
   * `locate`'s answer without changing the table or the policy (a dry run: `allot explain`).
   * A policy whose `locate` only reads can pass the same function; one with `locate` and no
   * `peek` is explained as if it had no `locate` (the explanation says so).
   */
  peek?(table: ServerTable, task: Task, ctx: PolicyContext, eligible: (e: ServerEntry) => boolean, screen?: Screen): ServerEntry | undefined;
  /**
   * `locate` draws servers at random and may judge a draw by its seat before reading it: a
   * decision then passes a `Screen` (what `eligible` asks, split into the kept verdicts on the
   * task's fixed constraints and the rest), when it has one.
   */
  readonly samples?: boolean;
  select(candidates: readonly ServerEntry[], task: Task, ctx: PolicyContext): ServerEntry | undefined;
}

/**
 * Most idle computing power (power × free share of the slots), ties to the server with more free
 * slots, then the lower id. It reads the table's idle-power order, so its candidates are the
 * servers of most idle power at any fleet size: the one it takes is within one step of that
 * order (about 4.4%) of the most idle eligible server, and is it whenever fewer than 32 eligible
 * servers share the top step.
 */
export const mostIdle: Policy = {
  name: "most-idle",
  order: "idle",
  select(cs) {
    let best: ServerEntry | undefined;
    let bestIdle = -1;
    for (const e of cs) {
      const idle = idlePower(e);
      if (idle > bestIdle || (idle === bestIdle && best !== undefined && (freeSlots(e) > freeSlots(best) || (freeSlots(e) === freeSlots(best) && e.id < best.id)))) {
        best = e;
        bestIdle = idle;
      }
    }
    return best;
  },
};

/**
 * Fewest running plus reserved tasks relative to capacity. A task with an expected cost goes to
 * the least loaded of the servers whose idle power covers it, when any does.
 */
export const leastLoaded: Policy = {
  name: "least-loaded",
  select(cs, task) {
    let best: ServerEntry | undefined;
    let bestRatio = Infinity;
    let bestCovers = false;
    const cost = task.cost;
    for (const e of cs) {
      const covers = cost !== undefined && idlePower(e) >= cost;
      if (bestCovers && !covers) continue;
      const ratio = (e.load + e.reserved) / e.capacity;
      if (ratio < bestRatio || (covers && !bestCovers)) {
        best = e;
        bestRatio = ratio;
        bestCovers = covers;
      }
    }
    return best;
  },
};

// The draw of a `random` decision (one server); reused, decisions are synchronous. The place is
// written into an array that keeps its length: emptying one (`length = 0`) drops its storage, and
// the next decision's push allocated it again (150 of the 220 bytes a decision allocated).
const drawn: ServerEntry[] = [];
const place: number[] = [0];

/**
 * Uniform: every eligible server (offering the application, alive, meeting the hard constraints,
 * a free slot) equally likely, drawn from the application's available servers in O(1)
 * (`sampleEligible`). A task with soft preferences: uniform among `allocate`'s best-scoring
 * candidates.
 */
export const random: Policy = {
  name: "random",
  samples: true,
  locate(table, task, ctx, eligible, screen) {
    if (hasPreferences(task)) return undefined;
    const index = table.available(task.app);
    if (index === undefined) return undefined;
    let pick: ServerEntry | undefined;
    if (screen !== undefined) {
      // By place, as p2c draws: the entry is read only once taken.
      if (drawPlaces(index, 1, ctx.random, screen, place) === 1) return index.at(place[0] as number);
      pick = walkEligible(index, 1, ctx.random, eligible, drawn)[0];
    } else pick = sampleEligible(index, 1, ctx.random, eligible, drawn)[0];
    drawn.length = 0;
    return pick;
  },
  // locate only reads the table (and draws from ctx.random): a dry run may call it.
  peek(table, task, ctx, eligible, screen) {
    return random.locate?.(table, task, ctx, eligible, screen);
  },
  select(cs, _task, ctx) {
    return cs.length === 0 ? undefined : cs[Math.floor(ctx.random() * cs.length) % cs.length];
  },
};

/** Servers a round-robin decision reads past its cursor for an eligible one before it falls back. */
export const ROUND_ROBIN_LOOK = 256;

/**
 * Round robin over every server offering the application, in the order they joined the table:
 * each decision takes the next eligible server after the last one this instance chose (the
 * cursors, one per application, are this instance's own). It reads at most ROUND_ROBIN_LOOK
 * servers past the cursor, moving it on by that many when none is eligible; that decision, and a
 * task with soft preferences, rotates in id order over `allocate`'s candidates instead. A server
 * leaving the table shifts the order by one: the next turn may skip or repeat one server.
 */
export function createRoundRobin(): Policy {
  let last = "";
  const cursors = new Map<string, number>();
  const next = (table: ServerTable, task: Task, eligible: (e: ServerEntry) => boolean, move: boolean): ServerEntry | undefined => {
    if (hasPreferences(task)) return undefined;
    const list = table.offering(task.app);
    const n = list.length;
    if (n === 0) return undefined;
    const from = (cursors.get(task.app) ?? 0) % n;
    const look = Math.min(n, ROUND_ROBIN_LOOK);
    for (let k = 0; k < look; k++) {
      const e = list[(from + k) % n] as ServerEntry;
      if (!eligible(e)) continue;
      if (move) cursors.set(task.app, (from + k + 1) % n);
      return e;
    }
    if (move) cursors.set(task.app, (from + look) % n);
    return undefined;
  };
  return {
    name: "round-robin",
    locate: (table, task, _ctx, eligible) => next(table, task, eligible, true),
    // The same turn without moving the cursor: a dry run changes nothing.
    peek: (table, task, _ctx, eligible) => next(table, task, eligible, false),
    select(cs) {
      let nextId: ServerEntry | undefined;
      let first: ServerEntry | undefined;
      for (const e of cs) {
        if (first === undefined || e.id < first.id) first = e;
        if (e.id > last && (nextId === undefined || e.id < nextId.id)) nextId = e;
      }
      const pick = nextId ?? first;
      if (pick) last = pick.id;
      return pick;
    },
  };
}
