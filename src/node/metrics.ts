import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { CounterName, HistogramName, MetricLabels, Metrics } from "../actors/runtime/context.js";
import type { Decision } from "../actors/runtime/supervision.js";
import type { Channel, TrafficCounters } from "../transport/index.js";

// The one module (with monitor.ts) that knows prom-client: roles count through `Metrics`.

/** What a node's metrics read when scraped: counters it already keeps, so the hot path pays nothing more. */
export interface ScrapeSource {
  /** The role's stats (reports received, stale, refused; its server table; running tasks). */
  stats(): Record<string, unknown>;
  traffic: TrafficCounters;
  /** Every open connection, inbound and outbound. */
  connections(): Iterable<Channel>;
}

export interface NodeMetrics {
  /** What the role counts through (its context's `metrics`). */
  readonly metrics: Metrics;
  readonly registry: Registry;
  /** The supervisor's decision on a crash of the role's actor. */
  crashed(decision: Decision): void;
}

const LATENCY_BUCKETS = [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const RUN_BUCKETS = [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300];

/** Every counter a role counts: help text and label names (a closed set each). */
const COUNTERS: { readonly [N in CounterName]: { help: string; labels: readonly string[] } } = {
  allot_tasks_placed_total: { help: "Tasks this allocator placed on a server.", labels: [] },
  allot_placements_refused_total: { help: "Placements this allocator refused, by error code.", labels: ["code"] },
  allot_decisions_total: { help: "Placement decisions (policy runs over the server table) this allocator made.", labels: [] },
  allot_tasks_run_total: { help: "Task runs this app server started.", labels: [] },
  allot_tasks_completed_total: { help: "Task runs this app server completed with a result.", labels: [] },
  allot_tasks_failed_total: { help: "Task runs this app server answered with an error, by error code.", labels: ["code"] },
};

const HISTOGRAMS: { readonly [N in HistogramName]: { help: string; buckets: number[] } } = {
  allot_placement_seconds: { help: "Time from asking an entry to place a task to its answer (client).", buckets: LATENCY_BUCKETS },
  allot_decision_seconds: { help: "Time one placement decision took inside the allocator.", buckets: LATENCY_BUCKETS },
  allot_task_run_seconds: { help: "Time a task ran on this app server, from its start to its handler's end.", buckets: RUN_BUCKETS },
};

const num = (x: unknown): number => (typeof x === "number" && Number.isFinite(x) ? x : 0);

/** Counts of `rows` (status rows of a server table) by status. */
function byStatus(rows: unknown): Map<string, number> {
  const out = new Map<string, number>([["alive", 0], ["suspect", 0], ["dead", 0]]);
  if (!Array.isArray(rows)) return out;
  for (const r of rows as Array<{ status?: unknown }>) {
    const s = typeof r.status === "string" ? r.status : "unknown";
    out.set(s, (out.get(s) ?? 0) + 1);
  }
  return out;
}

/**
 * A node's Prometheus registry: the role's counters and histograms, what is read from the node's
 * own counters at scrape time (traffic, connections, the server table, reports), supervision,
 * and prom-client's default process and Node.js metrics (event-loop lag, memory, CPU, handles)
 * under their standard names. Every series carries the node's id and role as labels.
 */
export function createNodeMetrics(node: { id: string; role: string }, source: () => ScrapeSource | undefined): NodeMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ node: node.id, role: node.role });
  collectDefaultMetrics({ register: registry });

  const counters = new Map<CounterName, Counter<string>>();
  for (const [name, c] of Object.entries(COUNTERS) as Array<[CounterName, (typeof COUNTERS)[CounterName]]>) {
    counters.set(name, new Counter({ name, help: c.help, labelNames: [...c.labels], registers: [registry] }));
  }
  const histograms = new Map<HistogramName, Histogram<string>>();
  for (const [name, h] of Object.entries(HISTOGRAMS) as Array<[HistogramName, (typeof HISTOGRAMS)[HistogramName]]>) {
    histograms.set(name, new Histogram({ name, help: h.help, buckets: h.buckets, registers: [registry] }));
  }
  const crashes = new Counter({ name: "allot_actor_crashes_total", help: "Crashes of the role's actor (a throw inside it).", registers: [registry] });
  const restarts = new Counter({ name: "allot_actor_restarts_total", help: "Crashes the supervisor resumed the actor from, within its restart budget.", registers: [registry] });

  // Read at scrape time from counters the node keeps anyway. A counter collected this way is
  // reset and set to the total it reads: prom-client has no settable counter.
  const totals = (name: string, help: string, labelName: string, read: (s: ScrapeSource) => Array<[string, number]>): void => {
    new Counter({
      name,
      help,
      labelNames: [labelName],
      registers: [registry],
      collect() {
        const s = source();
        if (!s) return;
        this.reset();
        for (const [label, v] of read(s)) this.inc({ [labelName]: label }, v);
      },
    });
  };
  totals("allot_frames_total", "WebSocket frames sent (out) and received (in), over all connections.", "direction", (s) => [["in", s.traffic.framesIn], ["out", s.traffic.framesOut]]);
  totals("allot_bytes_total", "Bytes of the frames sent (out) and received (in), over all connections.", "direction", (s) => [["in", s.traffic.bytesIn], ["out", s.traffic.bytesOut]]);
  totals("allot_reports_total", "Server reports this allocator received, by outcome: applied, stale (older than what it holds), refused.", "outcome", (s) => {
    const st = s.stats();
    if (!("reports" in st)) return [];
    return [["received", num(st["reports"])], ["stale", num(st["staleReports"])], ["refused", num(st["refusedReports"])], ["load", num(st["loadReports"])]];
  });

  new Gauge({
    name: "allot_connections",
    help: "Open connections, by the role of the node at the other end.",
    labelNames: ["peer_role"],
    registers: [registry],
    collect() {
      const s = source();
      if (!s) return;
      this.reset();
      const counts = new Map<string, number>();
      for (const ch of s.connections()) {
        const r = ch.peerRole === "" ? "unknown" : ch.peerRole;
        counts.set(r, (counts.get(r) ?? 0) + 1);
      }
      for (const [r, n] of counts) this.set({ peer_role: r }, n);
    },
  });
  new Gauge({
    name: "allot_in_flight_requests",
    help: "Requests this node sent and awaits an answer to, over all connections.",
    registers: [registry],
    collect() {
      const s = source();
      if (!s) return;
      let n = 0;
      for (const ch of s.connections()) n += ch.inFlight;
      this.set(n);
    },
  });
  new Gauge({
    name: "allot_servers",
    help: "Entries of this allocator's server table (app servers; slaves at a master), by kind and status.",
    labelNames: ["kind", "status"],
    registers: [registry],
    collect() {
      const s = source();
      if (!s) return;
      this.reset();
      const st = s.stats();
      if ("servers" in st && Array.isArray(st["servers"])) for (const [status, n] of byStatus(st["servers"])) this.set({ kind: "app", status }, n);
      if ("slaves" in st && Array.isArray(st["slaves"])) for (const [status, n] of byStatus(st["slaves"])) this.set({ kind: "slave", status }, n);
    },
  });
  new Gauge({
    name: "allot_tasks_running",
    help: "Task runs under way on this app server (or requests a slave holds).",
    registers: [registry],
    collect() {
      const s = source();
      if (!s) return;
      const st = s.stats();
      this.set(num(st["running"] ?? st["queue"]));
    },
  });

  // Monotonic, high resolution: decision times are microseconds. Not wall time: no Timers needed.
  const clock = (): number => Number(process.hrtime.bigint()) / 1e9;
  const metrics: Metrics = {
    on: true,
    clock,
    inc(name, labels, n = 1) {
      const c = counters.get(name);
      if (!c) return;
      if (labels) c.inc(labels as Record<string, string>, n);
      else c.inc(n);
    },
    observe(name, seconds, labels?: MetricLabels) {
      const h = histograms.get(name);
      if (!h) return;
      if (labels) h.observe(labels as Record<string, string>, seconds);
      else h.observe(seconds);
    },
    set() {
      // No role-set gauges yet: GaugeName is empty; what a gauge shows is read at scrape time.
    },
  };
  return {
    metrics,
    registry,
    crashed(decision) {
      crashes.inc();
      if (decision === "resume") restarts.inc();
    },
  };
}
