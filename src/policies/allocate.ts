import type { Task } from "../protocol/index.js";
import { freeSlots, withoutTurns } from "../state/index.js";
import type { ServerEntry, ServerTable } from "../state/index.js";
import { compileConstraint, compilePreferenceScore } from "./compiled-match.js";
import { hasPreferences } from "./has-preferences.js";
import { formatConstraint } from "./match.js";
import type { Policy, PolicyContext } from "./policy.js";
import { requirement, screenFor } from "./screen.js";
import type { Requirement, Screen } from "./screen.js";

/**
 * A decision: the server chosen, or why none was. `full`: the refusal can change by itself soon
 * (retryable); `busy`: eligible servers exist and all are at capacity.
 */
export type Allocation = { ok: true; server: ServerEntry } | { ok: false; reason: string; full: boolean; busy: boolean };

// Reused between calls: a decision allocates no candidate array of its own.
const eligible: ServerEntry[] = [];

/**
 * Reservations a server has not yet acknowledged past which it takes no more: the allocator
 * answers before the server's ack, and without a bound a burst would queue expects faster than
 * the server's connection admits them (it answers OVERLOADED past its in-flight limit).
 */
export const MAX_UNCONFIRMED = 1024;

/** Eligible candidates a decision gathers before the policy chooses among them. */
export const DEFAULT_CANDIDATES = 32;

/**
 * With soft preferences no candidate fully meets, a decision reads up to this many times its
 * number of candidates for better-scoring ones: preferences count among the idlest 256 eligible
 * servers, not across a whole large fleet.
 */
export const PREFERENCE_READS = 8;

/** The score of a server that meets every soft preference of the task. */
export function maxScore(task: Task): number {
  let s = 0;
  for (const k in task.clientAttrs) if (Object.hasOwn(task.clientAttrs, k)) s++;
  for (const k in task.prefs) if (Object.hasOwn(task.prefs, k)) s++;
  if (task.prefer !== undefined) for (const p of task.prefer) s += p.weight;
  return s;
}

/**
 * Chooses a server for `task` and reserves a slot on it: hard constraints filter (application,
 * status, free slot, every `require`), client attributes and user preferences score, and the
 * policy picks among the best-scoring. Says why when nothing fits.
 *
 * It reads the application's available servers (live, with a free slot) idlest first (or
 * shortest expected delay first, or most idle power first, for a policy whose `order` is `delay`
 * or `idle`) and stops
 * once it holds the policy's number of candidates (`policy.candidates`, default 32; Infinity for
 * all), so a decision costs about the same at 100 servers as at 100,000. With fewer eligible
 * servers than that, the policy sees all of them. It reads everything only to refuse: it never
 * refuses while an eligible server has room.
 *
 * `avoid` (at most a few ids: the servers this task failed on, or its client cannot reach) are
 * passed over while another eligible server exists: while one has room the task goes there, and
 * while all of them are busy the task waits for one (refused `full`) rather than going back to a
 * server it failed on. Only when no other eligible server exists at all may it go to an avoided
 * one (the allocator's own view decides: one it still believes alive may have been a blip).
 */
export function allocate(table: ServerTable, task: Task, policy: Policy, ctx: PolicyContext, maxUnconfirmed = MAX_UNCONFIRMED, avoid: readonly string[] = NO_AVOID): Allocation {
  const req = requirement(task.require);
  if (avoid.length === 0) return decide(table, task, policy, ctx, maxUnconfirmed, req.all, req, NO_AVOID);
  // Servers the task failed on are skipped as they are read, so this costs no scan.
  const avoided = decide(table, task, policy, ctx, maxUnconfirmed, avoiding(req.all, avoid), req, avoid);
  return avoided.ok || avoided.busy ? avoided : decide(table, task, policy, ctx, maxUnconfirmed, req.all, req, NO_AVOID);
}

// The closures of a decision are made in functions of their own: a function that makes one
// allocates its context on every call, whether it makes it or not (allocate and decide make
// none for a task with nothing to avoid).
function avoiding(meets: (e: ServerEntry) => boolean, avoid: readonly string[]): (e: ServerEntry) => boolean {
  return (e) => !avoid.includes(e.id) && meets(e);
}

function restOf(moving: (e: ServerEntry) => boolean, avoid: readonly string[]): (e: ServerEntry) => boolean {
  return (e) => moving(e) && !avoid.includes(e.id);
}

const NO_AVOID: readonly string[] = [];

/** Alive, a free slot, and not so many unacknowledged reservations: what eligibility asks besides the constraints. */
const usable = (e: ServerEntry, maxUnconfirmed: number): boolean => e.status === "alive" && freeSlots(e) > 0 && e.reserved < maxUnconfirmed;

// The eligibility test of the last decision, kept while the next one's would be the same (the
// same compiled constraints, the same bound): a stream of like tasks builds it once, where a
// closure per decision was a third of what a decision allocated.
let lastMeets: ((e: ServerEntry) => boolean) | undefined;
let lastBound = 0;
let lastEligible: (e: ServerEntry) => boolean = () => false;

function eligibleFor(meetsRequire: (e: ServerEntry) => boolean, maxUnconfirmed: number): (e: ServerEntry) => boolean {
  if (meetsRequire !== lastMeets || maxUnconfirmed !== lastBound) {
    lastMeets = meetsRequire;
    lastBound = maxUnconfirmed;
    lastEligible = eligibleTest(meetsRequire, maxUnconfirmed);
  }
  return lastEligible;
}

// Made apart from eligibleFor, for the reason given above avoiding.
function eligibleTest(meetsRequire: (e: ServerEntry) => boolean, maxUnconfirmed: number): (e: ServerEntry) => boolean {
  return (e) => usable(e, maxUnconfirmed) && meetsRequire(e);
}

function decide(table: ServerTable, task: Task, policy: Policy, ctx: PolicyContext, maxUnconfirmed: number, meetsRequire: (e: ServerEntry) => boolean, req: Requirement, avoid: readonly string[]): Allocation {
  let screen: Screen | undefined;
  if (policy.samples === true && !hasPreferences(task)) {
    const rest = avoid.length > 0 ? restOf(req.moving, avoid) : req.moves ? req.moving : undefined;
    screen = screenFor(table, req, maxUnconfirmed, rest);
  }
  const server = choose(table, task, policy, ctx, maxUnconfirmed, meetsRequire, false, undefined, screen);
  if (server) {
    table.reserve(server);
    return { ok: true, server };
  }
  return failure(table.offering(task.app), task, maxUnconfirmed, meetsRequire);
}

/**
 * How `choose` found its server, for a dry run (`explainPlacement`): through the policy's own
 * index (`locate`, or `peek` in a dry run), among gathered candidates (with the best score and
 * how many held it), or past a slow-start ramp because every other server was full.
 */
export interface ChoiceTrace {
  via: "locate" | "select" | "ramp" | "none";
  /** Candidates of the best score the policy chose among (`select`). */
  gathered: number;
  bestScore: number;
  /** Eligible servers read before the search stopped. */
  read: number;
  /** A dry run of a policy with `locate` but no `peek`: its own index was not consulted. */
  skippedLocate: boolean;
}

/**
 * The server a decision takes, without reserving it: `allocate`'s whole search (the policy's own
 * index, the candidates gathered in the table's order, a server past its ramp). `dryRun`: change
 * nothing — a policy's `locate` is replaced by its read-only `peek` (skipped when it has none).
 * The policy's `select` is still called: a dry run passes a policy instance of its own
 * (`explainPlacement` makes one), so a stateful policy's live instance is not advanced.
 */
export function choose(table: ServerTable, task: Task, policy: Policy, ctx: PolicyContext, maxUnconfirmed: number, meetsRequire: (e: ServerEntry) => boolean, dryRun: boolean, trace?: ChoiceTrace, screen?: Screen): ServerEntry | undefined {
  // A dry run's visits leave the indexes' rotating starts alone: otherwise the next live decision
  // would read equal servers from another start than it would have, and choose another server.
  if (dryRun) return withoutTurns(() => search(table, task, policy, ctx, maxUnconfirmed, meetsRequire, true, trace, screen));
  return search(table, task, policy, ctx, maxUnconfirmed, meetsRequire, false, trace, screen);
}

function search(table: ServerTable, task: Task, policy: Policy, ctx: PolicyContext, maxUnconfirmed: number, meetsRequire: (e: ServerEntry) => boolean, dryRun: boolean, trace?: ChoiceTrace, screen?: Screen): ServerEntry | undefined {
  const locate = dryRun ? policy.peek : policy.locate;
  if (trace && dryRun && policy.locate && !policy.peek) trace.skippedLocate = true;
  if (locate) {
    const found = locate.call(policy, table, task, ctx, eligibleFor(meetsRequire, maxUnconfirmed), screen);
    if (found) {
      if (trace) trace.via = "locate";
      return found;
    }
  }
  const wanted = policy.candidates ?? DEFAULT_CANDIDATES;
  // Enough candidates of the best score any server could have end the search at once; short of
  // that, it reads on (up to PREFERENCE_READS eligible servers) for servers that score higher.
  const topScore = maxScore(task);
  const scoreOf = compilePreferenceScore(task.clientAttrs, task.prefs, task.prefer);
  // A dry run gathers into an array of its own: it may run while a decision's is in use (never
  // today, decisions are synchronous, but the shared array is the hot path's alone).
  const gathered = dryRun ? [] : eligible;
  gathered.length = 0;
  let bestScore = -1;
  let read = 0;
  const index = policy.order === "delay" ? table.availableByDelay(task.app) : policy.order === "idle" ? table.availableByIdlePower(task.app) : table.available(task.app);
  index?.visit((e) => {
    if (e.reserved >= maxUnconfirmed || !meetsRequire(e)) return true;
    read++;
    const score = scoreOf(e);
    if (score > bestScore) {
      bestScore = score;
      gathered.length = 0;
    }
    if (score === bestScore) gathered.push(e);
    return gathered.length < wanted || (bestScore < topScore && read < wanted * PREFERENCE_READS);
  });
  const server = gathered.length > 0 ? policy.select(gathered, task, ctx) : undefined;
  if (trace) {
    trace.gathered = gathered.length;
    trace.bestScore = bestScore;
    trace.read = read;
  }
  gathered.length = 0;
  if (server) {
    if (trace) trace.via = "select";
    return server;
  }
  // Every other server is full: one in its slow start takes the task past its ramp rather than
  // the task being refused (the ramp keeps a flood off it, not work that nothing else can take).
  const spare = table.pastRamp(task.app, (e) => e.reserved < maxUnconfirmed && meetsRequire(e));
  if (spare && trace) trace.via = "ramp";
  return spare;
}

/** Why nothing fits: read on refusal only, so a scan of the application's servers is fine here. */
export function failure(offering: readonly ServerEntry[], task: Task, maxUnconfirmed: number, meetsRequire: (e: ServerEntry) => boolean): Allocation & { ok: false } {
  let alive = 0;
  let meeting = 0;
  for (const e of offering) {
    if (e.status !== "alive") continue;
    alive++;
    if (meetsRequire(e)) meeting++;
  }
  // Retryable ("full") when it can change by itself soon: every eligible server is busy, or every
  // server this allocator knows for the application is down (they come back, or a peer has one).
  // A missing application or an unmet constraint waits for a new server: not retryable.
  return { ok: false, reason: explain(offering, task, alive, meeting, maxUnconfirmed), full: meeting > 0 || (alive === 0 && offering.length > 0), busy: meeting > 0 };
}

function explain(offering: readonly ServerEntry[], task: Task, alive: number, meeting: number, maxUnconfirmed: number): string {
  if (offering.length === 0) return `no server offers application ${JSON.stringify(task.app)}`;
  if (alive === 0) return `no live server offers application ${JSON.stringify(task.app)}`;
  if (meeting === 0) {
    const failing = task.require.find((c) => {
      const meetsOne = compileConstraint(c);
      return !offering.some((e) => e.status === "alive" && meetsOne(e));
    });
    return failing
      ? `no server for ${JSON.stringify(task.app)} meets constraint ${formatConstraint(failing)}`
      : `no server for ${JSON.stringify(task.app)} meets all of ${task.require.map(formatConstraint).join(", ")}`;
  }
  const waiting = offering.some((e) => e.status === "alive" && e.reserved >= maxUnconfirmed && freeSlots(e) > 0);
  return `all ${meeting} eligible servers for ${JSON.stringify(task.app)} are at capacity${waiting ? ` or have ${maxUnconfirmed} reservations not yet acknowledged` : ""}`;
}
