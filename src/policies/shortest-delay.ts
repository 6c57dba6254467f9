import type { Task } from "../protocol/index.js";
import type { ServerEntry, ServerTable } from "../state/index.js";
import type { AllocatorIdentity } from "./home-servers.js";
import { HomeServers } from "./home-servers.js";
import { hasPreferences } from "./has-preferences.js";
import type { Policy, PolicyContext } from "./policy.js";

/**
 * A task's expected delay on `e`, in mean tasks' work at power 1: the tasks ahead of it (running,
 * queued and reserved) plus itself, over the server's power.
 */
export function expectedDelay(e: ServerEntry): number {
  return (e.load + e.reserved + 1) / e.power;
}

/** Servers a decision reads, shortest expected delay first, when the allocator is alone. */
export const SHORTEST_DELAY_LOOK = 32;
/** In an allocator set, home servers a decision reads before it stops. */
export const HOME_LOOK = 8;
/** In an allocator set, a decision reads at most this many times `look` servers to find home ones. */
export const HOME_READS = 8;
/** How much shorter (in expected delay) another member's server must be to be taken over a home server. */
export const SHORTEST_DELAY_MARGIN = 1;


/**
 * Shortest expected delay, (load + reserved + 1) / power, with home servers.
 *
 * Alone (no allocator identity in the context, or a set of one) it takes the server with the
 * shortest expected delay. In an allocator set, each server is one member's home (rendezvous
 * hashing over the members' ids, see `ownerOf`), and an allocator takes its best home server
 * unless another member's is shorter by more than `margin` (in mean tasks' work at power 1).
 * Allocators whose views lag each other's decisions then mostly fill disjoint servers instead of
 * all rushing to the same idle ones, and each sees its own servers' queues exactly but for
 * completions not yet reported. The margin spills work over when an allocator's home servers
 * are busy: more tasks reach it than its share, or its servers have less power than others'.
 *
 * It reads the table's expected-delay order (`ServerTable.availableByDelay`) from the shortest:
 * `look` servers alone; in a set, until it has read HOME_LOOK home servers or `look` × HOME_READS
 * servers (another member's servers look shorter than they are, since their owner's reservations
 * are not in this view, so they come first). A decision's cost therefore does not grow with the
 * fleet. A task with soft preferences goes through `allocate`'s scoring instead: the same rule
 * among the `look` candidates gathered there.
 */
export function createShortestDelay(look = SHORTEST_DELAY_LOOK, margin = SHORTEST_DELAY_MARGIN, homeLook = HOME_LOOK, homeReads = HOME_READS): Policy {
  if (!Number.isInteger(look) || look < 1) throw new TypeError(`shortest-delay: look must be an integer >= 1, got ${look}`);
  if (!(margin >= 0)) throw new TypeError(`shortest-delay: margin must be a number >= 0, got ${margin}`);
  const home = new HomeServers();
  // The decision in progress; kept here so that the visit callback allocates nothing.
  let me: AllocatorIdentity | undefined;
  let best: ServerEntry | undefined;
  let bestD = Infinity;
  let own: ServerEntry | undefined;
  let ownD = Infinity;
  let read = 0;
  let homes = 0;
  const start = (who: AllocatorIdentity | undefined): void => {
    me = who !== undefined && who.members.length > 1 ? who : undefined;
    best = own = undefined;
    bestD = ownD = Infinity;
    read = homes = 0;
  };
  const consider = (e: ServerEntry): void => {
    const d = expectedDelay(e);
    if (d < bestD) {
      best = e;
      bestD = d;
    }
    if (me !== undefined && home.isHome(e, me)) {
      homes++;
      if (d < ownD) {
        own = e;
        ownD = d;
      }
    }
  };
  const choice = (): ServerEntry | undefined => (own !== undefined && ownD <= bestD + margin ? own : best);
  const locate = (table: ServerTable, task: Task, ctx: PolicyContext, eligible: (e: ServerEntry) => boolean): ServerEntry | undefined => {
    if (hasPreferences(task)) return undefined;
    start(ctx.allocator);
    const cap = me === undefined ? look : look * homeReads;
    table.availableByDelay(task.app)?.visit((e) => {
      if (!eligible(e)) return true;
      consider(e);
      read++;
      return read < cap && (me === undefined || homes < homeLook);
    });
    const pick = choice();
    best = own = undefined;
    return pick;
  };
  return {
    name: "shortest-delay",
    candidates: look,
    order: "delay",
    locate,
    // locate reads the table's delay order and changes nothing in it: a dry run may call it.
    peek: locate,
    select(cs, _task, ctx) {
      start(ctx.allocator);
      for (const e of cs) consider(e);
      const pick = choice();
      best = own = undefined;
      return pick;
    },
  };
}
