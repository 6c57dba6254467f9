import type { FreeIndex, ServerEntry } from "../state/index.js";
import { passes } from "./screen.js";
import type { Screen } from "./screen.js";

/**
 * Draws per server wanted before a decision gives up sampling and walks the application's
 * available servers instead. When 1 in 10 of them are eligible, p2c (128 draws for 2) walks about
 * once in 100,000 decisions; at 1 in 30, about one in ten; rarer eligible servers mean a walk
 * nearly every time, which reads them all (and still picks by the rule).
 */
export const SAMPLE_TRIES = 64;

// The walk in progress; module state so that its visit callback is made once, not per decision.
let want = 0;
let seen = 0;
let totalWeight = 0;
/** The walk's weights are its servers' powers times this: 1, lowered by RESCALE each time the sum would overflow. */
let scale = 1;
/** What the walk's sum and weights are multiplied by when the sum would overflow (finite powers near Number.MAX_VALUE sum to Infinity). */
const RESCALE = 2 ** -64;
let draw: () => number = Math.random;
const never = (): boolean => false;
let ok: (e: ServerEntry) => boolean = never;
let into: ServerEntry[] = [];
let chosen: ServerEntry | undefined;

// Algorithm R: after k eligible servers, `into` is a uniform `want`-subset of them.
const reservoir = (e: ServerEntry): boolean => {
  if (!ok(e)) return true;
  seen++;
  if (into.length < want) into.push(e);
  else {
    const j = Math.floor(draw() * seen);
    if (j < want) into[j] = e;
  }
  return true;
};

// One server, each as likely as its power among the eligible servers read so far.
const weightedReservoir = (e: ServerEntry): boolean => {
  if (!ok(e)) return true;
  let w = e.power * scale;
  if (!(w > 0)) return true;
  if (totalWeight + w === Infinity) {
    // Two powers near Number.MAX_VALUE: an infinite total would keep every later server out.
    totalWeight *= RESCALE;
    scale *= RESCALE;
    w *= RESCALE;
  }
  totalWeight += w;
  if (draw() * totalWeight < w) chosen = e;
  return true;
};

/**
 * Up to `d` distinct places of `index` whose entries are eligible by `screen`, drawn uniformly
 * (the ineligible and repeats rejected) for up to SAMPLE_TRIES × d draws, written into `out`;
 * returns how many. Fewer than `d`: the draws ran out (eligible servers are rare, or fewer than
 * `d`) and the caller walks (`walkEligible`). Reads no entry whose verdict is kept, unless the
 * screen's `rest` needs it: a policy reads what it needs of the places from the index's rows.
 */
export function drawPlaces(index: FreeIndex<ServerEntry>, d: number, random: () => number, screen: Screen, out: number[]): number {
  // Fewer held than wanted: no draws can find `d`, the caller walks.
  if (d > index.size) return 0;
  let n = 0;
  const tries = SAMPLE_TRIES * d;
  for (let t = 0; t < tries && n < d; t++) {
    const h = index.pick(random);
    if (h < 0) return 0;
    if (!passes(index, h, screen)) continue;
    let fresh = true;
    for (let k = 0; k < n; k++) if (out[k] === h) fresh = false;
    if (fresh) out[n++] = h;
  }
  return n;
}

/**
 * `d` distinct servers drawn uniformly at random among the eligible ones in `index` (all of
 * them when fewer than `d` are), written into `out` in the order drawn. Uniform draws from the
 * index, the ineligible and repeats rejected, for up to SAMPLE_TRIES × d draws; past that a walk
 * of the index (reservoir sampling). Either way every `d`-subset of the eligible servers is
 * equally likely: the draws treat every eligible server alike, so given that they succeed their
 * outcome is uniform, and so is the walk's. A decision then costs O(d) unless eligible servers
 * are rare, when it costs a walk of the application's available servers. With a `screen` (which
 * must ask what `eligible` asks), the draws are `drawPlaces`'s.
 */
export function sampleEligible(index: FreeIndex<ServerEntry>, d: number, random: () => number, eligible: (e: ServerEntry) => boolean, out: ServerEntry[], screen?: Screen): ServerEntry[] {
  out.length = 0;
  if (screen !== undefined) {
    const n = drawPlaces(index, d, random, screen, places);
    if (n === d) {
      for (let k = 0; k < n; k++) out.push(index.at(places[k] as number));
      return out;
    }
    return walkEligible(index, d, random, eligible, out);
  }
  // Fewer held than wanted: no draws can find `d`, so walk at once.
  const tries = d > index.size ? 0 : SAMPLE_TRIES * d;
  for (let t = 0; t < tries && out.length < d; t++) {
    const e = index.sample(random);
    if (e === undefined) return out;
    if (eligible(e) && !out.includes(e)) out.push(e);
  }
  if (out.length === d) return out;
  return walkEligible(index, d, random, eligible, out);
}

// The places of one decision's draws; reused, decisions are synchronous.
const places: number[] = [];

/** `d` distinct eligible servers of `index` (all when fewer are), uniformly, by one walk of it (reservoir sampling), into `out`. */
export function walkEligible(index: FreeIndex<ServerEntry>, d: number, random: () => number, eligible: (e: ServerEntry) => boolean, out: ServerEntry[]): ServerEntry[] {
  out.length = 0;
  want = d;
  seen = 0;
  draw = random;
  ok = eligible;
  into = out;
  index.visit(reservoir);
  into = [];
  ok = never; // hold no decision's closure past it
  // Algorithm R keeps the subset uniform but not its order (the first places go to the servers
  // read first, the idlest): shuffled, so that a caller taking the first of equals (p2c's ties)
  // takes each of them alike, as after the draws.
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1)) % (i + 1);
    const x = out[i] as ServerEntry;
    out[i] = out[j] as ServerEntry;
    out[j] = x;
  }
  return out;
}

/**
 * One eligible server of `index`, each with probability power / (the eligible servers' total
 * power). `bound` must be at least every held server's power: a uniform draw is kept with
 * probability power / bound (rejection), for up to SAMPLE_TRIES draws; past that a walk of the
 * index (weighted reservoir sampling) decides, with the same distribution. With a `screen`
 * (which must ask what `eligible` asks) a draw is judged by `passes` and its power read from the
 * index's rows, so only the server taken is read.
 */
export function sampleByPower(index: FreeIndex<ServerEntry>, bound: number, random: () => number, eligible: (e: ServerEntry) => boolean, screen?: Screen): ServerEntry | undefined {
  if (bound > 0) {
    for (let t = 0; t < SAMPLE_TRIES; t++) {
      const h = index.pick(random);
      if (h < 0) return undefined;
      if (screen !== undefined) {
        if (passes(index, h, screen) && random() * bound < index.powerAt(h)) return index.at(h);
      } else {
        const e = index.at(h);
        if (eligible(e) && random() * bound < e.power) return e;
      }
    }
  }
  totalWeight = 0;
  scale = 1;
  chosen = undefined;
  draw = random;
  ok = eligible;
  index.visit(weightedReservoir);
  const pick = chosen;
  chosen = undefined;
  ok = never;
  return pick;
}
