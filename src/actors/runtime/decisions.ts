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

/**
 * The latest placement decisions in a bounded ring, refusals counted by error code and a
 * placement-time histogram: read through stats, never on the hot path beyond a few writes.
 */
export class DecisionLog {
  private readonly ring: DecisionRow[] = [];
  private next = 0;
  private readonly errors = new Map<string, number>();
  private readonly counts = PLACEMENT_BUCKETS_MS.map(() => 0);
  private count = 0;
  private sum = 0;

  constructor(private readonly kept = DECISIONS_KEPT) {}

  chose(at: number, taskId: string, app: string, server: ServerEntry, why: string): void {
    this.push({ at, taskId, app, server: server.id, reason: `${why}: load ${server.load} (+${server.reserved} reserved) of ${server.capacity}, power ${server.power}` });
  }

  refused(at: number, taskId: string, app: string, code: string, reason: string): void {
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
    this.push({ at, taskId, app, server: null, reason, code });
  }

  /** A refusal that is not a decision (a bad request): counted by code only. */
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

  private push(row: DecisionRow): void {
    if (this.ring.length < this.kept) this.ring.push(row);
    else this.ring[this.next] = row;
    this.next = (this.next + 1) % this.kept;
  }

  stats(): DecisionStats {
    // Newest first.
    const ordered = this.ring.length < this.kept ? [...this.ring] : [...this.ring.slice(this.next), ...this.ring.slice(0, this.next)];
    let acc = 0;
    const cumulative = this.counts.map((c) => (acc += c));
    return {
      decisions: ordered.reverse(),
      errors: Object.fromEntries(this.errors),
      placementMs: { buckets: PLACEMENT_BUCKETS_MS.filter((b) => Number.isFinite(b)), counts: cumulative, count: this.count, sum: this.sum },
    };
  }
}
