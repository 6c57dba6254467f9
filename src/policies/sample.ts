import type { FreeIndex, ServerEntry } from "../state/index.js";
import { screened } from "./screen.js";
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
let draw: () => number = Math.random;
const never = (): boolean => false;
const unit = (): number => 1;
let ok: (e: ServerEntry) => boolean = never;
let weigh: (e: ServerEntry) => number = unit;
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

// One server, each as likely as its weight among the eligible servers read so far.
const weightedReservoir = (e: ServerEntry): boolean => {
  if (!ok(e)) return true;
  const w = weigh(e);
  if (w <= 0) return true;
  totalWeight += w;
  if (draw() * totalWeight < w) chosen = e;
  return true;
};

/**
 * `d` distinct servers drawn uniformly at random among the eligible ones in `index` (all of
 * them when fewer than `d` are), written into `out` in the order drawn. Uniform draws from the
 * index, the ineligible and repeats rejected, for up to SAMPLE_TRIES × d draws; past that a walk
 * of the index (reservoir sampling). Either way every `d`-subset of the eligible servers is
 * equally likely: the draws treat every eligible server alike, so given that they succeed their
 * outcome is uniform, and so is the walk's. A decision then costs O(d) unless eligible servers
 * are rare, when it costs a walk of the application's available servers.
 */
export function sampleEligible(index: FreeIndex<ServerEntry>, d: number, random: () => number, eligible: (e: ServerEntry) => boolean, out: ServerEntry[], screen?: Screen): ServerEntry[] {
  out.length = 0;
  const tries = SAMPLE_TRIES * d;
  for (let t = 0; t < tries && out.length < d; t++) {
    const h = index.pick(random);
    if (h < 0) return out;
    if (screen === undefined) {
      const e = index.at(h);
      if (eligible(e) && !out.includes(e)) out.push(e);
    } else {
      const e = screened(index, h, screen);
      if (e !== undefined && screen.rest(e) && !out.includes(e)) out.push(e);
    }
  }
  if (out.length === d) return out;
  out.length = 0;
  want = d;
  seen = 0;
  draw = random;
  ok = eligible;
  into = out;
  index.visit(reservoir);
  into = [];
  ok = never; // hold no decision's closure past it
  return out;
}

/**
 * One eligible server of `index`, each with probability weight(e) / (sum of the eligible
 * servers' weights). `bound` must be at least every held server's weight: a uniform draw is kept
 * with probability weight / bound (rejection), for up to SAMPLE_TRIES draws; past that a walk of
 * the index (weighted reservoir sampling) decides, with the same distribution. `screen`: as for
 * `sampleEligible`.
 */
export function sampleWeighted(index: FreeIndex<ServerEntry>, bound: number, weight: (e: ServerEntry) => number, random: () => number, eligible: (e: ServerEntry) => boolean, screen?: Screen): ServerEntry | undefined {
  if (bound > 0) {
    for (let t = 0; t < SAMPLE_TRIES; t++) {
      const h = index.pick(random);
      if (h < 0) return undefined;
      const e = screen === undefined ? index.at(h) : screened(index, h, screen);
      if (e !== undefined && (screen === undefined ? eligible(e) : screen.rest(e)) && random() * bound < weight(e)) return e;
    }
  }
  totalWeight = 0;
  chosen = undefined;
  draw = random;
  ok = eligible;
  weigh = weight;
  index.visit(weightedReservoir);
  const pick = chosen;
  chosen = undefined;
  ok = never;
  weigh = unit;
  return pick;
}
