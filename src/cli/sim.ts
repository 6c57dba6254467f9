import { accessSync, constants, existsSync, realpathSync, statSync, writeFileSync } from "node:fs";
import { readAtMost } from "./read-at-most.js";
import { dirname, resolve } from "node:path";
import { DEFAULT_POLICY, policyNames } from "../node/config.js";
import { CAPACITY_PER_POWER, DEFAULT_TASK_MS, FleetError, MAX_POWER, MIN_POWER, arrivalRate, makeWorkload, parseFleet, responsePlot, rowSpecs, runPolicy } from "../sim/index.js";
import type { Fleet, LoadResult, PolicyResult, RunConfig, ServiceModel, Workload, WorkloadConfig } from "../sim/index.js";
import { CliError, checkPolicyFlag, oneOf, parseIntFlag } from "./errors.js";
import { parseFlags } from "./flags.js";
import { OUTPUT_OPTIONS, outputFormat } from "./output.js";

/** Registered policies left out of the default list: `random` is a reference row, and `hash` without a user key is least-loaded. */
const NOT_BY_DEFAULT = ["random", "hash"];

export function defaultSimPolicies(): string[] {
  return policyNames().filter((p) => !NOT_BY_DEFAULT.includes(p));
}

/**
 * A warm start's default length is this many mean task times (a task of mean size on a server of
 * the fleet's mean power) ÷ (1 − load): queues take longer to settle the closer the load is to 1
 * (with two random choices on 1,000 servers at load 0.95, 20 task times left the mean 10–15% low
 * over the next 20 tasks per server, 100 within the noise).
 */
export const WARM_TASK_TIMES = 4;
/** Most tasks one run may hold: the measured tasks' response times are kept for the quantiles. */
export const MAX_TASKS = 50_000_000;
/**
 * Most server entries the allocators' views may hold in all (allocators × servers): each keeps
 * its own table of every server, ~500 bytes an entry, so the most servers at the default 4
 * allocators (about 2 GB) and no more; 1,000 × 1,000,000 ran out of memory.
 */
export const MAX_VIEW_ENTRIES = 4_000_000;
/**
 * Bounds of --load and --task-ms that, with the powers' (MIN_POWER, MAX_POWER), keep virtual
 * time inside a double: a load of 1e-320 or a task of 5e-324 ms makes an arrival gap or rate
 * Infinity (rows of NaN, or every task at time 0), a task of 1e308 ms a mean of Infinity.
 */
export const MIN_LOAD = 0.000001;
export const MIN_TASK_MS = 0.000001;
export const MAX_TASK_MS = 1_000_000_000;

export const SIM_HELP = `allot sim [--servers N] [--powers P,…] [--fleet FILE] [--allocators K] [--load L[,L…]]
          [--policy P,…] [--tasks T | --tasks-per-server N | --duration-ms M] [--task-ms M]
          [--delay-ms D] [--service exp|pareto|det] [--seed S] [--warmup F] [--warm-start]
          [--warm-ms M] [--shares W,…] [--capacity C] [-o text|json] [--svg FILE]

A deterministic discrete-event simulation (virtual time, seeded) of K allocators placing a
Poisson stream of tasks on N servers, each allocator deciding with the policy code of a tier-2
distributor (allocate() on its own ServerTable) from views that servers' reports reach D ms late.
Each server is one FIFO queue served at a rate proportional to its power (1–8 unless --powers
or --fleet say otherwise): a task of size s
takes s × M ms / power. Servers report (queue length as load, capacity ${CAPACITY_PER_POWER} × power, power,
version) to every allocator on every arrival and completion; an allocator drops its reservation
when the report sent on that task's arrival reaches it. Allocators are a0…a{K-1}, and each
knows every allocator's id, for policies with home servers (shortest-delay). Two reference rows
are always shown: oracle (perfect instantaneous knowledge: the server minimising
(queue + 1) / power) and random (a uniformly random server). Every row runs over the same
servers, arrivals and task sizes.

  --servers N       servers (default 1000)
  --powers P,…      the powers servers are drawn from, uniformly, each from 0.000001 to
                    1000000 (default 1,2,…,8; --powers 1 is a homogeneous fleet)
  --fleet FILE      the fleet as JSON, instead of --servers and --powers:
                    {"servers":[{"count":N,"power":P,"apps":["sim",…],"attrs":{"gpu":true}},…],
                     "task":{"app":"sim","require":["gpu=true"]}}
                    apps default ["sim"], task.app "sim"; every task carries task.require, and
                    a load is a share of the capacity of the servers that can take it
  --allocators K    allocators, each with its own view (default 4)
  --shares W,…      how the tasks split over the allocators, one weight >= 0 per allocator
                    (default equal; 2,1,1,1 sends a0 twice the tasks of each other)
  --load L[,L…]     offered load as a share of total capacity, each >= 0.000001 and < 1
                    (default 0.9)
  --policy P,…      policies to run (NAME[:k=v,…]; repeatable). Default: every registered
                    policy but random and hash (${defaultSimPolicies().join(", ")}).
                    "oracle" and "random" name the reference rows
  --tasks T         tasks per run, in all (default 200000)
  --tasks-per-server N  run length as tasks per server: N × the servers that can take the
                    tasks (with --fleet, those that offer its application and meet its
                    constraints)
  --duration-ms M   run length in virtual ms of arrivals: the tasks that many ms bring at each
                    load (so higher loads run more tasks)
  --task-ms M       work in a task of mean size on a power-1 server, virtual ms, from
                    0.000001 to 1000000000
                    (default ${DEFAULT_TASK_MS}: computing tasks, so that reports 10 ms late are
                    slightly stale; at 10 they are several tasks late)
  --delay-ms D      how late reports reach the allocators, virtual ms, >= 0 (default 10)
  --service exp|pareto|det  task sizes, mean 1: exponential (default), bounded Pareto
                    (alpha 1.5, max/min 1000) or deterministic (every task of size 1)
  --seed S          seed (default 1)
  --warmup F        share of tasks, first by arrival, left out of the statistics, 0 <= F < 1
                    (default 0.1; 0 with --warm-start)
  --warm-start      start each row from a fleet near its steady state under that row's own
                    policy: arrivals (never measured, from streams of their own) run for a
                    virtual-time warm-up before the measured tasks. Every load must be < 1
  --warm-ms M       the warm-up's length, virtual ms (implies --warm-start; default
                    ${WARM_TASK_TIMES} ÷ (1 − load) mean task times at the fleet's mean power: 80
                    at load 0.95)
  --capacity C      a capacity every server reports alike (default ${CAPACITY_PER_POWER} × its power: the same
                    backlog in time on every server, and queues never reach it, so allocate()
                    never refuses in practice; a task it refuses goes to a random server)
  -o json, --json   one JSON line per load:
                    {"defaultPolicy":NAME,"load":L,"policies":[{"policy","meanMs","p99Ms","p999Ms"},…]}
  --svg FILE        write an SVG plot of mean and p99 response time against load per policy
`;

const OPTIONS = {
  servers: { type: "string" },
  powers: { type: "string" },
  fleet: { type: "string" },
  "tasks-per-server": { type: "string" },
  "duration-ms": { type: "string" },
  "warm-start": { type: "boolean" },
  "warm-ms": { type: "string" },
  allocators: { type: "string" },
  shares: { type: "string" },
  load: { type: "string" },
  policy: { type: "string", multiple: true },
  tasks: { type: "string" },
  "task-ms": { type: "string" },
  "delay-ms": { type: "string" },
  service: { type: "string" },
  seed: { type: "string" },
  warmup: { type: "string" },
  capacity: { type: "string" },
  ...OUTPUT_OPTIONS,
  svg: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** What `allot sim` was asked to run. */
export interface SimCliConfig {
  servers: number;
  allocators: number;
  /** Weights of the allocators' shares of the tasks; absent: equal. */
  shares?: number[];
  loads: number[];
  /** The rows, in order: oracle, random, then the policies asked for. */
  rows: string[];
  tasks: number;
  /** Run length as tasks per server (tasks = this × servers). */
  tasksPerServer?: number;
  /** Run length in virtual ms of arrivals: each load runs the tasks that many ms bring. */
  durationMs?: number;
  /** The powers servers are drawn from; absent: 1–8. */
  powers?: number[];
  /** The fleet file's fleet, and the file; absent: --servers servers with drawn powers. */
  fleet?: Fleet;
  fleetFile?: string;
  /** A warm start: every row runs a warm-up before its measured tasks; absent: every row starts from an empty fleet. */
  warmStart?: true;
  /** The warm-up's length, virtual ms; absent with a warm start: WARM_TASK_TIMES mean task times. */
  warmMs?: number;
  taskMs: number;
  delayMs: number;
  service: ServiceModel;
  seed: number;
  warmup: number;
  /** A capacity every server reports alike; absent: CAPACITY_PER_POWER × power. */
  capacity?: number;
  json: boolean;
  svg?: string;
}

/** A finite number of ms, > 0 (or >= 0 with `zeroOk`). */
function positiveMs(flag: string, text: string | undefined, dflt: number, zeroOk: boolean): number {
  if (text === undefined) return dflt;
  const n = Number(text);
  if (text.trim() === "" || !Number.isFinite(n) || n < 0 || (n === 0 && !zeroOk)) throw new CliError(`expected a number of ms ${zeroOk ? ">=" : ">"} 0, got ${JSON.stringify(text)}`, flag);
  return n;
}

function fraction(flag: string, text: string, min: number, minIncluded: boolean): number {
  const n = Number(text);
  if (text.trim() === "" || !Number.isFinite(n) || (minIncluded ? n < min : n <= min) || n >= 1) {
    throw new CliError(`expected a number ${minIncluded ? ">=" : ">"} ${min} and < 1, got ${JSON.stringify(text)}`, flag);
  }
  return n;
}

/** `--shares`: one finite weight >= 0 per allocator, not all 0. */
function shareWeights(text: string, allocators: number): number[] {
  const items = text.split(",").map((x) => x.trim());
  const ws = items.map(Number);
  if (items.some((x) => x === "") || !ws.every((x) => Number.isFinite(x) && x >= 0) || !ws.some((x) => x > 0)) {
    throw new CliError(`expected weights >= 0, not all 0, got ${JSON.stringify(text)}`, "--shares");
  }
  if (ws.length !== allocators) throw new CliError(`expected ${allocators} weights (one per allocator), got ${ws.length}`, "--shares");
  if (!Number.isFinite(ws.reduce((a, b) => a + b, 0))) throw new CliError(`expected weights that add up to a finite number, got ${JSON.stringify(text)}`, "--shares");
  return ws;
}

/**
 * Splits `--policy` values into specs. A spec's own options contain commas
 * (`hash:key=user,bound=1.5`), so an item with "=" and no ":" continues the spec before it.
 */
export function splitPolicies(values: readonly string[]): string[] {
  const out: string[] = [];
  for (const v of values) {
    for (const raw of v.split(",")) {
      const item = raw.trim();
      if (item === "") continue;
      const last = out.length - 1;
      if (!item.includes(":") && item.includes("=") && last >= 0 && (out[last] as string).includes(":")) out[last] = `${out[last] as string},${item}`;
      else out.push(item);
    }
  }
  return out;
}

/** `--powers`: numbers > 0, at least one. */
function powerList(text: string): number[] {
  const items = text.split(",").map((x) => x.trim());
  const ps = items.map(Number);
  if (items.some((x) => x === "") || !ps.every((p) => Number.isFinite(p) && p > 0)) throw new CliError(`expected powers > 0, P[,P…], got ${JSON.stringify(text)}`, "--powers");
  if (ps.some((p) => p < MIN_POWER || p > MAX_POWER)) throw new CliError(`expected powers from ${MIN_POWER} to ${MAX_POWER}, got ${JSON.stringify(text)}`, "--powers");
  return ps;
}

/**
 * The most bytes a fleet file may have: a group per server of the most a fleet may describe
 * (1,000,000) at ~250 bytes each. Past it the file is refused, not read to its end: /dev/zero
 * has none.
 */
export const MAX_FLEET_BYTES = 256 * 1024 * 1024;

/** `--fleet FILE`: read and checked, or a CliError naming the flag, the key and the reason. */
export function readFleet(file: string): Fleet {
  if (file.trim() === "") throw new CliError("expected a file name", "--fleet");
  let text: string | undefined;
  try {
    text = readAtMost(file, MAX_FLEET_BYTES);
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`, "--fleet");
  }
  if (text === undefined) throw new CliError(`${file} is more than ${MAX_FLEET_BYTES} bytes, more than a fleet file may hold`, "--fleet");
  // A byte-order mark, as some editors save JSON: not part of the text.
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new CliError(`${file} is not JSON: ${err instanceof Error ? err.message : String(err)}`, "--fleet");
  }
  try {
    return parseFleet(json);
  } catch (err) {
    if (err instanceof FleetError) throw new CliError(`${file}: ${err.message}`, "--fleet");
    throw err;
  }
}

/** Turns `allot sim` flags into a run, or a CliError naming the bad flag. */
export function simConfig(argv: string[]): SimCliConfig | "help" {
  const { values: v } = parseFlags(argv, OPTIONS);
  if (v.help) return "help";
  if (v.fleet !== undefined && (v.servers !== undefined || v.powers !== undefined)) throw new CliError("gives the servers and their powers: leave out --servers and --powers", "--fleet");
  const fleet = v.fleet === undefined ? undefined : readFleet(v.fleet);
  const servers = fleet ? fleet.groups.reduce((a, g) => a + g.count, 0) : parseIntFlag("--servers", v.servers, 1000, 1, 1_000_000);
  const powers = v.powers === undefined ? undefined : powerList(v.powers);
  const allocators = parseIntFlag("--allocators", v.allocators, 4, 1, 1000);
  const lengths = (["--tasks", "--tasks-per-server", "--duration-ms"] as const).filter((f) => v[f.slice(2) as "tasks" | "tasks-per-server" | "duration-ms"] !== undefined);
  if (lengths.length > 1) throw new CliError(`give one run length: ${lengths.join(" or ")}`, lengths[1]);
  const tasksPerServer = v["tasks-per-server"] === undefined ? undefined : parseIntFlag("--tasks-per-server", v["tasks-per-server"], 1, 1, MAX_TASKS);
  if (tasksPerServer !== undefined && tasksPerServer * servers > MAX_TASKS) throw new CliError(`${tasksPerServer} × ${servers} servers is more than ${MAX_TASKS} tasks`, "--tasks-per-server");
  const durationMs = v["duration-ms"] === undefined ? undefined : positiveMs("--duration-ms", v["duration-ms"], 0, false);
  const tasks = tasksPerServer !== undefined ? tasksPerServer * servers : parseIntFlag("--tasks", v.tasks, 200_000, 1, MAX_TASKS);
  const seed = parseIntFlag("--seed", v.seed, 1, 0, 2 ** 31 - 1);
  const capacity = v.capacity === undefined ? undefined : parseIntFlag("--capacity", v.capacity, 1, 1, 1_000_000_000);
  const taskMs = positiveMs("--task-ms", v["task-ms"], DEFAULT_TASK_MS, false);
  if (taskMs < MIN_TASK_MS || taskMs > MAX_TASK_MS) throw new CliError(`expected a number of ms from ${MIN_TASK_MS} to ${MAX_TASK_MS}, got ${JSON.stringify(v["task-ms"])}`, "--task-ms");
  const loadItems = (v.load ?? "0.9").split(",").map((s) => s.trim());
  if (loadItems.some((s) => s === "")) throw new CliError(`expected L[,L…], got ${JSON.stringify(v.load)}`, "--load");
  const warmStart = v["warm-start"] === true || v["warm-ms"] !== undefined;
  // Checked before --load's own bound, so the reason given is the warm start's.
  const overloaded = loadItems.map(Number).find((l) => l >= 1);
  if (warmStart && overloaded !== undefined) throw new CliError(`needs every load < 1, got ${overloaded}: at a load >= 1 queues grow without bound, so there is no steady state to start from`, v["warm-start"] === true ? "--warm-start" : "--warm-ms");
  const loads = loadItems.map((s) => fraction("--load", s, 0, false));
  const tiny = loads.find((l) => l < MIN_LOAD);
  if (tiny !== undefined) throw new CliError(`expected a number >= ${MIN_LOAD} and < 1, got ${tiny}`, "--load");
  const delayMs = positiveMs("--delay-ms", v["delay-ms"], 10, true);
  const service = oneOf("--service", ["exp", "pareto", "det"] as const, v.service) ?? "exp";
  const warmup = v.warmup === undefined ? (warmStart ? 0 : 0.1) : fraction("--warmup", v.warmup, 0, true);
  const warmMs = v["warm-ms"] === undefined ? undefined : positiveMs("--warm-ms", v["warm-ms"], 0, false);
  const asked = v.policy === undefined ? defaultSimPolicies() : splitPolicies(v.policy);
  if (v.policy !== undefined && asked.length === 0) throw new CliError("expected P[,P…]", "--policy");
  for (const spec of asked) if (spec !== "oracle" && spec !== "random") checkPolicyFlag(spec);
  // The reference rows keep no views, so they alone take any allocators.
  if (asked.some((spec) => spec !== "oracle" && spec !== "random") && allocators * servers > MAX_VIEW_ENTRIES) {
    throw new CliError(`${allocators} allocators × ${servers} servers is more than ${MAX_VIEW_ENTRIES} entries in the allocators' views (each keeps its own view of every server)`, "--allocators");
  }
  if (v.svg !== undefined && v.svg.trim() === "") throw new CliError("expected a file name", "--svg");
  const config: SimCliConfig = { servers, allocators, loads, rows: rowSpecs(asked), tasks, taskMs, delayMs, service, seed, warmup, json: outputFormat(v) === "json" };
  if (capacity !== undefined) config.capacity = capacity;
  if (v.shares !== undefined) config.shares = shareWeights(v.shares, allocators);
  if (v.svg !== undefined) config.svg = v.svg;
  if (powers !== undefined) config.powers = powers;
  if (fleet !== undefined && v.fleet !== undefined) {
    config.fleet = fleet;
    config.fleetFile = v.fleet;
  }
  if (tasksPerServer !== undefined) config.tasksPerServer = tasksPerServer;
  if (durationMs !== undefined) config.durationMs = durationMs;
  if (warmStart) config.warmStart = true;
  if (warmMs !== undefined) config.warmMs = warmMs;
  return config;
}

/** The workload a CLI run describes (with --duration-ms, `tasks` is the most any load runs). */
export function simWorkload(c: SimCliConfig): Workload {
  const wc: WorkloadConfig = { servers: c.servers, allocators: c.allocators, tasks: c.tasks, service: c.service, seed: c.seed, taskMs: c.taskMs };
  if (c.shares) wc.shares = c.shares;
  if (c.powers) wc.powerChoices = c.powers;
  if (c.fleet) wc.fleet = c.fleet;
  try {
    return makeWorkload(wc);
  } catch (err) {
    if (err instanceof FleetError) throw new CliError(`${c.fleetFile ?? "the fleet"}: ${err.message}`, "--fleet");
    throw err;
  }
}

/** Tasks run at `load`: the run length asked for, in tasks or in virtual time. */
export function tasksAt(c: SimCliConfig, w: Workload, load: number): number {
  if (c.durationMs === undefined) return fixedTasks(c, w);
  return Math.max(1, Math.round(arrivalRate(w, load) * c.durationMs));
}

/**
 * The run length in tasks when it is not given in time: --tasks, or --tasks-per-server times the
 * servers that can take the tasks (a fleet's others get none, so counting them gave each
 * eligible server more than it was asked).
 */
function fixedTasks(c: SimCliConfig, w: Workload): number {
  return c.tasksPerServer !== undefined ? c.tasksPerServer * w.eligible.length : c.tasks;
}

/** A warm start's length at this workload and load, virtual ms (0 without one). */
export function warmMsOf(c: SimCliConfig, w: Workload, load: number): number {
  if (c.warmStart !== true) return 0;
  return c.warmMs ?? (WARM_TASK_TIMES / (1 - load)) * ((w.taskMs * w.eligible.length) / w.totalPower);
}

const SERVICE_NAMES = { exp: "exponential", pareto: "bounded Pareto", det: "deterministic" } as const;
const ms = (n: number): string => (n >= 100 ? n.toFixed(1) : n >= 10 ? n.toFixed(2) : n.toFixed(3));
const round3 = (n: number): number => Math.round(n * 1000) / 1000;

function header(c: SimCliConfig, w: Workload): string {
  let minP = Infinity;
  let maxP = -Infinity;
  for (const p of w.powers) {
    minP = Math.min(minP, p);
    maxP = Math.max(maxP, p);
  }
  const power = minP === maxP ? `power ${minP}` : `power ${minP}–${maxP}`;
  const fleet = c.fleetFile !== undefined ? `fleet ${c.fleetFile}: ${c.servers} servers in ${w.kinds.length} group(s), ${w.eligible.length} can take the tasks (${power}, total ${w.totalPower})` : `${c.servers} servers (${power}, total ${w.totalPower})`;
  const length = c.durationMs !== undefined ? `${c.durationMs} ms of arrivals` : `${fixedTasks(c, w)} tasks`;
  const warm = c.warmStart !== true ? "" : c.warmMs !== undefined ? `, warm start of ${(c.warmMs / 1000).toFixed(2)} s virtual` : `, warm start of ${WARM_TASK_TIMES} ÷ (1 − load) mean task times`;
  return (
    `allot sim: ${fleet}, ${c.allocators} allocator(s)${c.shares ? ` sharing tasks ${c.shares.join(":")}` : ""}, ${length}, ` +
    `${SERVICE_NAMES[c.service]} sizes (mean ${c.taskMs} ms at power 1), reports ${c.delayMs} ms late, capacity ${c.capacity ?? `${CAPACITY_PER_POWER} × power`}, seed ${c.seed}${warm}, ` +
    `first ${Math.round(c.warmup * 100)}% of tasks left out`
  );
}

function table(r: LoadResult, walls: Map<string, number>, w: Workload, tasks: number, warmMs: number): string {
  const oracle = r.policies.find((p) => p.policy === "oracle");
  const random = r.policies.find((p) => p.policy === "random");
  const rate = arrivalRate(w, r.load);
  const lines = [
    `load ${r.load}: ${rate.toFixed(1)} tasks/ms, ${tasks} tasks arriving over about ${(tasks / rate / 1000).toFixed(2)} s of virtual time, ${(tasks / w.eligible.length).toFixed(0)} tasks per server${warmMs > 0 ? `, after a warm-up of ${(warmMs / 1000).toFixed(2)} s` : ""}`,
    `  ${"policy".padEnd(24)}${["mean ms", "p50 ms", "p99 ms", "p99.9 ms", "÷ oracle", "random ÷", "max queue", "refused", "wall s"].map((h) => h.padStart(10)).join("")}`,
  ];
  for (const p of r.policies) {
    const name = p.policy === DEFAULT_POLICY ? `${p.policy} (default)` : p.policy;
    const cells = [
      ms(p.meanMs),
      ms(p.p50Ms),
      ms(p.p99Ms),
      ms(p.p999Ms),
      oracle ? (p.meanMs / oracle.meanMs).toFixed(2) : "",
      random ? (random.meanMs / p.meanMs).toFixed(2) : "",
      String(p.maxQueue),
      String(p.refused),
      ((walls.get(p.policy) ?? 0) / 1000).toFixed(1),
    ];
    lines.push(`  ${name.padEnd(24)}${cells.map((x) => x.padStart(10)).join("")}`);
  }
  return lines.join("\n");
}

/** The project's targets for the default policy, where the loads they name were run. */
function targets(results: readonly LoadResult[]): string[] {
  const out: string[] = [];
  const row = (load: number, name: string): PolicyResult | undefined => results.find((r) => r.load === load)?.policies.find((p) => p.policy === name);
  const d90 = row(0.9, DEFAULT_POLICY);
  const o90 = row(0.9, "oracle");
  if (d90 && o90) {
    const x = d90.meanMs / o90.meanMs;
    out.push(`target: ${DEFAULT_POLICY} within 1.3× of the oracle's mean at load 0.9: ${x.toFixed(2)}× — ${x <= 1.3 ? "met" : "not met"}`);
  }
  const d95 = row(0.95, DEFAULT_POLICY);
  const r95 = row(0.95, "random");
  if (d95 && r95) {
    const x = r95.meanMs / d95.meanMs;
    out.push(`target: ${DEFAULT_POLICY} at least 3× better than random's mean at load 0.95: ${x.toFixed(2)}× — ${x >= 3 ? "met" : "not met"}`);
  }
  return out;
}

/**
 * Whether the plot can be written where --svg says, checked before the run: a run of minutes
 * whose plot then had nowhere to go was lost, and the plot must not take the place of the fleet
 * file it was drawn from.
 */
function checkSvgTarget(svg: string, fleetFile: string | undefined): void {
  const at = resolve(svg);
  const dir = dirname(at);
  try {
    if (existsSync(at)) {
      if (statSync(at).isDirectory()) throw new CliError(`${svg} is a directory`, "--svg");
      if (fleetFile !== undefined && realpathSync(at) === realpathSync(fleetFile)) throw new CliError(`${svg} is the --fleet file: the plot would overwrite it`, "--svg");
      accessSync(at, constants.W_OK);
    } else accessSync(dir, constants.W_OK);
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(`cannot write ${svg}: ${err instanceof Error ? err.message : String(err)}`, "--svg");
  }
}

export async function sim(argv: string[]): Promise<number> {
  const c = simConfig(argv);
  if (c === "help") {
    process.stdout.write(SIM_HELP);
    return 0;
  }
  const started = performance.now();
  if (c.svg !== undefined) checkSvgTarget(c.svg, c.fleetFile);
  const w = simWorkload(c);
  for (const load of c.loads) {
    const n = tasksAt(c, w, load);
    if (n > MAX_TASKS) throw new CliError(`${c.durationMs} ms at load ${load} is ${n} tasks, more than ${MAX_TASKS}`, "--duration-ms");
    // A warm-up's tasks are not kept, but they all run: past this bound a run would not end for hours (1e308 ms, never).
    const warm = arrivalRate(w, load) * warmMsOf(c, w, load);
    if (warm > MAX_TASKS) throw new CliError(`at load ${load} the warm-up is about ${warm.toPrecision(3)} tasks, more than ${MAX_TASKS}${c.warmMs === undefined ? ": give a shorter --warm-ms" : ""}`, c.warmMs !== undefined ? "--warm-ms" : "--warm-start");
  }
  if (!c.json) process.stdout.write(`${header(c, w)}\n`);
  const results: LoadResult[] = [];
  for (const load of c.loads) {
    const walls = new Map<string, number>();
    const rows: PolicyResult[] = [];
    const tasks = tasksAt(c, w, load);
    const warmMs = warmMsOf(c, w, load);
    const run: RunConfig = { load, delayMs: c.delayMs, warmup: c.warmup, tasks, warmMs };
    if (c.capacity !== undefined) run.capacity = c.capacity;
    for (const spec of c.rows) {
      const t0 = performance.now();
      rows.push(runPolicy(w, spec, run));
      walls.set(spec, performance.now() - t0);
      if (!c.json) process.stderr.write(`  load ${load} ${spec}: ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
    }
    const r: LoadResult = { load, policies: rows };
    results.push(r);
    if (c.json) {
      const policies = rows.map((p) => ({ policy: p.policy, meanMs: round3(p.meanMs), p99Ms: round3(p.p99Ms), p999Ms: round3(p.p999Ms) }));
      process.stdout.write(`${JSON.stringify({ defaultPolicy: DEFAULT_POLICY, load, policies })}\n`);
    } else {
      process.stdout.write(`${table(r, walls, w, tasks, warmMs)}\n`);
    }
  }
  if (c.svg !== undefined) {
    const fleet = c.fleetFile !== undefined ? `fleet ${c.fleetFile}` : c.powers !== undefined ? `power ${c.powers.join(", ")}` : "power 1–8";
    const subtitle = `${c.servers.toLocaleString("en-US")} servers (${fleet}), ${c.allocators} allocators, reports ${c.delayMs} ms late, ${c.durationMs !== undefined ? `${c.durationMs} ms of arrivals` : `${fixedTasks(c, w).toLocaleString("en-US")} tasks`}, ${SERVICE_NAMES[c.service]} sizes (mean ${c.taskMs} ms at power 1), seed ${c.seed}`;
    try {
      writeFileSync(c.svg, responsePlot(results, { title: "allot sim: response time against load", subtitle }, DEFAULT_POLICY));
    } catch (err) {
      process.stderr.write(`allot sim: cannot write ${c.svg}: ${err instanceof Error ? err.message : String(err)}\n`);
      return 1;
    }
  }
  if (!c.json) {
    for (const t of targets(results)) process.stdout.write(`${t}\n`);
    // maxRSS is in KiB: the peak for the whole run, every row and load.
    process.stdout.write(`wall time ${((performance.now() - started) / 1000).toFixed(1)} s, peak memory ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB\n`);
  }
  return 0;
}
