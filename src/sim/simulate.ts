/**
 * A deterministic discrete-event simulation of allocation with stale views (issue 5, part 4).
 * Pure: virtual time, seeded randomness, no I/O.
 *
 * The model:
 *
 * - **Servers.** N servers, each one FIFO queue served at a rate proportional to its power (an
 *   integer from 1 to 8, uniform, drawn from the seed): a task of size s (work units, mean 1)
 *   takes s × taskMs / power ms once it reaches the head of the queue (taskMs: the workload's,
 *   default DEFAULT_TASK_MS). The queue length (waiting plus in service) is the server's `load`.
 * - **Tasks.** A Poisson process at `load` × the total capacity, where the total capacity is
 *   Σ power / taskMs tasks per ms; each task goes to one of K allocators, uniformly. Sizes
 *   are exponential or bounded Pareto (`PARETO_SERVICE`), mean 1 either way.
 * - **Allocators.** a0…a{K-1}. Each has its own `ServerTable`, its own instance of the policy and
 *   decides with the same code as a tier-2 distributor: `allocate(view, task, policy, ctx)`, with
 *   a seeded `ctx.random`, the virtual clock as `ctx.now` and `ctx.allocator` = its id and the
 *   set's ids. The task reaches the chosen server at once (no network delay on the task's path).
 * - **Reports.** On every change of its queue (a task arrives, a task completes) a server sends
 *   every allocator a report: its id, `load` = queue length, `capacity` (CAPACITY_PER_POWER ×
 *   power, unless the run fixes one for all), `power` and version (1, seq) with seq counting the
 *   changes. Each arrives `delayMs` later (fixed, so reports arrive in the order they were sent)
 *   and is applied with `ServerTable.apply`.
 * - **Reservations.** `allocate` reserves a slot on the allocator's view. The allocator releases
 *   it when the report the server sent on that task's arrival reaches it — the first report from
 *   that server sent after the task got there, which is the first to count the task. The report
 *   is applied first, then the reservation released, so no decision sees the task counted twice
 *   or not at all. When `allocate` refuses (every server in the view at capacity: not seen in
 *   practice but with best-fit, which packs) the task goes to a uniformly random server, no
 *   reservation is made, and the run counts it as `refused`.
 * - **References.** `oracle`: centralised join-the-shortest-expected-completion with perfect,
 *   instantaneous knowledge of every queue length (not of task sizes): the server minimising
 *   (queue + 1) / power, ties to the lower index. `random`: a uniformly random server, no views.
 *
 * Every policy of one run sees the same servers, arrival times, task sizes and allocator per
 * task (common random numbers: each comes from its own seeded stream, and every load scales the
 * same unit-rate gaps). Response time = completion − arrival. The first `warmup` share of tasks
 * (by arrival) run but are left out of the statistics, since every run starts with empty queues.
 */
import { allocate, resolvePolicy } from "../policies/index.js";
import type { Policy, PolicyContext } from "../policies/index.js";
import type { ServerReport, Task } from "../protocol/index.js";
import { ServerTable } from "../state/index.js";
import { DelayQueue, EventHeap, IndexedMinHeap } from "./events.js";
import { PARETO_SERVICE, Rng } from "./rng.js";

/**
 * Virtual ms of work in a task of mean size on a power-1 server, unless the workload says
 * otherwise: computing tasks of about a second, so that reports 10 ms late are slightly stale
 * (a hundredth of a task) as the issue has it.
 */
export const DEFAULT_TASK_MS = 1000;
/**
 * The capacity every server reports when a run asks for a fixed one: large, so that a queue never
 * fills it in practice.
 */
export const REPORT_CAPACITY = 1000;
/**
 * By default a server reports a capacity of this many slots per unit of power (125 to 1,000), so
 * that every server accepts the same backlog in time and the free index's order (free share of
 * capacity) is an order by expected delay. Queues never fill it in practice.
 */
export const CAPACITY_PER_POWER = 125;
/** The application every simulated server offers and every task asks for. */
export const SIM_APP = "sim";
/** Rows every run has, besides the policies asked for. */
export const REFERENCES = ["oracle", "random"] as const;

export type ServiceModel = "exp" | "pareto";

/** Independent random streams of one seed. */
const STREAM = { powers: 1, gaps: 2, sizes: 3, via: 4, decide: 5, uniform: 6 } as const;

export interface WorkloadConfig {
  servers: number;
  allocators: number;
  tasks: number;
  service: ServiceModel;
  seed: number;
  /** Virtual ms of work in a task of mean size on a power-1 server (default DEFAULT_TASK_MS). */
  taskMs?: number;
  /** Each server's power; default: an integer from 1 to 8, uniform, from the seed. */
  powers?: readonly number[];
  /**
   * How the tasks split over the allocators, by weight, one per allocator; default equal. An
   * allocator that gets more than its share of the tasks is what a policy's spill-over (the
   * margin of shortest-delay) is for.
   */
  shares?: readonly number[];
}

/** What every run of one seed shares: the fleet and the task sequence. */
export interface Workload {
  readonly config: Readonly<WorkloadConfig>;
  readonly powers: Float64Array;
  readonly totalPower: number;
  /** Virtual ms of work in a task of size 1 on a power-1 server. */
  readonly taskMs: number;
  /** Gaps between arrivals at rate 1 (exponential, mean 1); a run divides them by its rate. */
  readonly gaps: Float64Array;
  /** Task sizes in work units, mean 1. */
  readonly sizes: Float64Array;
  /** The allocator each task arrives at. */
  readonly via: Uint16Array;
}

export function makeWorkload(config: WorkloadConfig): Workload {
  const { servers, allocators, tasks, service, seed } = config;
  if (!Number.isInteger(servers) || servers < 1) throw new RangeError(`servers must be an integer >= 1, got ${servers}`);
  if (!Number.isInteger(allocators) || allocators < 1 || allocators > 65535) throw new RangeError(`allocators must be an integer from 1 to 65535, got ${allocators}`);
  if (!Number.isInteger(tasks) || tasks < 1) throw new RangeError(`tasks must be an integer >= 1, got ${tasks}`);
  const taskMs = config.taskMs ?? DEFAULT_TASK_MS;
  if (!(taskMs > 0) || !Number.isFinite(taskMs)) throw new RangeError(`taskMs must be a finite number > 0, got ${taskMs}`);
  if (config.powers !== undefined && config.powers.length !== servers) throw new RangeError(`powers must list ${servers} servers, got ${config.powers.length}`);
  const shares = config.shares;
  if (shares !== undefined && (shares.length !== allocators || !shares.every((x) => x >= 0 && Number.isFinite(x)) || !shares.some((x) => x > 0))) {
    throw new RangeError(`shares must be ${allocators} finite weights >= 0, not all 0, got ${shares.join(",")}`);
  }
  const powers = new Float64Array(servers);
  const pr = new Rng(seed, STREAM.powers);
  let totalPower = 0;
  for (let j = 0; j < servers; j++) {
    const p = config.powers?.[j] ?? 1 + pr.int(8);
    if (!(p > 0) || !Number.isFinite(p)) throw new RangeError(`power of server ${j} must be > 0, got ${p}`);
    powers[j] = p;
    totalPower += p;
  }
  const gaps = new Float64Array(tasks);
  const gr = new Rng(seed, STREAM.gaps);
  for (let i = 0; i < tasks; i++) gaps[i] = gr.exponential();
  const sizes = new Float64Array(tasks);
  const sr = new Rng(seed, STREAM.sizes);
  if (service === "exp") for (let i = 0; i < tasks; i++) sizes[i] = sr.exponential();
  else for (let i = 0; i < tasks; i++) sizes[i] = PARETO_SERVICE.sample(sr);
  const via = new Uint16Array(tasks);
  const vr = new Rng(seed, STREAM.via);
  if (shares === undefined) for (let i = 0; i < tasks; i++) via[i] = vr.int(allocators);
  else {
    const total = shares.reduce((a, b) => a + b, 0);
    const upTo = shares.map((_, k) => shares.slice(0, k + 1).reduce((a, b) => a + b, 0) / total);
    for (let i = 0; i < tasks; i++) {
      const u = vr.next();
      let k = 0;
      while (k < allocators - 1 && u >= (upTo[k] as number)) k++;
      via[i] = k;
    }
  }
  return { config: { ...config }, powers, totalPower, taskMs, gaps, sizes, via };
}

export interface RunConfig {
  /** Offered load, a share of the total capacity: 0 < load < 1. */
  load: number;
  /** How late each report reaches the allocators, virtual ms (default 10). */
  delayMs?: number;
  /** Share of the tasks, first by arrival, left out of the statistics (default 0.1). */
  warmup?: number;
  /**
   * The capacity every server reports; default: CAPACITY_PER_POWER × its power, the same backlog
   * in time on every server.
   */
  capacity?: number;
  /** Called once every task has completed and every report arrived, with the allocators' views (none for the references). */
  atEnd?: (views: readonly ServerTable[]) => void;
}

export interface PolicyResult {
  policy: string;
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  /** Tasks in the statistics (after the warm-up). */
  measured: number;
  /** Tasks `allocate` refused (sent to a random server instead). */
  refused: number;
  /** Virtual time of the last completion, ms. */
  horizonMs: number;
  /** The longest queue any server had. */
  maxQueue: number;
  /** Report applications (reports × allocators); 0 for the references. */
  applies: number;
}

/** The task every decision places: one application, no constraints or preferences. */
const TASK: Task = { id: "sim", key: "sim", app: SIM_APP, deadline: 0, require: [], clientAttrs: {}, prefs: {}, payload: null };
const APPS = [SIM_APP];
const ATTRS = {};

/** The offered arrival rate of a run, tasks per virtual ms. */
export function arrivalRate(w: Workload, load: number): number {
  return (load * w.totalPower) / w.taskMs;
}

/**
 * One policy over the workload at one load: `oracle`, `random` (the references) or a registered
 * policy spec (`NAME[:k=v,…]`, which throws a TypeError when unknown or malformed).
 */
export function runPolicy(w: Workload, spec: string, run: RunConfig): PolicyResult {
  const { load } = run;
  const delayMs = run.delayMs ?? 10;
  const warmup = run.warmup ?? 0.1;
  const fixedCapacity = run.capacity;
  if (!(load > 0 && load < 1)) throw new RangeError(`load must be > 0 and < 1, got ${load}`);
  if (!(delayMs >= 0) || !Number.isFinite(delayMs)) throw new RangeError(`delayMs must be a finite number >= 0, got ${delayMs}`);
  if (!(warmup >= 0 && warmup < 1)) throw new RangeError(`warmup must be >= 0 and < 1, got ${warmup}`);
  if (fixedCapacity !== undefined && (!Number.isInteger(fixedCapacity) || fixedCapacity < 1)) throw new RangeError(`capacity must be an integer >= 1, got ${fixedCapacity}`);

  const N = w.powers.length;
  const T = w.sizes.length;
  const K = w.config.allocators;
  const powers = w.powers;
  const sizes = w.sizes;
  const gaps = w.gaps;
  const via = w.via;
  const taskMs = w.taskMs;
  const capacities = Array.from(powers, (p) => fixedCapacity ?? Math.max(1, Math.round(CAPACITY_PER_POWER * p)));
  const gapScale = 1 / arrivalRate(w, load);

  const mode = spec === "oracle" ? 0 : spec === "random" ? 1 : 2;
  // Views: one table and one policy instance per allocator, every server known at load 0.
  const views: ServerTable[] = [];
  const policies: Policy[] = [];
  const ids: string[] = [];
  const urls: string[] = [];
  const indexOf = new Map<string, number>();
  const report: ServerReport = { id: "", url: "", apps: APPS, capacity: 1, power: 1, load: 0, attrs: ATTRS, version: [1, 0] };
  if (mode === 2) {
    for (let j = 0; j < N; j++) {
      ids.push(`s${j}`);
      urls.push(`sim://s${j}`);
      indexOf.set(`s${j}`, j);
    }
    for (let k = 0; k < K; k++) {
      policies.push(resolvePolicy(spec));
      const t = new ServerTable();
      for (let j = 0; j < N; j++) t.apply({ id: ids[j] as string, url: urls[j] as string, apps: APPS, capacity: capacities[j] as number, power: powers[j] as number, load: 0, attrs: ATTRS, version: [1, 0] }, 0);
      views.push(t);
    }
  }
  const decide = new Rng(w.config.seed, STREAM.decide);
  const uniform = new Rng(w.config.seed, STREAM.uniform);
  let now = 0;
  // Allocators a0…a{K-1}, each told who it is among the set, as a distributor is.
  const members = Array.from({ length: K }, (_, k) => `a${k}`);
  const random = (): number => decide.next();
  const clock = (): number => now;
  const ctxs: PolicyContext[] = members.map((id) => ({ random, now: clock, allocator: { id, members } }));

  // Servers: FIFO queues as linked lists of task indices.
  const qlen = new Int32Array(N);
  const seq = new Int32Array(N);
  const head = new Int32Array(N).fill(-1);
  const tail = new Int32Array(N).fill(-1);
  const next = new Int32Array(T);
  const arrival = new Float64Array(T);
  const response = new Float64Array(T);
  const completions = new EventHeap(Math.min(N, 1 << 16));
  // Reports in flight: server, load, seq, the allocator whose task's arrival caused it (-1: a completion).
  const reports = new DelayQueue(4, 1 << 12);
  const oracle = mode === 0 ? new IndexedMinHeap(Array.from(powers, (p) => 1 / p)) : undefined;
  let maxQueue = 0;
  let refused = 0;
  let applies = 0;
  let horizon = 0;

  const changed = (j: number, q: number, origin: number): void => {
    if (mode === 2) {
      const s = (seq[j] as number) + 1;
      seq[j] = s;
      reports.push(now + delayMs, j, q, s, origin);
    }
    else if (oracle) oracle.set(j, (q + 1) / (powers[j] as number));
  };

  let ai = 0;
  let nextArrival = T > 0 ? (gaps[0] as number) * gapScale : Infinity;
  for (;;) {
    const tc = completions.peekTime();
    const tr = reports.peekTime();
    // Equal times: completions, then reports, then arrivals.
    if (tc <= tr && tc <= nextArrival) {
      if (tc === Infinity) break;
      now = tc;
      const j = completions.pop();
      const i = head[j] as number;
      response[i] = now - (arrival[i] as number);
      horizon = now;
      const h = next[i] as number;
      head[j] = h;
      const q = (qlen[j] as number) - 1;
      qlen[j] = q;
      if (q > 0) completions.push(now + ((sizes[h] as number) * taskMs) / (powers[j] as number), j);
      else tail[j] = -1;
      changed(j, q, -1);
    } else if (tr <= nextArrival) {
      now = tr;
      const j = reports.field(0);
      const origin = reports.field(3);
      report.id = ids[j] as string;
      report.url = urls[j] as string;
      report.power = powers[j] as number;
      report.capacity = capacities[j] as number;
      report.load = reports.field(1);
      report.version = [1, reports.field(2)]; // the table keeps this array: one per report
      reports.shift();
      for (let k = 0; k < K; k++) {
        const view = views[k] as ServerTable;
        view.apply(report, now);
        if (k === origin) view.release(report.id);
      }
      applies += K;
    } else {
      now = nextArrival;
      const i = ai++;
      nextArrival = ai < T ? now + (gaps[ai] as number) * gapScale : Infinity;
      arrival[i] = now;
      let j: number;
      let origin = -1;
      if (mode === 0) j = (oracle as IndexedMinHeap).min();
      else if (mode === 1) j = uniform.int(N);
      else {
        const k = via[i] as number;
        const a = allocate(views[k] as ServerTable, TASK, policies[k] as Policy, ctxs[k] as PolicyContext);
        if (a.ok) {
          j = indexOf.get(a.server.id) as number;
          origin = k;
        } else {
          refused++;
          j = uniform.int(N);
        }
      }
      // The task reaches server j.
      next[i] = -1;
      const t = tail[j] as number;
      if (t < 0) head[j] = i;
      else next[t] = i;
      tail[j] = i;
      const q = (qlen[j] as number) + 1;
      qlen[j] = q;
      if (q > maxQueue) maxQueue = q;
      if (q === 1) completions.push(now + ((sizes[i] as number) * taskMs) / (powers[j] as number), j);
      changed(j, q, origin);
    }
  }

  run.atEnd?.(views);
  const from = Math.min(T - 1, Math.floor(warmup * T));
  const measured = response.subarray(from).sort();
  let sum = 0;
  for (let k = 0; k < measured.length; k++) sum += measured[k] as number;
  return {
    policy: spec,
    meanMs: sum / measured.length,
    p50Ms: quantile(measured, 0.5),
    p99Ms: quantile(measured, 0.99),
    p999Ms: quantile(measured, 0.999),
    maxMs: measured[measured.length - 1] as number,
    measured: measured.length,
    refused,
    horizonMs: horizon,
    maxQueue,
    applies,
  };
}

/** Nearest-rank quantile of sorted values. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  const k = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[k] as number;
}

/** The rows of a run, in order: the references, then each policy asked for (references and repeats dropped). */
export function rowSpecs(policies: readonly string[]): string[] {
  const out: string[] = [...REFERENCES];
  for (const p of policies) if (!out.includes(p)) out.push(p);
  return out;
}

export interface SimConfig extends WorkloadConfig {
  loads: readonly number[];
  policies: readonly string[];
  delayMs?: number;
  warmup?: number;
  capacity?: number;
}

export interface LoadResult {
  load: number;
  policies: PolicyResult[];
}

/** Every row at every load, over one workload. */
export function simulate(config: SimConfig): LoadResult[] {
  const w = makeWorkload(config);
  return config.loads.map((load) => {
    const run: RunConfig = { load };
    if (config.delayMs !== undefined) run.delayMs = config.delayMs;
    if (config.warmup !== undefined) run.warmup = config.warmup;
    if (config.capacity !== undefined) run.capacity = config.capacity;
    return { load, policies: rowSpecs(config.policies).map((p) => runPolicy(w, p, run)) };
  });
}
