import { readFileSync } from "node:fs";

// The fault suite's ledger: what the client was asked and answered, what the app servers ran,
// and the checker of the rules over them. The checker is pure, so it is tested on
// hand-made ledgers; the recorders feed it from a real run.

/** A task's answer as the client reported it. */
export type Outcome =
  | { kind: "result"; at: number; taskId: string; serverId: string; attempts: number; cached: boolean }
  | { kind: "error"; at: number; code: string; message: string };

/** One task submitted, from the client's side. */
export interface TaskEntry {
  client: string;
  key: string;
  submittedAt: number;
  deadline: number;
  /** Every answer the client reported for it: exactly one is right. */
  outcomes: Outcome[];
}

/** One handler run on an app server, as its handler module logged it. */
export interface RunEntry {
  server: string;
  /** The server process's incarnation: a restarted server is a new one. */
  incarnation: string;
  client: string;
  key: string;
  taskId: string;
  attempt: number;
  start: number;
  /** Absent when the run never ended (the process was killed mid-run). */
  end?: number;
  /** Whether the handler returned (false: it threw, or was aborted). */
  ok?: boolean;
}

/** What the scenario did or saw: from `at`, `server`'s incarnation then running counts as failed. */
export interface FailureEvent {
  server: string;
  at: number;
  what: string;
  /**
   * The process killed, for a kill: every run of its incarnation counts as failed from `at`,
   * one that started a moment after `at` too (it started before the signal landed: a loaded
   * machine delivers it late, and a killed process starts nothing after its death).
   */
  pid?: number;
}

export type Rule = "one-outcome" | "early-error" | "reported-twice" | "ran-twice" | "unjustified-rerun" | "over-capacity";

export interface Violation {
  rule: Rule;
  key: string;
  detail: string;
}

export interface LedgerInput {
  tasks: readonly TaskEntry[];
  runs: readonly RunEntry[];
  failures: readonly FailureEvent[];
  /** Each server's capacity (tasks at once); a server not named is not checked. */
  capacity: Readonly<Record<string, number>>;
  /** How far before its deadline a TIMEOUT may land (timers round to the millisecond). Default 5 ms. */
  slackMs?: number;
}

/** A run of a key after its first, on another server or incarnation, and whether a failure explains it. */
export interface ReExecution {
  key: string;
  first: RunEntry;
  again: RunEntry;
  justified: boolean;
}

const runKey = (r: RunEntry): string => `${r.client}\u0000${r.key}`;
const where = (r: RunEntry): string => `${r.server}/${r.incarnation}`;

function byKey(runs: readonly RunEntry[]): Map<string, RunEntry[]> {
  const out = new Map<string, RunEntry[]>();
  for (const r of runs) {
    const list = out.get(runKey(r)) ?? [];
    list.push(r);
    out.set(runKey(r), list);
  }
  for (const list of out.values()) list.sort((a, b) => a.start - b.start);
  return out;
}

/**
 * Whether `earlier` had failed by `t`: its run ended in failure, or its server failed after it
 * started (even once it had finished: the result may have died with the server, at-least-once).
 */
function failedBy(earlier: RunEntry, t: number, failures: readonly FailureEvent[]): boolean {
  if (earlier.end !== undefined && earlier.ok === false && earlier.end <= t) return true;
  return failures.some((f) => f.server === earlier.server && f.at <= t && (f.pid !== undefined ? ofProcess(earlier, f.pid) : f.at >= earlier.start));
}

/** Whether `r` ran in process `pid`: an incarnation is `pid-start` (test/helpers/ledger-handlers.mjs). */
const ofProcess = (r: RunEntry, pid: number): boolean => r.incarnation.startsWith(`${pid}-`);

/**
 * Every run of a key after its first on a different server or incarnation. It is justified when
 * each earlier run elsewhere had failed (or its server had) by the time it started.
 */
export function reExecutions(runs: readonly RunEntry[], failures: readonly FailureEvent[]): ReExecution[] {
  const out: ReExecution[] = [];
  for (const list of byKey(runs).values()) {
    const first = list[0];
    if (!first) continue;
    for (const again of list.slice(1)) {
      const elsewhere = list.filter((r) => r.start <= again.start && r !== again && where(r) !== where(again));
      if (elsewhere.length === 0) continue;
      out.push({ key: again.key, first, again, justified: elsewhere.every((r) => failedBy(r, again.start, failures)) });
    }
  }
  return out;
}

/**
 * The rules, over one scenario's ledger: every submitted task ends with exactly one
 * answer, an error only once its deadline passed; no answer reported twice; no handler ran twice
 * for one (client, key) on one server incarnation unless its earlier run there failed; a run on
 * another server only after the first failed or its server did; no server over its capacity.
 * Returns the violations, empty when the run kept every rule.
 */
export function checkLedger(input: LedgerInput): Violation[] {
  const slack = input.slackMs ?? 5;
  const out: Violation[] = [];
  for (const t of input.tasks) {
    if (t.outcomes.length === 0) out.push({ rule: "one-outcome", key: t.key, detail: "never answered (lost)" });
    if (t.outcomes.length > 1) out.push({ rule: "reported-twice", key: t.key, detail: `${t.outcomes.length} answers: ${t.outcomes.map((o) => o.kind).join(", ")}` });
    for (const o of t.outcomes) {
      if (o.kind === "error" && o.at < t.deadline - slack) out.push({ rule: "early-error", key: t.key, detail: `${o.code} ${t.deadline - o.at} ms before its deadline: ${o.message}` });
    }
  }
  for (const list of byKey(input.runs).values()) {
    const seen = new Map<string, RunEntry>();
    for (const r of list) {
      const before = seen.get(where(r));
      if (before && !(before.ok === false && before.end !== undefined && before.end <= r.start)) {
        out.push({ rule: "ran-twice", key: r.key, detail: `on ${where(r)} at ${before.start} and at ${r.start}` });
      }
      seen.set(where(r), r);
    }
  }
  for (const x of reExecutions(input.runs, input.failures)) {
    if (!x.justified) out.push({ rule: "unjustified-rerun", key: x.key, detail: `ran on ${where(x.first)} at ${x.first.start}, again on ${where(x.again)} at ${x.again.start} with no failure between` });
  }
  out.push(...overCapacity(input.runs, input.capacity));
  return out;
}

/** Runs at once per server incarnation, from starts and ends; a run with no end runs on. */
function overCapacity(runs: readonly RunEntry[], capacity: Readonly<Record<string, number>>): Violation[] {
  const out: Violation[] = [];
  const groups = new Map<string, RunEntry[]>();
  for (const r of runs) groups.set(where(r), [...(groups.get(where(r)) ?? []), r]);
  for (const [at, list] of groups) {
    const cap = capacity[(list[0] as RunEntry).server];
    if (cap === undefined) continue;
    // Ends sort before starts at the same instant: a slot freed and taken in one millisecond is not two.
    const events = list.flatMap((r) => [{ t: r.start, d: 1, r }, ...(r.end === undefined ? [] : [{ t: r.end, d: -1, r }])]).sort((a, b) => a.t - b.t || a.d - b.d);
    let running = 0;
    let worst = 0;
    let when: RunEntry | undefined;
    for (const e of events) {
      running += e.d;
      if (running > worst) [worst, when] = [running, e.r];
    }
    if (worst > cap && when) out.push({ rule: "over-capacity", key: when.key, detail: `${at} ran ${worst} at once, capacity ${cap}` });
  }
  return out;
}

/** The client side of a ledger: one entry per submit, answers appended as they come. */
export class ClientLedger {
  readonly tasks: TaskEntry[] = [];
  private readonly byKey = new Map<string, TaskEntry>();

  constructor(private readonly now: () => number = Date.now) {}

  submitted(client: string, key: string, deadline: number): void {
    const t: TaskEntry = { client, key, submittedAt: this.now(), deadline, outcomes: [] };
    this.tasks.push(t);
    this.byKey.set(key, t);
  }

  answered(key: string, outcome: Outcome): void {
    const t = this.byKey.get(key);
    if (!t) throw new Error(`answer for a key never submitted: ${key}`);
    t.outcomes.push(outcome);
  }

  /** Submitted and not answered yet. */
  pending(): number {
    return this.tasks.filter((t) => t.outcomes.length === 0).length;
  }
}

interface RunLine {
  ev: "start" | "end";
  server: string;
  inc: string;
  taskId: string;
  key: string;
  attempt: number;
  t: number;
  ok?: boolean;
}

function isRunLine(x: unknown): x is RunLine {
  if (typeof x !== "object" || x === null) return false;
  const o = x as Record<string, unknown>;
  return (o.ev === "start" || o.ev === "end") && typeof o.server === "string" && typeof o.inc === "string" && typeof o.taskId === "string" && typeof o.key === "string" && typeof o.t === "number";
}

/**
 * The client a task id belongs to: ids are `CLIENT-TIME-SEQ` (see the client role), and the
 * handler sees only the id, so the client is read off it.
 */
export const clientOfTaskId = (taskId: string): string => taskId.split("-").slice(0, -2).join("-");

/** Reads the runs the ledger handler module appended (one JSON line per start and per end); a torn last line is skipped. */
export function readRuns(file: string): RunEntry[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return [];
  }
  const open = new Map<string, RunEntry>();
  const runs: RunEntry[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    let x: unknown;
    try {
      x = JSON.parse(line);
    } catch {
      continue;
    }
    if (!isRunLine(x)) continue;
    const id = `${x.server}\u0000${x.inc}\u0000${x.taskId}\u0000${x.attempt}`;
    if (x.ev === "start") {
      const r: RunEntry = { server: x.server, incarnation: x.inc, client: clientOfTaskId(x.taskId), key: x.key, taskId: x.taskId, attempt: x.attempt, start: x.t };
      open.set(id, r);
      runs.push(r);
    } else {
      const r = open.get(id);
      if (!r) continue;
      open.delete(id);
      r.end = x.t;
      r.ok = x.ok === true;
    }
  }
  return runs;
}
