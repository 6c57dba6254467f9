import { meets } from "../policies/match.js";
import type { ServerValue } from "../policies/match.js";
import type { Constraint } from "../protocol/index.js";
import type { AttrsEvent, CheckResult, Checker, History, HistoryEvent, RunEndEvent, RunStartEvent, SettleEvent, SubmitEvent, TablesEvent } from "./history.js";

// Invariants over a recorded History. Each checker is a pure function of the history: it reads
// nothing else, changes nothing, and gives the same verdict for the same events. A failure names
// the culprit (op, client, key, task, server, incarnation, virtual time) and carries the events
// that show it, in history order, so `formatFailure` can print them one per line.

type Ok = Extract<SettleEvent, { ok: true }>;
type Err = Extract<SettleEvent, { ok: false }>;

const OK: CheckResult = { ok: true };

function fail(checker: string, message: string, events: HistoryEvent[]): CheckResult {
  return { ok: false, checker, message, events: sortByHistory(events) };
}

/** The events in the order they were recorded (by step, then time), without repeats. */
function sortByHistory(events: HistoryEvent[]): HistoryEvent[] {
  return [...new Set(events)].sort((a, b) => a.step - b.step || a.t - b.t);
}

const ck = (client: string, key: string): string => `${client}\u0000${key}`;
const who = (client: string, key: string): string => `client ${client} key ${JSON.stringify(key)}`;
const on = (server: string, incarnation: number): string => `server ${server} (incarnation ${incarnation})`;

/** When the history ends: the latest virtual time any event carries (0 for an empty history). */
export function historyEnd(h: History): number {
  let end = 0;
  for (const e of h) if (e.t > end) end = e.t;
  return end;
}

// ---------------------------------------------------------------------------------------------
// noTaskLost

/**
 * Error codes a client may answer before the task's deadline: the caller's own mistakes and
 * choices, and the handler's own failure. Every one is non-retryable (src/protocol/errors.ts),
 * so the client raises it at once instead of retrying to the deadline:
 * - INVALID, UNAUTHORIZED, BAD_FRAME, UNKNOWN_TYPE, VERSION_MISMATCH: the request cannot succeed anywhere;
 * - CANCELLED: the client's own AbortSignal;
 * - RETRIES_EXHAUSTED: the task's maxAttempts or the client's retry budget, raised before the deadline by design;
 * - TASK_FAILED: the handler threw (and the checker also asks for that failed run, see noTaskLost).
 * Not here: the retryable codes (NO_SERVER, OVERLOADED, TIMEOUT, DRAINING, UNREACHABLE), which a
 * client retries until its deadline, and INTERNAL, a runtime failure a healthy cluster never gives.
 */
export const IMMEDIATE_CODES: readonly string[] = ["INVALID", "UNAUTHORIZED", "BAD_FRAME", "UNKNOWN_TYPE", "VERSION_MISMATCH", "CANCELLED", "RETRIES_EXHAUSTED", "TASK_FAILED"];

export interface NoTaskLostOptions {
  /** How long past its deadline a submit may stay unanswered before it counts as lost. Default 1000 ms. */
  graceMs?: number;
  /** How early before its deadline a deadline-bound error (TIMEOUT, …) may arrive. Default 10 ms. */
  slackMs?: number;
  /**
   * Further codes that may arrive before the deadline, e.g. "NO_SERVER" in a test that submits
   * an application no server offers (the allocator answers that one non-retryable, at once).
   */
  immediate?: readonly string[];
  /**
   * What an unanswered submit is when the history ends before its deadline + grace: a failure
   * reported as "unsettled" (the history is too short to judge it; run the cluster longer), or
   * ignored. Default "fail".
   */
  unsettled?: "fail" | "ignore";
}

/**
 * No task lost, none answered twice, none answered early, none answered with a result nobody
 * computed. For every submit `op`:
 * 1. at most one settle (a second is a failure), and a settle names a submitted op, its client and key;
 * 2. no settle by the end of the history: lost if the history runs past deadline + graceMs,
 *    otherwise "unsettled" (a failure unless `unsettled: "ignore"`);
 * 3. a settle ok must be backed by a run.end ok of the same client and key on the answering
 *    server, recorded before the settle: of the same task id when not `cached`, of any task when
 *    `cached` (the server's stored result of an earlier run);
 * 4. a settle error before deadline − slackMs must carry an immediate code (IMMEDIATE_CODES plus
 *    `immediate`); TASK_FAILED also needs a run.end failed of that client and key before it.
 */
export function noTaskLost(h: History): CheckResult;
export function noTaskLost(opts?: NoTaskLostOptions): Checker;
export function noTaskLost(arg: History | NoTaskLostOptions = {}): Checker | CheckResult {
  if (isHistory(arg)) return noTaskLostWith({})(arg);
  return noTaskLostWith(arg);
}

/** A history (an array), not an options object: so a checker factory also works as a checker with its defaults. */
function isHistory(x: unknown): x is History {
  return Array.isArray(x);
}

function noTaskLostWith(opts: NoTaskLostOptions): Checker {
  const graceMs = opts.graceMs ?? 1000;
  const slackMs = opts.slackMs ?? 10;
  const immediate = new Set([...IMMEDIATE_CODES, ...(opts.immediate ?? [])]);
  const unsettled = opts.unsettled ?? "fail";
  const name = "noTaskLost";
  return (h) => {
    const submits = new Map<number, SubmitEvent>();
    const settles = new Map<number, SettleEvent>();
    /** run.end events by client+key, in history order. */
    const ends = new Map<string, RunEndEvent[]>();
    for (const e of h) {
      if (e.kind === "submit") {
        const dup = submits.get(e.op);
        if (dup) return fail(name, `op ${e.op} was submitted twice (t=${dup.t} and t=${e.t})`, [dup, e]);
        submits.set(e.op, e);
      } else if (e.kind === "run.end") {
        const k = ck(e.client, e.key);
        const list = ends.get(k);
        if (list) list.push(e);
        else ends.set(k, [e]);
      } else if (e.kind === "settle") {
        const s = submits.get(e.op);
        if (!s) return fail(name, `op ${e.op} (${who(e.client, e.key)}) was settled at t=${e.t} but never submitted before it`, [e]);
        if (s.client !== e.client || s.key !== e.key) return fail(name, `op ${e.op} was submitted by ${who(s.client, s.key)} but settled at t=${e.t} as ${who(e.client, e.key)}`, [s, e]);
        const first = settles.get(e.op);
        if (first) return fail(name, `op ${e.op} (${who(e.client, e.key)}) was settled twice: at t=${first.t} (${describeSettle(first)}) and at t=${e.t} (${describeSettle(e)})`, [s, first, e]);
        settles.set(e.op, e);
        const bad = e.ok ? unbackedResult(s, e, ends.get(ck(e.client, e.key)) ?? []) : earlyError(s, e, ends.get(ck(e.client, e.key)) ?? [], immediate, slackMs);
        if (bad) return fail(name, bad.message, bad.events);
      }
    }
    const end = historyEnd(h);
    for (const s of submits.values()) {
      if (settles.has(s.op)) continue;
      const due = s.deadline + graceMs;
      const runs = h.filter((e) => (e.kind === "run.start" || e.kind === "run.end") && e.client === s.client && e.key === s.key);
      const ran = runs.length === 0 ? "it never ran" : `${runs.length} run event(s) of its key`;
      if (end > due) return fail(name, `lost: op ${s.op} (${who(s.client, s.key)}, app ${s.app}, submitted at t=${s.t}, deadline t=${s.deadline}) was never settled; the history runs to t=${end}, past its deadline + grace (t=${due}); ${ran}`, [s, ...runs]);
      if (unsettled === "fail") return fail(name, `unsettled: op ${s.op} (${who(s.client, s.key)}, app ${s.app}, submitted at t=${s.t}, deadline t=${s.deadline}) has no settle, but the history ends at t=${end}, before its deadline + grace (t=${due}): not proven lost, run the cluster longer (or pass unsettled: "ignore"); ${ran}`, [s, ...runs]);
    }
    return OK;
  };
}

function describeSettle(e: SettleEvent): string {
  return e.ok ? `ok from server ${e.serverId}, task ${e.taskId}${e.cached ? ", cached" : ""}, attempts ${e.attempts}` : `${e.code}: ${e.message}`;
}

function unbackedResult(s: SubmitEvent, e: Ok, ends: readonly RunEndEvent[]): { message: string; events: HistoryEvent[] } | undefined {
  const fits = (r: RunEndEvent): boolean => r.outcome === "ok" && r.server === e.serverId && r.t <= e.t && (e.cached || r.taskId === e.taskId);
  if (ends.some(fits)) return undefined;
  const what = e.cached ? `no earlier ok run of its key on server ${e.serverId} whose result it could be` : `no ok run.end of task ${e.taskId} on server ${e.serverId} before it`;
  return { message: `op ${e.op} (${who(e.client, e.key)}) was settled ok at t=${e.t} by server ${e.serverId} (task ${e.taskId}${e.cached ? ", cached" : ""}), but there is ${what}`, events: [s, e, ...ends.filter((r) => r.t <= e.t)] };
}

function earlyError(s: SubmitEvent, e: Err, ends: readonly RunEndEvent[], immediate: ReadonlySet<string>, slackMs: number): { message: string; events: HistoryEvent[] } | undefined {
  if (e.code === "TASK_FAILED") {
    if (ends.some((r) => r.outcome === "failed" && r.t <= e.t)) return undefined;
    return { message: `op ${e.op} (${who(e.client, e.key)}) was settled TASK_FAILED at t=${e.t}, but no run of its key failed before it ("${e.message}")`, events: [s, e, ...ends.filter((r) => r.t <= e.t)] };
  }
  if (immediate.has(e.code) || e.t >= s.deadline - slackMs) return undefined;
  return { message: `op ${e.op} (${who(e.client, e.key)}) was settled ${e.code} at t=${e.t}, ${s.deadline - e.t} ms before its deadline t=${s.deadline}: ${e.code} is not an immediate code, the client should have kept trying ("${e.message}")`, events: [s, e] };
}

// ---------------------------------------------------------------------------------------------
// atMostOnceExecution

export interface AtMostOnceOptions {
  /**
   * "incarnation" (default): single flight per (client, key) on one server incarnation.
   * "cluster": also at most one run of a (client, key) in the whole cluster, unless a failure excuses a re-run.
   */
  scope?: "incarnation" | "cluster";
  /** Results a server keeps (docs/design.md: the last 10,000); a key may run again on the same incarnation once this many later results pushed its own out. */
  resultStore?: number;
  /** The allocators' key window (`--key-window-ms`, 5 minutes by default); past it a key may run again anywhere. */
  keyWindowMs?: number;
}

/**
 * What docs/design.md "Execution semantics" promises about runs.
 *
 * Scope "incarnation" (single flight), for each (client, key, server, incarnation):
 * - a run.start while an earlier run of it has not ended is a failure (two runs overlap);
 * - a run.start after an earlier run of it ended ok is a failure: the server must answer from its
 *   store, unless `resultStore` later ok results on that incarnation pushed the result out;
 * - a run.start after an earlier run ended failed (or lost) is fine: only results are stored, so a
 *   retry of a failed run runs again.
 *
 * Scope "cluster" adds, for each (client, key): a run.start on any server while an earlier run of
 * the key exists is a failure unless that earlier run is excused, i.e. one of:
 * - it ended failed or lost (a failure is not a result; the retry may run anywhere);
 * - between its start and the new start, its server crashed, restarted, paused or went fatal,
 *   or a partition, drop or delay fault named its server (the allocator may have declared it dead);
 * - `keyWindowMs` passed since its start (the allocators forgot where the key ran).
 */
export function atMostOnceExecution(h: History): CheckResult;
export function atMostOnceExecution(opts?: AtMostOnceOptions): Checker;
export function atMostOnceExecution(arg: History | AtMostOnceOptions = {}): Checker | CheckResult {
  if (isHistory(arg)) return atMostOnceWith({})(arg);
  return atMostOnceWith(arg);
}

function atMostOnceWith(opts: AtMostOnceOptions): Checker {
  const scope = opts.scope ?? "incarnation";
  const resultStore = opts.resultStore ?? 10_000;
  const keyWindowMs = opts.keyWindowMs ?? 300_000;
  const name = scope === "cluster" ? "atMostOnceExecution(cluster)" : "atMostOnceExecution";
  return (h) => {
    interface Run {
      start: RunStartEvent;
      /** The run.start's index in the history. */
      at: number;
      end?: RunEndEvent;
      /** The index of the ok result among its incarnation's ok results (for the store's bound). */
      stored?: number;
    }
    const byInc = new Map<string, Run[]>();
    const byKey = new Map<string, Run[]>();
    /** Ok results per server incarnation, counted. */
    const okCount = new Map<string, number>();
    /** Events that may excuse a re-run elsewhere, with their history index. */
    const excuses: Array<{ e: HistoryEvent; at: number }> = [];
    const incKey = (server: string, inc: number, client: string, key: string): string => `${server}\u0000${inc}\u0000${ck(client, key)}`;
    for (const [at, e] of h.entries()) {
      if (e.kind === "crash" || e.kind === "restart" || e.kind === "pause" || e.kind === "fatal" || (e.kind === "fault" && (e.fault === "partition" || e.fault === "drop" || e.fault === "delay"))) {
        excuses.push({ e, at });
        continue;
      }
      if (e.kind === "run.end") {
        const runs = byInc.get(incKey(e.server, e.incarnation, e.client, e.key)) ?? [];
        const run = runs.find((r) => r.end === undefined && r.start.taskId === e.taskId) ?? runs.find((r) => r.end === undefined);
        if (run) {
          run.end = e;
          if (e.outcome === "ok") {
            const ik = `${e.server}\u0000${e.incarnation}`;
            const n = (okCount.get(ik) ?? 0) + 1;
            okCount.set(ik, n);
            run.stored = n;
          }
        }
        continue;
      }
      if (e.kind !== "run.start") continue;
      const ik = incKey(e.server, e.incarnation, e.client, e.key);
      const here = byInc.get(ik) ?? [];
      for (const r of here) {
        if (r.end === undefined) return fail(name, `${who(e.client, e.key)} ran twice at once on ${on(e.server, e.incarnation)}: task ${r.start.taskId} started at t=${r.start.t} and had not ended when task ${e.taskId} started at t=${e.t} (single flight)`, [r.start, e]);
        if (r.end.outcome === "ok" && r.stored !== undefined) {
          const later = (okCount.get(`${e.server}\u0000${e.incarnation}`) ?? 0) - r.stored;
          if (later < resultStore) return fail(name, `${who(e.client, e.key)} ran again on ${on(e.server, e.incarnation)} at t=${e.t} (task ${e.taskId}) after its run of task ${r.start.taskId} ended ok at t=${r.end.t}: the server should have answered from its stored result`, [r.start, r.end, e]);
        }
      }
      const run: Run = { start: e, at };
      here.push(run);
      byInc.set(ik, here);
      const kk = ck(e.client, e.key);
      const earlier = byKey.get(kk) ?? [];
      if (scope === "cluster") {
        for (const r of earlier) {
          if (r.start.server === e.server && r.start.incarnation === e.incarnation) continue; // judged above
          if (r.end !== undefined && r.end.outcome !== "ok") continue;
          if (e.t - r.start.t >= keyWindowMs) continue;
          const excuse = excuses.find((x) => x.at > r.at && names(x.e, r.start.server));
          if (excuse) continue;
          const state = r.end === undefined ? "still running" : `ended ok at t=${r.end.t}`;
          return fail(name, `${who(e.client, e.key)} ran twice in the cluster: task ${r.start.taskId} on ${on(r.start.server, r.start.incarnation)} at t=${r.start.t} (${state}), then task ${e.taskId} on ${on(e.server, e.incarnation)} at t=${e.t}, with no crash, restart, pause, partition, drop or delay of server ${r.start.server} between them`, [r.start, ...(r.end ? [r.end] : []), e]);
        }
      }
      earlier.push(run);
      byKey.set(kk, earlier);
    }
    return OK;
  };
}

function names(e: HistoryEvent, node: string): boolean {
  if (e.kind === "fault") return e.nodes.includes(node);
  if (e.kind === "crash" || e.kind === "restart" || e.kind === "pause" || e.kind === "fatal") return e.node === node;
  return false;
}

// ---------------------------------------------------------------------------------------------
// constraintsRespected

/**
 * The value a `require` constraint reads at a run.start, as the allocator's matcher
 * (src/policies/match.ts `valueOf`) would read it for that server: `id` is the server,
 * `capacity` its capacity, `app` the run's application (the server offers at least that one),
 * anything else its attributes (so `power` when the recorder puts it in `attrs`). `load` and
 * `free` are the allocator's view at placement time, which a run.start cannot show: undefined,
 * and such constraints are not judged.
 */
function startValue(e: RunStartEvent, key: string): ServerValue | undefined {
  switch (key) {
    case "id":
      return e.server;
    case "capacity":
      return e.capacity;
    case "app":
      return [e.app];
    default:
      return Object.hasOwn(e.attrs, key) ? e.attrs[key] : undefined;
  }
}

const UNJUDGED = new Set(["load", "free"]);

/** Whether a run.start's server meets one constraint; undefined when it cannot be judged from the event. */
export function startMeets(e: RunStartEvent, c: Constraint): boolean | undefined {
  if (UNJUDGED.has(c.key)) return undefined;
  if (c.key === "power" && !Object.hasOwn(e.attrs, "power")) return undefined;
  return meets(startValue(e, c.key), c);
}

export interface ConstraintsOptions {
  /**
   * How long after an attribute change (an `attrs` event) a run on that server may still be
   * judged by the attributes it had before the change. Default 1000 ms.
   */
  staleMs?: number;
}

/**
 * Every run.start's server met its task's `require` constraints when the run began, judged with
 * the project's matcher (`meets` of src/policies/match.ts) on the run.start's own `attrs`, `server`,
 * `capacity` and `app`. A run is joined to the latest submit of its client and key recorded
 * before it; a run with no such submit is not judged. `load` and `free` are not judged (see startMeets).
 *
 * Attributes reach the allocators by the server's report (docs/design.md: `attrs.set` reports
 * at once, but a report is a message): a placement decided before the report arrived is made on
 * the attributes the server had before. So a run that fails a constraint on its server's current
 * attributes passes when the server met it with the attributes it had before a change recorded
 * within `staleMs` before the run. (Judging only the current attributes, as this checker first
 * did, failed correct runs placed in that window: a checker too strict for the design.)
 */
export function constraintsRespected(h: History): CheckResult;
export function constraintsRespected(opts?: ConstraintsOptions): Checker;
export function constraintsRespected(arg: History | ConstraintsOptions = {}): Checker | CheckResult {
  if (isHistory(arg)) return constraintsWith({})(arg);
  return constraintsWith(arg);
}

function constraintsWith(opts: ConstraintsOptions): Checker {
  const staleMs = opts.staleMs ?? 1000;
  return (h) => constraintsCheck(h, staleMs);
}

function constraintsCheck(h: History, staleMs: number): CheckResult {
  const name = "constraintsRespected";
  const submits = new Map<string, SubmitEvent>();
  /** Attribute changes per server, in history order. */
  const changes = new Map<string, AttrsEvent[]>();
  for (const e of h) {
    if (e.kind === "attrs") {
      const l = changes.get(e.node);
      if (l) l.push(e);
      else changes.set(e.node, [e]);
    }
    if (e.kind === "submit") submits.set(ck(e.client, e.key), e);
    if (e.kind !== "run.start") continue;
    const s = submits.get(ck(e.client, e.key));
    if (!s) continue;
    const recent = (changes.get(e.server) ?? []).filter((a) => e.t - a.t <= staleMs);
    for (const c of s.require) {
      if (startMeets(e, c) !== false) continue;
      if (recent.some((a) => startMeets({ ...e, attrs: a.before }, c) !== false)) continue;
      const v = startValue(e, c.key);
      return fail(name, `task ${e.taskId} (op ${s.op}, ${who(e.client, e.key)}) started at t=${e.t} on ${on(e.server, e.incarnation)}, which does not meet ${formatC(c)}: its ${c.key} is ${v === undefined ? "unset" : JSON.stringify(v)} (attrs ${JSON.stringify(e.attrs)})`, [s, ...recent, e]);
    }
  }
  return OK;
}

function formatC(c: Constraint): string {
  return Array.isArray(c.value) ? `${c.key} in (${c.value.map((v) => String(v)).join(",")})` : `${c.key}${c.op}${String(c.value)}`;
}

// ---------------------------------------------------------------------------------------------
// capacityRespected

/** No run.start with more runs in progress on its server incarnation than the server's capacity (`running > capacity`). */
export const capacityRespected: Checker = (h) => {
  for (const e of h) {
    if (e.kind === "run.start" && e.running > e.capacity) {
      return fail("capacityRespected", `task ${e.taskId} (${who(e.client, e.key)}) started at t=${e.t} on ${on(e.server, e.incarnation)} with ${e.running} runs in progress, over its capacity ${e.capacity}`, [e]);
    }
  }
  return OK;
};

// ---------------------------------------------------------------------------------------------
// convergence

const v2 = (v: readonly [number, number]): string => `[${v[0]},${v[1]}]`;
const sameVersion = (a: readonly [number, number], b: readonly [number, number]): boolean => a[0] === b[0] && a[1] === b[1];

/**
 * On the LAST tables event (a failure if there is none): within each allocator set,
 * - every live server (a key of `truth`) that any member holds is held by every member, at its
 *   `truth` version;
 * - a server that is not live is held by its members (those that still hold it) at one version;
 * - every live server is held by at least one set.
 */
export const convergence: Checker = (h) => {
  const name = "convergence";
  let last: TablesEvent | undefined;
  for (const e of h) if (e.kind === "tables") last = e;
  if (!last) return fail(name, "no tables event in the history: take a snapshot (cluster.snapshotTables()) after healing and letting the cluster settle", []);
  const t = last;
  const held = new Set<string>();
  for (const set of t.sets) {
    const ids = new Set<string>();
    for (const m of set.members) for (const id of Object.keys(m.servers)) ids.add(id);
    for (const id of [...ids].sort()) {
      held.add(id);
      const truth = t.truth[id];
      let first: { node: string; version: [number, number] } | undefined;
      for (const m of set.members) {
        const entry = m.servers[id];
        if (truth !== undefined) {
          if (!entry) return fail(name, `at t=${t.t}, member ${m.node} of set ${set.set} does not hold live server ${id} (version ${v2(truth)}), which ${holders(set, id)} hold(s)`, [t]);
          if (!sameVersion(entry.version, truth)) return fail(name, `at t=${t.t}, member ${m.node} of set ${set.set} holds server ${id} at version ${v2(entry.version)} (${entry.status}), but the server itself is at ${v2(truth)}`, [t]);
        } else if (entry) {
          if (first && !sameVersion(first.version, entry.version)) return fail(name, `at t=${t.t}, members of set ${set.set} disagree on server ${id} (not live): ${first.node} holds ${v2(first.version)}, ${m.node} holds ${v2(entry.version)}`, [t]);
          first ??= { node: m.node, version: entry.version };
        }
      }
    }
  }
  for (const id of Object.keys(t.truth).sort()) {
    if (!held.has(id)) return fail(name, `at t=${t.t}, live server ${id} (version ${v2(t.truth[id] ?? [0, 0])}) is held by no allocator set`, [t]);
  }
  return OK;
};

function holders(set: TablesEvent["sets"][number], id: string): string {
  return set.members.filter((m) => m.servers[id] !== undefined).map((m) => m.node).join(", ");
}

// ---------------------------------------------------------------------------------------------
// check, formatFailure

/** Runs the checkers in order and gives the first failure, or ok when every one passes. */
export function check(h: History, ...checkers: Checker[]): CheckResult {
  for (const c of checkers) {
    const r = c(h);
    if (!r.ok) return r;
  }
  return OK;
}

/** One event on one line: step, virtual time, kind and the fields that identify it. */
export function formatEvent(e: HistoryEvent): string {
  const head = `#${e.step} t=${e.t}`;
  switch (e.kind) {
    case "submit":
      return `${head} submit op=${e.op} ${e.client}/${JSON.stringify(e.key)} app=${e.app} deadline=${e.deadline}${e.require.length ? ` require=${e.require.map(formatC).join("&")}` : ""}`;
    case "settle":
      return e.ok
        ? `${head} settle op=${e.op} ${e.client}/${JSON.stringify(e.key)} ok task=${e.taskId} server=${e.serverId}${e.cached ? " cached" : ""} attempts=${e.attempts}`
        : `${head} settle op=${e.op} ${e.client}/${JSON.stringify(e.key)} ${e.code} ${JSON.stringify(e.message)}`;
    case "run.start":
      return `${head} run.start ${e.server}#${e.incarnation} ${e.client}/${JSON.stringify(e.key)} task=${e.taskId} app=${e.app} attempt=${e.attempt} running=${e.running}/${e.capacity} attrs=${JSON.stringify(e.attrs)}`;
    case "run.end":
      return `${head} run.end ${e.server}#${e.incarnation} ${e.client}/${JSON.stringify(e.key)} task=${e.taskId} ${e.outcome}`;
    case "fault":
      return `${head} fault ${e.fault} ${e.nodes.join(",")}${e.detail !== undefined ? ` ${e.detail}` : ""}`;
    case "crash":
    case "restart":
    case "pause":
    case "resume":
      return `${head} ${e.kind} ${e.node}#${e.incarnation}`;
    case "attrs":
      return `${head} attrs ${e.node} ${JSON.stringify(e.before)} -> ${JSON.stringify(e.after)}`;
    case "fatal":
      return `${head} fatal ${e.node} ${JSON.stringify(e.error)}`;
    case "tables": {
      const sets = e.sets.map((s) => `${s.set}{${s.members.map((m) => `${m.node}:${Object.entries(m.servers).map(([id, x]) => `${id}@${v2(x.version)}${x.status === "alive" ? "" : `(${x.status})`}`).join(",")}`).join(" ")}}`);
      const truth = Object.entries(e.truth).map(([id, v]) => `${id}@${v2(v)}`).join(",");
      return `${head} tables ${sets.join(" ")} truth=${truth}`;
    }
  }
}

export interface FailureContext {
  /** The random seed of the run, to replay it. */
  seed?: number;
  /** The (shrunk) schedule: the choice tape, or the fast-check scheduler's report. */
  trace?: string | readonly number[];
}

/**
 * A printable block for a failed check: the checker and its message, the seed and the schedule
 * to replay it with, then the events that break the invariant, one per line. "ok" for a pass.
 */
export function formatFailure(r: CheckResult, ctx: FailureContext = {}): string {
  if (r.ok) return "ok";
  const lines = [`${r.checker} failed: ${r.message}`];
  if (ctx.seed !== undefined) lines.push(`seed: ${ctx.seed}`);
  if (ctx.trace !== undefined) lines.push(`schedule: ${typeof ctx.trace === "string" ? ctx.trace : `[${ctx.trace.join(",")}]`}`);
  lines.push(r.events.length ? `events (${r.events.length}):` : "events: none");
  for (const e of r.events) lines.push(`  ${formatEvent(e)}`);
  return lines.join("\n");
}
