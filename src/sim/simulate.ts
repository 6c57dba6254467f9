/**
 * A deterministic discrete-event simulation of allocation with stale views (issue 5, part 4).
 * Pure: virtual time, seeded randomness, no I/O.
 *
 * The model:
 *
 * - **Servers.** N servers, each one FIFO queue served at a rate proportional to its power (drawn
 *   uniformly from `powerChoices`, default the integers 1 to 8, from the seed; or given by a
 *   `fleet`, groups of servers with their power, applications and attributes): a task of size s
 *   (work units, mean 1) takes s × taskMs / power ms once it reaches the head of the queue
 *   (taskMs: the workload's, default DEFAULT_TASK_MS). The queue length (waiting plus in service)
 *   is the server's `load`. Every task asks for the fleet's application with its constraints;
 *   the servers that offer it and meet them are the eligible ones, and only they get tasks.
 * - **Tasks.** A Poisson process at `load` × the total capacity, where the total capacity is
 *   Σ power / taskMs tasks per ms over the eligible servers; each task goes to one of K
 *   allocators, uniformly or by `shares`. Sizes are exponential, bounded Pareto
 *   (`PARETO_SERVICE`) or all 1, mean 1 in every case. Tasks are drawn as they arrive and live in
 *   recycled slots, so a run holds the tasks in flight, not all of them.
 * - **Allocators.** a0…a{K-1}. Each has its own `ServerTable`, its own instance of the policy and
 *   decides with the same code as a tier-2 distributor: `allocate(view, task, policy, ctx)`, with
 *   a seeded `ctx.random`, the virtual clock as `ctx.now` and `ctx.allocator` = its id and the
 *   set's ids. The task reaches the chosen server at once (no network delay on the task's path).
 * - **Reports.** On every change of its queue (a task arrives, a task completes) a server sends
 *   every allocator a report: its id, `load` = queue length, `capacity` (CAPACITY_PER_POWER ×
 *   power, unless the run fixes one for all), `power` and version (1, seq) with seq counting the
 *   changes. Each arrives `delayMs` later (fixed, so reports arrive in the order they were sent)
 *   and is taken with `ServerTable.confirm`, as tier 2 takes the load an acknowledgement carries.
 * - **Reservations.** `allocate` reserves a slot on the allocator's view. The allocator releases
 *   it when the report the server sent on that task's arrival reaches it — the first report from
 *   that server sent after the task got there, which is the first to count the task. The load and
 *   the release are taken in one step, so no decision sees the task counted twice or not at all. When `allocate` refuses (every server in the view at capacity: not seen in
 *   practice but with best-fit, which packs) the task goes to a uniformly random server, no
 *   reservation is made, and the run counts it as `refused`.
 * - **References.** `oracle`: centralised join-the-shortest-expected-completion with perfect,
 *   instantaneous knowledge of every queue length (not of task sizes): the server minimising
 *   (queue + 1) / power among the eligible, ties to the lower index. `random`: a uniformly random
 *   eligible server, no views.
 *
 * Every policy of one run sees the same servers, arrival times, task sizes and allocator per
 * task (common random numbers: each comes from its own seeded stream, and every load scales the
 * same unit-rate gaps). Response time = completion − arrival. The first `warmup` share of tasks
 * (by arrival) run but are left out of the statistics, since every run starts with empty queues;
 * or, with `warmMs`, a warm-up of arrivals from streams of their own runs first for that many
 * virtual ms under the row's own policy, so the measured tasks find the fleet near its steady state.
 */
import { allocate, compileRequire, resolvePolicy } from "../policies/index.js";
import type { Policy, PolicyContext } from "../policies/index.js";
import type { Attrs, ServerReport, Task } from "../protocol/index.js";
import { ServerTable } from "../state/index.js";
import type { ServerEntry } from "../state/index.js";
import { DelayQueue, EventHeap, IndexedMinHeap } from "./events.js";
import { FleetError, SIM_APP } from "./fleet.js";
import type { Fleet } from "./fleet.js";
import { Rng } from "./rng.js";
import { TaskSlots } from "./task-slots.js";
import { TaskStream } from "./task-stream.js";
import type { ServiceModel } from "./task-stream.js";

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
/** Rows every run has, besides the policies asked for. */
export const REFERENCES = ["oracle", "random"] as const;
/** The powers servers are drawn from unless the workload says otherwise. */
export const DEFAULT_POWERS: readonly number[] = [1, 2, 3, 4, 5, 6, 7, 8];

/** Independent random streams of one seed. */
const STREAM = { powers: 1, gaps: 2, sizes: 3, via: 4, decide: 5, uniform: 6, warmGaps: 7, warmSizes: 8, warmVia: 9 } as const;
const MAIN_STREAMS = { gaps: STREAM.gaps, sizes: STREAM.sizes, via: STREAM.via };
const WARM_STREAMS = { gaps: STREAM.warmGaps, sizes: STREAM.warmSizes, via: STREAM.warmVia };

export interface WorkloadConfig {
  servers: number;
  allocators: number;
  tasks: number;
  service: ServiceModel;
  seed: number;
  /** Virtual ms of work in a task of mean size on a power-1 server (default DEFAULT_TASK_MS). */
  taskMs?: number;
  /** Each server's power; default: drawn uniformly from `powerChoices`. */
  powers?: readonly number[];
  /** The powers each server's is drawn from, uniformly, from the seed (default DEFAULT_POWERS; [1]: a homogeneous fleet). */
  powerChoices?: readonly number[];
  /**
   * The whole fleet (groups of servers with their power, applications and attributes) and what
   * every task asks for; `servers` must then be the fleet's count, and `powers`/`powerChoices` are not read.
   */
  fleet?: Fleet;
  /**
   * How the tasks split over the allocators, by weight, one per allocator; default equal. An
   * allocator that gets more than its share of the tasks is what a policy's spill-over (the
   * margin of shortest-delay) is for.
   */
  shares?: readonly number[];
}

/** What a group of servers offers: every server of the group alike. */
export interface ServerKind {
  readonly apps: readonly string[];
  readonly attrs: Attrs;
}

/** What every run of one seed shares: the fleet and the task sequence. */
export interface Workload {
  readonly config: Readonly<WorkloadConfig>;
  readonly powers: Float64Array;
  /** Each server's kind (applications and attributes), an index into `kinds`. */
  readonly kindOf: Uint32Array;
  readonly kinds: readonly ServerKind[];
  /** The task every decision places (the fleet's application and constraints). */
  readonly task: Task;
  /** The servers a task may go to: offering its application and meeting its constraints. */
  readonly eligible: Int32Array;
  /** Total power of the eligible servers: the capacity a load is a share of. */
  readonly totalPower: number;
  /** Virtual ms of work in a task of size 1 on a power-1 server. */
  readonly taskMs: number;
  /** Gaps between arrivals at rate 1 (exponential, mean 1); a run divides them by its rate. Drawn when first read. */
  readonly gaps: Float64Array;
  /** Task sizes in work units, mean 1. Drawn when first read. */
  readonly sizes: Float64Array;
  /** The allocator each task arrives at. Drawn when first read. */
  readonly via: Uint16Array;
}

function checkPowers(powers: readonly number[], what: string): void {
  for (const p of powers) if (!(p > 0) || !Number.isFinite(p)) throw new RangeError(`${what} must be finite numbers > 0, got ${p}`);
}

export function makeWorkload(config: WorkloadConfig): Workload {
  const { servers, allocators, tasks, service, seed } = config;
  if (!Number.isInteger(servers) || servers < 1) throw new RangeError(`servers must be an integer >= 1, got ${servers}`);
  if (!Number.isInteger(allocators) || allocators < 1 || allocators > 65535) throw new RangeError(`allocators must be an integer from 1 to 65535, got ${allocators}`);
  if (!Number.isInteger(tasks) || tasks < 1) throw new RangeError(`tasks must be an integer >= 1, got ${tasks}`);
  const taskMs = config.taskMs ?? DEFAULT_TASK_MS;
  if (!(taskMs > 0) || !Number.isFinite(taskMs)) throw new RangeError(`taskMs must be a finite number > 0, got ${taskMs}`);
  if (config.powers !== undefined && config.powers.length !== servers) throw new RangeError(`powers must list ${servers} servers, got ${config.powers.length}`);
  const choices = config.powerChoices ?? DEFAULT_POWERS;
  if (choices.length === 0) throw new RangeError("powerChoices must list at least one power");
  checkPowers(choices, "powerChoices");
  const shares = config.shares;
  // A finite total too: TaskStream divides by it, and Infinity made every cumulative share but the first NaN.
  if (shares !== undefined && (shares.length !== allocators || !shares.every((x) => x >= 0 && Number.isFinite(x)) || !shares.some((x) => x > 0) || !Number.isFinite(shares.reduce((a, b) => a + b, 0)))) {
    throw new RangeError(`shares must be ${allocators} finite weights >= 0, not all 0, with a finite total, got ${shares.join(",")}`);
  }
  const powers = new Float64Array(servers);
  const kindOf = new Uint32Array(servers);
  let kinds: ServerKind[];
  const fleet = config.fleet;
  if (fleet !== undefined) {
    const count = fleet.groups.reduce((a, g) => a + g.count, 0);
    if (count !== servers) throw new RangeError(`servers must be the fleet's ${count}, got ${servers}`);
    kinds = fleet.groups.map((g) => ({ apps: g.apps, attrs: g.attrs }));
    let j = 0;
    fleet.groups.forEach((g, gi) => {
      checkPowers([g.power], "fleet powers");
      for (let c = 0; c < g.count; c++, j++) {
        powers[j] = g.power;
        kindOf[j] = gi;
      }
    });
  } else {
    kinds = [{ apps: [SIM_APP], attrs: {} }];
    const pr = new Rng(seed, STREAM.powers);
    for (let j = 0; j < servers; j++) {
      // A draw per server even from a single choice, so a seed gives the same stream whatever the list.
      const drawn = choices[pr.int(choices.length)] as number;
      const p = config.powers?.[j] ?? drawn;
      if (!(p > 0) || !Number.isFinite(p)) throw new RangeError(`power of server ${j} must be > 0, got ${p}`);
      powers[j] = p;
    }
  }
  const task: Task = { id: "sim", key: "sim", app: fleet?.app ?? SIM_APP, deadline: 0, require: [...(fleet?.require ?? [])], clientAttrs: {}, prefs: {}, payload: null };
  const { eligible, totalPower } = eligibleServers(powers, kindOf, kinds, task);
  // A fleet is a user's file: parseFleet checks the application, and only the matching code can judge the constraints.
  if (eligible.length === 0 && fleet !== undefined) throw new FleetError("task.require", `no server offering application ${JSON.stringify(task.app)} meets the constraints`);
  if (eligible.length === 0) throw new RangeError(`no server offers application ${JSON.stringify(task.app)} and meets the task's constraints`);

  let gaps: Float64Array | undefined;
  let sizes: Float64Array | undefined;
  let via: Uint16Array | undefined;
  const draw = (): void => {
    const s = new TaskStream(seed, service, allocators, shares, MAIN_STREAMS);
    gaps = new Float64Array(tasks);
    sizes = new Float64Array(tasks);
    via = new Uint16Array(tasks);
    for (let i = 0; i < tasks; i++) {
      gaps[i] = s.gap();
      sizes[i] = s.size();
      via[i] = s.via();
    }
  };
  return {
    config: { ...config },
    powers,
    kindOf,
    kinds,
    task,
    eligible,
    totalPower,
    taskMs,
    get gaps(): Float64Array {
      if (gaps === undefined) draw();
      return gaps as Float64Array;
    },
    get sizes(): Float64Array {
      if (sizes === undefined) draw();
      return sizes as Float64Array;
    },
    get via(): Uint16Array {
      if (via === undefined) draw();
      return via as Uint16Array;
    },
  };
}

/** Reports of the fleet's servers at load 0, as an allocator first hears them. */
function initialReport(w: { powers: Float64Array; kindOf: Uint32Array; kinds: readonly ServerKind[] }, j: number, capacity: number): ServerReport {
  const kind = w.kinds[w.kindOf[j] as number] as ServerKind;
  return { id: `s${j}`, url: `sim://s${j}`, apps: [...kind.apps], capacity, power: w.powers[j] as number, load: 0, attrs: kind.attrs, version: [1, 0] };
}

/** The servers the task may go to, judged by the same matching code a decision uses, on an empty fleet. */
function eligibleServers(powers: Float64Array, kindOf: Uint32Array, kinds: readonly ServerKind[], task: Task): { eligible: Int32Array; totalPower: number } {
  const meets = compileRequire(task.require);
  const out: number[] = [];
  let totalPower = 0;
  // Only constraints on built-ins other than power (id, say) differ within a group; a probe table per server is cheap enough.
  const probe = new ServerTable();
  for (let j = 0; j < powers.length; j++) {
    const kind = kinds[kindOf[j] as number] as ServerKind;
    if (!kind.apps.includes(task.app)) continue;
    probe.apply(initialReport({ powers, kindOf, kinds }, j, 1), 0);
    const e = probe.get(`s${j}`) as ServerEntry;
    if (!meets(e)) continue;
    out.push(j);
    totalPower += powers[j] as number;
  }
  return { eligible: Int32Array.from(out), totalPower };
}

export interface RunConfig {
  /** Offered load, a share of the eligible servers' total capacity: 0 < load < 1. */
  load: number;
  /** How late each report reaches the allocators, virtual ms (default 10). */
  delayMs?: number;
  /** Share of the tasks, first by arrival, left out of the statistics (default 0.1). */
  warmup?: number;
  /** Measured tasks in this run (default the workload's `tasks`): a run length set per load, from a virtual time say. */
  tasks?: number;
  /**
   * A warm start: virtual ms of arrivals (from streams of their own, at the run's rate, never
   * measured) before the run's tasks begin, so that they find the fleet near its steady state
   * under the row's own policy instead of empty. Default 0.
   */
  warmMs?: number;
  /**
   * The capacity every server reports; default: CAPACITY_PER_POWER × its power, the same backlog
   * in time on every server.
   */
  capacity?: number;
  /** Called once every task has completed and every report arrived, with the allocators' views (none for the references). */
  atEnd?: (views: readonly ServerTable[]) => void;
}

/** A policy given as code rather than by a registered name: a row named `name`, one `create()` per allocator. */
export interface PolicySpec {
  name: string;
  create(): Policy;
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
  /** Warm-up tasks run before the measured ones (a warm start). */
  warmTasks: number;
  /** The most tasks in the system at once. */
  peakTasks: number;
  /** Tasks each server ran, warm-up tasks included. */
  ran: Uint32Array;
}

/**
 * The index of server `s<j>`, read from its id's digits: at 100,000 servers × 4 views a map from
 * entry to index was a cache miss on every decision, and slicing the id makes garbage.
 */
function serverIndex(id: string): number {
  let j = 0;
  for (let c = 1; c < id.length; c++) j = j * 10 + (id.charCodeAt(c) - 48);
  return j;
}

/** The offered arrival rate of a run, tasks per virtual ms. */
export function arrivalRate(w: Workload, load: number): number {
  return (load * w.totalPower) / w.taskMs;
}

/**
 * One policy over the workload at one load: `oracle`, `random` (the references), a registered
 * policy spec (`NAME[:k=v,…]`, which throws a TypeError when unknown or malformed) or a PolicySpec.
 */
export function runPolicy(w: Workload, spec: string | PolicySpec, run: RunConfig): PolicyResult {
  const { load } = run;
  const delayMs = run.delayMs ?? 10;
  const warmup = run.warmup ?? 0.1;
  const warmMs = run.warmMs ?? 0;
  const fixedCapacity = run.capacity;
  const T = run.tasks ?? w.config.tasks;
  if (!(load > 0 && load < 1)) throw new RangeError(`load must be > 0 and < 1, got ${load}`);
  if (!(delayMs >= 0) || !Number.isFinite(delayMs)) throw new RangeError(`delayMs must be a finite number >= 0, got ${delayMs}`);
  if (!(warmup >= 0 && warmup < 1)) throw new RangeError(`warmup must be >= 0 and < 1, got ${warmup}`);
  if (!(warmMs >= 0) || !Number.isFinite(warmMs)) throw new RangeError(`warmMs must be a finite number >= 0, got ${warmMs}`);
  if (!Number.isInteger(T) || T < 1) throw new RangeError(`tasks must be an integer >= 1, got ${T}`);
  if (fixedCapacity !== undefined && (!Number.isInteger(fixedCapacity) || fixedCapacity < 1)) throw new RangeError(`capacity must be an integer >= 1, got ${fixedCapacity}`);

  const name = typeof spec === "string" ? spec : spec.name;
  const N = w.powers.length;
  const K = w.config.allocators;
  const powers = w.powers;
  const eligible = w.eligible;
  const M = eligible.length;
  const taskMs = w.taskMs;
  const capacities = Array.from(powers, (p) => fixedCapacity ?? Math.max(1, Math.round(CAPACITY_PER_POWER * p)));
  const gapScale = 1 / arrivalRate(w, load);
  const task = w.task;

  const mode = spec === "oracle" ? 0 : spec === "random" ? 1 : 2;
  // Views: one table and one policy instance per allocator, every server known at load 0.
  const views: ServerTable[] = [];
  const policies: Policy[] = [];
  /** Allocator k's entry for server j at k × N + j: reports update it without a lookup by id. */
  const entries: ServerEntry[] = [];
  if (mode === 2) {
    for (let k = 0; k < K; k++) {
      policies.push(typeof spec === "string" ? resolvePolicy(spec) : spec.create());
      const t = new ServerTable();
      for (let j = 0; j < N; j++) t.apply(initialReport(w, j, capacities[j] as number), 0);
      for (let j = 0; j < N; j++) {
        const e = t.get(`s${j}`) as ServerEntry;
        entries.push(e);
      }
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

  // Servers: FIFO queues as linked lists of task slots.
  const qlen = new Int32Array(N);
  const ran = new Uint32Array(N);
  const seq = new Int32Array(N);
  const head = new Int32Array(N).fill(-1);
  const tail = new Int32Array(N).fill(-1);
  const slots = new TaskSlots(Math.min(1 << 20, Math.max(1024, 4 * N)));
  const from = Math.min(T - 1, Math.floor(warmup * T));
  const response = new Float64Array(T - from);
  let measured = 0;
  const completions = new EventHeap(Math.min(N, 1 << 16));
  // Reports in flight: server, load, seq, the allocator whose task's arrival caused it (-1: a completion).
  const reports = new DelayQueue(4, 1 << 12);
  // The oracle's heap holds the eligible servers only: item m is server eligible[m].
  const itemOf = new Int32Array(N).fill(-1);
  for (let m = 0; m < M; m++) itemOf[eligible[m] as number] = m;
  const oracle = mode === 0 ? new IndexedMinHeap(Array.from(eligible, (j) => 1 / (powers[j] as number))) : undefined;
  const version: [number, number] = [1, 0]; // confirm copies it: one tuple serves every report
  let maxQueue = 0;
  let refused = 0;
  let applies = 0;
  let horizon = 0;

  const changed = (j: number, q: number, origin: number): void => {
    if (mode === 2) {
      const s = (seq[j] as number) + 1;
      seq[j] = s;
      reports.push(now + delayMs, j, q, s, origin);
    } else if (oracle) oracle.set(itemOf[j] as number, (q + 1) / (powers[j] as number));
  };

  // Arrivals: the warm-up's (numbered -1) until warmMs, then the run's T tasks (numbered 0…T-1).
  const cfg = w.config;
  const warmStream = warmMs > 0 ? new TaskStream(cfg.seed, cfg.service, K, cfg.shares, WARM_STREAMS) : undefined;
  const mainStream = new TaskStream(cfg.seed, cfg.service, K, cfg.shares, MAIN_STREAMS);
  let warming = warmStream !== undefined;
  let warmTasks = 0;
  let ai = 0;
  let nextArrival = (warming ? (warmStream as TaskStream).gap() : mainStream.gap()) * gapScale;
  if (warming && nextArrival >= warmMs) {
    warming = false;
    nextArrival = warmMs + mainStream.gap() * gapScale;
  }
  for (;;) {
    const tc = completions.peekTime();
    const tr = reports.peekTime();
    // Equal times: completions, then reports, then arrivals.
    if (tc <= tr && tc <= nextArrival) {
      if (tc === Infinity) break;
      now = tc;
      const j = completions.pop();
      const s = head[j] as number;
      const n = slots.seq[s] as number;
      if (n >= from) response[measured++] = now - (slots.arrival[s] as number);
      horizon = now;
      const h = slots.next[s] as number;
      slots.give(s);
      head[j] = h;
      const q = (qlen[j] as number) - 1;
      qlen[j] = q;
      if (q > 0) completions.push(now + ((slots.size[h] as number) * taskMs) / (powers[j] as number), j);
      else tail[j] = -1;
      changed(j, q, -1);
    } else if (tr <= nextArrival) {
      now = tr;
      const j = reports.field(0);
      const q = reports.field(1);
      version[1] = reports.field(2);
      const origin = reports.field(3);
      reports.shift();
      // A report with the load is what tier 2 takes from an acknowledgement (confirm) at the
      // allocator whose task caused it — which drops that task's reservation in the same step —
      // and as a load-only update (nothing to release) at the others.
      for (let k = 0; k < K; k++) (views[k] as ServerTable).confirm(entries[k * N + j] as ServerEntry, q, version, now, k === origin ? 1 : 0);
      applies += K;
    } else {
      now = nextArrival;
      let n: number;
      let size: number;
      let k: number;
      if (warming) {
        const ws = warmStream as TaskStream;
        n = -1;
        warmTasks++;
        size = ws.size();
        k = ws.via();
        nextArrival = now + ws.gap() * gapScale;
        if (nextArrival >= warmMs) {
          warming = false;
          nextArrival = warmMs + mainStream.gap() * gapScale;
        }
      } else {
        n = ai++;
        size = mainStream.size();
        k = mainStream.via();
        nextArrival = ai < T ? now + mainStream.gap() * gapScale : Infinity;
      }
      let j: number;
      let origin = -1;
      if (mode === 0) j = eligible[(oracle as IndexedMinHeap).min()] as number;
      else if (mode === 1) j = eligible[uniform.int(M)] as number;
      else {
        const a = allocate(views[k] as ServerTable, task, policies[k] as Policy, ctxs[k] as PolicyContext);
        if (a.ok) {
          j = serverIndex(a.server.id);
          origin = k;
        } else {
          refused++;
          j = eligible[uniform.int(M)] as number;
        }
      }
      // The task reaches server j.
      ran[j] = (ran[j] as number) + 1;
      const s = slots.take(now, size, n);
      const t = tail[j] as number;
      if (t < 0) head[j] = s;
      else slots.next[t] = s;
      tail[j] = s;
      const q = (qlen[j] as number) + 1;
      qlen[j] = q;
      if (q > maxQueue) maxQueue = q;
      if (q === 1) completions.push(now + (size * taskMs) / (powers[j] as number), j);
      changed(j, q, origin);
    }
  }

  run.atEnd?.(views);
  const sorted = response.subarray(0, measured).sort();
  let sum = 0;
  for (let m = 0; m < sorted.length; m++) sum += sorted[m] as number;
  return {
    policy: name,
    meanMs: sum / sorted.length,
    p50Ms: quantile(sorted, 0.5),
    p99Ms: quantile(sorted, 0.99),
    p999Ms: quantile(sorted, 0.999),
    maxMs: sorted[sorted.length - 1] as number,
    measured: sorted.length,
    refused,
    horizonMs: horizon,
    maxQueue,
    applies,
    warmTasks,
    peakTasks: slots.peak,
    ran,
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
