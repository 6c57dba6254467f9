import type { DecisionRow } from "../../actors/runtime/decisions.js";

/**
 * The dashboard's view of an allocator (a tier-2 distributor or a master), built from nothing but
 * its `stats()`: the fleet, recent decisions, errors by code, and a history of tasks per second
 * and placement p50/p99 sampled once a second.
 */

export interface FleetRow {
  id: string;
  url: string;
  status: string;
  load: number;
  reserved: number;
  capacity: number;
  power: number;
  apps: string[];
  attrs: Record<string, unknown>;
  ageMs: number;
}

/** A decision as the page shows it: the allocator's own row, read back from its stats. */
export type DecisionView = DecisionRow;

export interface History {
  /** Sample times, seconds since the epoch (uPlot's x axis). */
  t: number[];
  tps: number[];
  /** Placement time quantiles over each second, ms; null where nothing was placed. */
  p50: Array<number | null>;
  p99: Array<number | null>;
}

export interface DashboardSnapshot {
  node: string;
  role: string;
  policy: string;
  at: number;
  servers: FleetRow[];
  slaves: FleetRow[];
  placed: number;
  refused: number;
  errors: Record<string, number>;
  decisions: DecisionView[];
  history: History;
}

/** What the dashboard reads: a node's stats (a RunningNode is one). */
export interface DashboardSource {
  stats(): Record<string, unknown>;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const num = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) ? v : 0);
const str = (v: unknown): string => (typeof v === "string" ? v : "");
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : []);
const nums = (v: unknown): number[] => (Array.isArray(v) ? v.map(num) : []);

function fleet(v: unknown): FleetRow[] {
  if (!Array.isArray(v)) return [];
  return v.filter(isRecord).map((r) => ({
    id: str(r.id),
    url: str(r.url),
    status: str(r.status),
    load: num(r.load),
    reserved: num(r.reserved),
    capacity: num(r.capacity),
    power: num(r.power),
    apps: strings(r.apps),
    attrs: isRecord(r.attrs) ? r.attrs : {},
    ageMs: num(r.ageMs),
  }));
}

function decisions(v: unknown, max: number): DecisionView[] {
  if (!Array.isArray(v)) return [];
  return v
    .filter(isRecord)
    .slice(0, max)
    .map((d) => ({ at: num(d.at), taskId: str(d.taskId), app: str(d.app), server: typeof d.server === "string" ? d.server : null, reason: str(d.reason), ...(typeof d.code === "string" ? { code: d.code } : {}) }));
}

function errorCounts(v: unknown): Record<string, number> {
  if (!isRecord(v)) return {};
  return Object.fromEntries(Object.entries(v).map(([k, n]) => [k, num(n)]));
}

/** A placement-time histogram as the stats carry it: bucket bounds and cumulative counts (one more, +Inf). */
export interface Histogram {
  buckets: number[];
  counts: number[];
}

export function histogramOf(v: unknown): Histogram {
  if (!isRecord(v)) return { buckets: [], counts: [] };
  return { buckets: nums(v.buckets), counts: nums(v.counts) };
}

/**
 * The q-quantile of the observations between two cumulative histograms (as Prometheus's
 * histogram_quantile: linear within the bucket it falls in; the +Inf bucket answers its lower
 * bound). Null when nothing was observed between them.
 */
export function quantileBetween(before: Histogram, after: Histogram, q: number): number | null {
  const counts = after.counts.map((c, i) => c - (before.counts[i] ?? 0));
  const total = counts[counts.length - 1] ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (let i = 0; i < counts.length; i++) {
    const upper = after.buckets[i];
    const c = counts[i] as number;
    if (c >= rank) {
      if (upper === undefined) return lower;
      const inBucket = c - below;
      return inBucket <= 0 ? upper : lower + ((upper - lower) * (rank - below)) / inBucket;
    }
    below = c;
    lower = upper ?? lower;
  }
  return lower;
}

/** The history kept: samples, one a second. */
export const HISTORY_SECONDS = 300;
/** The decisions a snapshot carries. */
export const DECISIONS_SHOWN = 20;

/** Samples a source once a second into a bounded history and builds snapshots of it. */
export class Sampler {
  private readonly history: History = { t: [], tps: [], p50: [], p99: [] };
  private last: { at: number; placed: number; hist: Histogram } | undefined;

  constructor(
    private readonly source: DashboardSource,
    private readonly keep = HISTORY_SECONDS,
  ) {}

  /** Takes one history sample at `now` (ms) and returns the stats it read. */
  sample(now: number): Record<string, unknown> {
    const stats = this.source.stats();
    const placed = num(stats.placed);
    const hist = histogramOf(stats.placementMs);
    if (this.last !== undefined && now > this.last.at) {
      const h = this.history;
      h.t.push(now / 1000);
      h.tps.push(Math.max(0, ((placed - this.last.placed) * 1000) / (now - this.last.at)));
      h.p50.push(quantileBetween(this.last.hist, hist, 0.5));
      h.p99.push(quantileBetween(this.last.hist, hist, 0.99));
      if (h.t.length > this.keep) for (const series of [h.t, h.tps, h.p50, h.p99]) series.shift();
    }
    this.last = { at: now, placed, hist };
    return stats;
  }

  snapshot(now: number, stats: Record<string, unknown> = this.source.stats()): DashboardSnapshot {
    const h = this.history;
    return {
      node: str(stats.id),
      role: str(stats.role),
      policy: str(stats.policy),
      at: now,
      servers: fleet(stats.servers),
      slaves: fleet(stats.slaves),
      placed: num(stats.placed),
      refused: num(stats.refused),
      errors: errorCounts(stats.errors),
      decisions: decisions(stats.decisions, DECISIONS_SHOWN),
      history: { t: [...h.t], tps: [...h.tps], p50: [...h.p50], p99: [...h.p99] },
    };
  }
}

/** What changes the picture (not the ages, which tick on by themselves). */
export function fingerprint(s: DashboardSnapshot): string {
  const rows = (r: FleetRow[]): unknown[] => r.map((e) => [e.id, e.status, e.load, e.reserved, e.capacity, e.power, e.apps, e.attrs]);
  return JSON.stringify([rows(s.servers), rows(s.slaves), s.placed, s.refused, s.errors, s.decisions[0]?.taskId ?? null]);
}
