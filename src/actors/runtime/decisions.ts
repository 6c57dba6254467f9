import type { ServerEntry } from "../../state/index.js";

/** One placement decision as the dashboard shows it: what was asked, where it went (or null), and why. */
export interface DecisionRow {
  /** When the decision was made (the node's clock, ms). */
  at: number;
  taskId: string;
  app: string;
  /** The chosen server, or null when the task was refused. */
  server: string | null;
  reason: string;
  /** The error code of a refusal. */
  code?: string;
}

/** What an allocator's stats carry for the dashboard: recent decisions, refusals by code, placement time. */
export interface DecisionStats {
  decisions: DecisionRow[];
  errors: Record<string, number>;
  /** Placement time (place received → slot confirmed by the server), cumulative counts per bucket upper bound (ms): `counts` has one more entry than `buckets`, the +Inf bucket. */
  placementMs: { buckets: number[]; counts: number[]; count: number; sum: number };
}

/** Upper bounds of the placement-time buckets, ms. */
export const PLACEMENT_BUCKETS_MS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, Number.POSITIVE_INFINITY];

/** How many recent decisions are kept: enough for a screen, bounded so that a busy node keeps a fixed size. */
export const DECISIONS_KEPT = 50;

/** `chose`'s `how` for a repeat of a key sent where the key went before. */
export const REPEAT = "repeat";

/** A ring slot, reused in place: recording a decision allocates nothing (the reason is put into words when stats are read). */
interface Slot {
  at: number;
  taskId: string;
  app: string;
  key: string;
  constrained: boolean;
  /** A policy's name, or REPEAT; "" for a refusal. */
  how: string;
  server: string | null;
  load: number;
  reserved: number;
  capacity: number;
  power: number;
  code: string;
  reason: string;
}

interface DecidedTask {
  id: string;
  app: string;
  key: string;
  require: readonly unknown[];
}

/**
 * The latest placement decisions in a bounded ring, refusals counted by error code and a
 * placement-time histogram: read through stats; on the hot path only a few field writes.
 */
export class DecisionLog {
  private readonly ring: Slot[] = [];
  private next = 0;
  private readonly errors = new Map<string, number>();
  private readonly counts = PLACEMENT_BUCKETS_MS.map(() => 0);
  private count = 0;
  private sum = 0;

  constructor(private readonly kept = DECISIONS_KEPT) {}

  /** The server chosen for `task`, by the policy named `how` or (REPEAT) as a repeat of its key; its figures as of the choice. */
  chose(at: number, task: DecidedTask, server: ServerEntry, how: string): void {
    const s = this.slot();
    s.at = at;
    s.taskId = task.id;
    s.app = task.app;
    s.key = task.key;
    s.constrained = task.require.length > 0;
    s.how = how;
    s.server = server.id;
    s.load = server.load;
    s.reserved = server.reserved;
    s.capacity = server.capacity;
    s.power = server.power;
    s.code = "";
    s.reason = "";
  }

  refused(at: number, task: { id: string; app: string }, code: string, reason: string): void {
    this.error(code);
    const s = this.slot();
    s.at = at;
    s.taskId = task.id;
    s.app = task.app;
    s.how = "";
    s.server = null;
    s.code = code;
    s.reason = reason;
  }

  /** A refusal that is not a decision of its own (a lost server, a bad request): counted by code only. */
  error(code: string): void {
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
  }

  /** How long one placement took, ms. */
  timed(ms: number): void {
    const v = Math.max(0, ms);
    this.count++;
    this.sum += v;
    for (let i = 0; i < PLACEMENT_BUCKETS_MS.length; i++) {
      if (v <= (PLACEMENT_BUCKETS_MS[i] as number)) {
        this.counts[i] = (this.counts[i] as number) + 1;
        return;
      }
    }
  }

  private slot(): Slot {
    let s = this.ring[this.next];
    if (s === undefined) {
      s = { at: 0, taskId: "", app: "", key: "", constrained: false, how: "", server: null, load: 0, reserved: 0, capacity: 0, power: 0, code: "", reason: "" };
      this.ring.push(s);
    }
    this.next = (this.next + 1) % this.kept;
    return s;
  }

  stats(): DecisionStats {
    // Newest first: the slot before `next`, backwards.
    const decisions: DecisionRow[] = [];
    for (let k = 1; k <= this.ring.length; k++) {
      const s = this.ring[(this.next - k + this.kept) % this.kept];
      if (s !== undefined) decisions.push(row(s));
    }
    let acc = 0;
    const cumulative = this.counts.map((c) => (acc += c));
    return {
      decisions,
      errors: Object.fromEntries(this.errors),
      placementMs: { buckets: PLACEMENT_BUCKETS_MS.filter((b) => Number.isFinite(b)), counts: cumulative, count: this.count, sum: this.sum },
    };
  }
}

function row(s: Slot): DecisionRow {
  if (s.server === null) return { at: s.at, taskId: s.taskId, app: s.app, server: null, reason: s.reason, code: s.code };
  const why = s.how === REPEAT ? `repeat of key ${JSON.stringify(s.key)}: the server that had it` : `${s.how} among the servers offering ${s.app}${s.constrained ? " that meet its constraints" : ""}`;
  return { at: s.at, taskId: s.taskId, app: s.app, server: s.server, reason: `${why}: load ${s.load} (+${s.reserved} reserved) of ${s.capacity}, power ${s.power}` };
}
