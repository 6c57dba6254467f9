import type { Explanation, ExplainCandidate, Task } from "../protocol/index.js";
import { freeSlots, hash32, idlePower } from "../state/index.js";
import type { ServerEntry, ServerTable } from "../state/index.js";
import { MAX_UNCONFIRMED, choose, failure, maxScore } from "./allocate.js";
import type { ChoiceTrace } from "./allocate.js";
import { compileConstraint, compilePreferenceScore, compileRequire } from "./compiled-match.js";
import { formatConstraint } from "./match.js";
import type { Policy, PolicyContext } from "./policy.js";

/** Candidates an explanation lists at most (the chosen one always among them). */
export const EXPLAIN_CANDIDATES = 10;

export interface ExplainOptions {
  /** The reservation bound the live decisions use (MAX_UNCONFIRMED). */
  maxUnconfirmed?: number;
  /** Candidates listed at most (default EXPLAIN_CANDIDATES). */
  limit?: number;
  /**
   * Whether candidates carry their server ids (default true). Without them a candidate is known
   * by its rank; `chosen` still names the server, as a placement's answer would.
   */
  showIds?: boolean;
}

/**
 * A reproducible random source (mulberry32) for a dry run: a random policy's choice is the same
 * for the same seed, and the allocator's own source is not drawn from.
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A dry run of one placement: what `allocate` would decide for `task` (already the effective
 * task: stored client, user and task-type attributes applied) at this table, and why, reserving
 * nothing and changing no state.
 *
 * How it changes nothing: the search is `allocate`'s own (`choose`) in its dry-run mode, which
 * reserves nothing and calls a policy's read-only `peek` instead of its `locate` (idle-queue's
 * locate reorders its queue); `select` runs on a policy instance made for this call by
 * `makePolicy` (so round-robin's cursor or any other state of the live instance is not
 * advanced), and randomness comes from a source of its own seeded from the task id (the
 * allocator's source is not drawn from). The counts scan the application's servers, which a
 * dry run may afford; the candidates listed are bounded by `limit`.
 */
export function explainPlacement(table: ServerTable, task: Task, makePolicy: () => Policy, ctx: Pick<PolicyContext, "now" | "allocator">, options: ExplainOptions = {}): Explanation {
  const maxUnconfirmed = options.maxUnconfirmed ?? MAX_UNCONFIRMED;
  const limit = options.limit ?? EXPLAIN_CANDIDATES;
  const showIds = options.showIds ?? true;
  const policy = makePolicy();
  const offering = table.offering(task.app);
  const meetsRequire = compileRequire(task.require);
  const tests = task.require.map((c) => ({ key: formatConstraint(c), meets: compileConstraint(c) }));
  const scoreOf = compilePreferenceScore(task.clientAttrs, task.prefs, task.prefer);
  const removedBy: Record<string, number> = { status: 0 };
  for (const t of tests) removedBy[t.key] = 0;
  removedBy.full = 0;
  let live = 0;
  const eligible: ServerEntry[] = [];
  for (const e of offering) {
    if (e.status !== "alive") {
      removedBy.status = (removedBy.status ?? 0) + 1;
      continue;
    }
    live++;
    // Each constraint counts every live server it fails, whatever the others say.
    let meetsAll = true;
    for (const t of tests) {
      if (t.meets(e)) continue;
      removedBy[t.key] = (removedBy[t.key] ?? 0) + 1;
      meetsAll = false;
    }
    if (!meetsAll) continue;
    if (freeSlots(e) <= 0) removedBy.full = (removedBy.full ?? 0) + 1;
    else if (e.reserved >= maxUnconfirmed) removedBy.unacknowledged = (removedBy.unacknowledged ?? 0) + 1;
    else eligible.push(e);
  }

  const random = seededRandom(hash32(task.id));
  const pctx: PolicyContext = ctx.allocator === undefined ? { random, now: () => ctx.now() } : { random, now: () => ctx.now(), allocator: ctx.allocator };
  const trace: ChoiceTrace = { via: "none", gathered: 0, bestScore: -1, read: 0, skippedLocate: false };
  const server = choose(table, task, policy, pctx, maxUnconfirmed, meetsRequire, true, trace);

  // The best first: score, then the order the policy reads candidates in, then the id.
  const top = maxScore(task);
  const scores = new Map<ServerEntry, number>();
  for (const e of eligible) scores.set(e, scoreOf(e));
  const order = policy.order ?? "free";
  const orderKey = (e: ServerEntry): number => (order === "delay" ? -(e.load + e.reserved + 1) / e.power : order === "idle" ? idlePower(e) : freeSlots(e) / e.capacity);
  const ranked = [...eligible].sort((a, b) => (scores.get(b) ?? 0) - (scores.get(a) ?? 0) || orderKey(b) - orderKey(a) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const listed = ranked.slice(0, limit);
  if (server !== undefined && !listed.includes(server)) {
    if (listed.length >= limit) listed.pop();
    listed.push(server);
  }
  const candidates: ExplainCandidate[] = listed.map((e, i) => ({
    ...(showIds ? { id: e.id } : {}),
    rank: i + 1,
    score: scores.get(e) ?? scoreOf(e),
    load: e.load,
    reserved: e.reserved,
    capacity: e.capacity,
    free: Math.max(0, freeSlots(e)),
    power: e.power,
    idlePower: idlePower(e),
    chosen: e === server,
  }));
  const name = (e: ServerEntry): string => (showIds ? `server ${e.id}` : `candidate #${listed.indexOf(e) + 1}`);
  const app = JSON.stringify(task.app);

  let reason: string;
  let retryable = false;
  if (server === undefined) {
    const f = failure(offering, task, maxUnconfirmed, meetsRequire);
    retryable = f.full;
    reason = eligible.length > 0 ? `policy ${policy.name} chose none of the ${eligible.length} eligible servers for ${app}` : f.reason;
  } else if (trace.via === "locate") {
    reason = `${name(server)} wins: policy ${policy.name} finds its server through its own index (${LOCATE_WHAT[policy.name] ?? "its locate"}), before any scoring`;
  } else if (trace.via === "ramp") {
    reason = `${name(server)} wins: every other eligible server for ${app} is full, and it takes the task past its slow-start ramp`;
  } else {
    const s = scores.get(server) ?? scoreOf(server);
    const lower = ranked.filter((e) => (scores.get(e) ?? 0) < s).length;
    const prefs = top > 0 ? `score ${s} of ${top} possible` : "no soft preferences";
    const among = trace.gathered === 1 ? "the only candidate with the best score" : `the ${trace.gathered} candidates with the best score`;
    reason =
      `${name(server)} wins: ${prefs}; policy ${policy.name} chose it among ${among}` +
      ` (load ${server.load}+${server.reserved} reserved of ${server.capacity}, power ${server.power}, idle power ${round(idlePower(server))})` +
      (lower > 0 ? `; ${lower} eligible server${lower === 1 ? "" : "s"} scored lower` : "") +
      (trace.read < eligible.length ? `; the decision read ${trace.read} of ${eligible.length} eligible servers, idlest first` : "");
  }
  if (trace.skippedLocate) reason += ` (policy ${policy.name} has no read-only view of its own index: explained from the candidates alone)`;
  return {
    app: task.app,
    policy: policy.name,
    offering: offering.length,
    live,
    eligible: eligible.length,
    removedBy,
    maxScore: top,
    candidates,
    chosen: server === undefined ? null : server.id,
    reason,
    retryable,
  };
}

/** What a built-in policy's own index finds, in words. */
const LOCATE_WHAT: Readonly<Record<string, string>> = {
  hash: "the first eligible server under the load bound from the key's place on the application's ring",
  "idle-queue": "the longest-idle eligible server, else a uniformly random eligible one",
  p2c: "the shortest expected delay of d eligible servers drawn uniformly at random",
  random: "an eligible server drawn uniformly at random",
  "round-robin": "the next eligible server after its cursor, in the order servers joined",
  weighted: "an eligible server drawn at random in proportion to its power",
  "shortest-delay": "the shortest expected delay, home servers first within the margin",
};

const round = (x: number): number => Math.round(x * 1000) / 1000;
