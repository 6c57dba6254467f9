import { writeFileSync } from "node:fs";
import { DEFAULT_POLICY, policyNames } from "../node/config.js";
import { CAPACITY_PER_POWER, DEFAULT_TASK_MS, arrivalRate, makeWorkload, responsePlot, rowSpecs, runPolicy } from "../sim/index.js";
import type { LoadResult, PolicyResult, RunConfig, ServiceModel, Workload } from "../sim/index.js";
import { CliError, checkPolicyFlag, oneOf, parseIntFlag } from "./errors.js";
import { parseFlags } from "./flags.js";
import { OUTPUT_OPTIONS, outputFormat } from "./output.js";

/** Registered policies left out of the default list: `random` is a reference row, and `hash` without a user key is least-loaded. */
const NOT_BY_DEFAULT = ["random", "hash"];

export function defaultSimPolicies(): string[] {
  return policyNames().filter((p) => !NOT_BY_DEFAULT.includes(p));
}

export const SIM_HELP = `allot sim [--servers N] [--allocators K] [--load L[,L…]] [--policy P,…] [--tasks T]
          [--task-ms M] [--delay-ms D] [--service exp|pareto] [--seed S] [--warmup F]
          [--shares W,…] [--capacity C] [-o text|json] [--svg FILE]

A deterministic discrete-event simulation (virtual time, seeded) of K allocators placing a
Poisson stream of tasks on N servers, each allocator deciding with the policy code of a tier-2
distributor (allocate() on its own ServerTable) from views that servers' reports reach D ms late.
Each server is one FIFO queue served at a rate proportional to its power (1–8): a task of size s
takes s × M ms / power. Servers report (queue length as load, capacity ${CAPACITY_PER_POWER} × power, power,
version) to every allocator on every arrival and completion; an allocator drops its reservation
when the report sent on that task's arrival reaches it. Allocators are a0…a{K-1}, and each
knows every allocator's id, for policies with home servers (shortest-delay). Two reference rows
are always shown: oracle (perfect instantaneous knowledge: the server minimising
(queue + 1) / power) and random (a uniformly random server). Every row runs over the same
servers, arrivals and task sizes.

  --servers N       servers (default 1000)
  --allocators K    allocators, each with its own view (default 4)
  --shares W,…      how the tasks split over the allocators, one weight >= 0 per allocator
                    (default equal; 2,1,1,1 sends a0 twice the tasks of each other)
  --load L[,L…]     offered load as a share of total capacity, each > 0 and < 1 (default 0.9)
  --policy P,…      policies to run (NAME[:k=v,…]; repeatable). Default: every registered
                    policy but random and hash (${defaultSimPolicies().join(", ")}).
                    "oracle" and "random" name the reference rows
  --tasks T         tasks per run (default 200000)
  --task-ms M       work in a task of mean size on a power-1 server, virtual ms, > 0
                    (default ${DEFAULT_TASK_MS}: computing tasks, so that reports 10 ms late are
                    slightly stale; at 10 they are several tasks late)
  --delay-ms D      how late reports reach the allocators, virtual ms, >= 0 (default 10)
  --service exp|pareto  task sizes, mean 1: exponential (default) or bounded Pareto
                    (alpha 1.5, max/min 1000)
  --seed S          seed (default 1)
  --warmup F        share of tasks, first by arrival, left out of the statistics, 0 <= F < 1
                    (default 0.1)
  --capacity C      a capacity every server reports alike (default ${CAPACITY_PER_POWER} × its power: the same
                    backlog in time on every server, and queues never reach it, so allocate()
                    never refuses in practice; a task it refuses goes to a random server)
  -o json, --json   one JSON line per load:
                    {"defaultPolicy":NAME,"load":L,"policies":[{"policy","meanMs","p99Ms","p999Ms"},…]}
  --svg FILE        write an SVG plot of mean and p99 response time against load per policy
`;

const OPTIONS = {
  servers: { type: "string" },
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

/** Turns `allot sim` flags into a run, or a CliError naming the bad flag. */
export function simConfig(argv: string[]): SimCliConfig | "help" {
  const { values: v } = parseFlags(argv, OPTIONS);
  if (v.help) return "help";
  const servers = parseIntFlag("--servers", v.servers, 1000, 1, 1_000_000);
  const allocators = parseIntFlag("--allocators", v.allocators, 4, 1, 1000);
  const tasks = parseIntFlag("--tasks", v.tasks, 200_000, 1, 50_000_000);
  const seed = parseIntFlag("--seed", v.seed, 1, 0, 2 ** 31 - 1);
  const capacity = v.capacity === undefined ? undefined : parseIntFlag("--capacity", v.capacity, 1, 1, 1_000_000_000);
  const taskMs = positiveMs("--task-ms", v["task-ms"], DEFAULT_TASK_MS, false);
  const loadItems = (v.load ?? "0.9").split(",").map((s) => s.trim());
  if (loadItems.some((s) => s === "")) throw new CliError(`expected L[,L…], got ${JSON.stringify(v.load)}`, "--load");
  const loads = loadItems.map((s) => fraction("--load", s, 0, false));
  const delayMs = positiveMs("--delay-ms", v["delay-ms"], 10, true);
  const service = oneOf("--service", ["exp", "pareto"] as const, v.service) ?? "exp";
  const warmup = v.warmup === undefined ? 0.1 : fraction("--warmup", v.warmup, 0, true);
  const asked = v.policy === undefined ? defaultSimPolicies() : splitPolicies(v.policy);
  if (v.policy !== undefined && asked.length === 0) throw new CliError("expected P[,P…]", "--policy");
  for (const spec of asked) if (spec !== "oracle" && spec !== "random") checkPolicyFlag(spec);
  if (v.svg !== undefined && v.svg.trim() === "") throw new CliError("expected a file name", "--svg");
  const config: SimCliConfig = { servers, allocators, loads, rows: rowSpecs(asked), tasks, taskMs, delayMs, service, seed, warmup, json: outputFormat(v) === "json" };
  if (capacity !== undefined) config.capacity = capacity;
  if (v.shares !== undefined) config.shares = shareWeights(v.shares, allocators);
  if (v.svg !== undefined) config.svg = v.svg;
  return config;
}

const ms = (n: number): string => (n >= 100 ? n.toFixed(1) : n >= 10 ? n.toFixed(2) : n.toFixed(3));
const round3 = (n: number): number => Math.round(n * 1000) / 1000;

function header(c: SimCliConfig, w: Workload): string {
  let minP = Infinity;
  let maxP = -Infinity;
  for (const p of w.powers) {
    minP = Math.min(minP, p);
    maxP = Math.max(maxP, p);
  }
  return (
    `allot sim: ${c.servers} servers (power ${minP}–${maxP}, total ${w.totalPower}), ${c.allocators} allocator(s)${c.shares ? ` sharing tasks ${c.shares.join(":")}` : ""}, ${c.tasks} tasks, ` +
    `${c.service === "exp" ? "exponential" : "bounded Pareto"} sizes (mean ${c.taskMs} ms at power 1), reports ${c.delayMs} ms late, capacity ${c.capacity ?? `${CAPACITY_PER_POWER} × power`}, seed ${c.seed}, ` +
    `first ${Math.round(c.warmup * 100)}% of tasks left out`
  );
}

function table(r: LoadResult, walls: Map<string, number>, w: Workload): string {
  const oracle = r.policies.find((p) => p.policy === "oracle");
  const random = r.policies.find((p) => p.policy === "random");
  const rate = arrivalRate(w, r.load);
  let span = 0;
  for (const g of w.gaps) span += g;
  span /= rate;
  const lines = [
    `load ${r.load}: ${rate.toFixed(1)} tasks/ms, arrivals over ${(span / 1000).toFixed(2)} s of virtual time, ${(w.sizes.length / w.powers.length).toFixed(0)} tasks per server`,
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

export async function sim(argv: string[]): Promise<number> {
  const c = simConfig(argv);
  if (c === "help") {
    process.stdout.write(SIM_HELP);
    return 0;
  }
  const started = performance.now();
  const w = makeWorkload({ servers: c.servers, allocators: c.allocators, tasks: c.tasks, service: c.service, seed: c.seed, taskMs: c.taskMs, ...(c.shares ? { shares: c.shares } : {}) });
  if (!c.json) process.stdout.write(`${header(c, w)}\n`);
  const results: LoadResult[] = [];
  for (const load of c.loads) {
    const walls = new Map<string, number>();
    const rows: PolicyResult[] = [];
    const run: RunConfig = { load, delayMs: c.delayMs, warmup: c.warmup };
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
      process.stdout.write(`${table(r, walls, w)}\n`);
    }
  }
  if (c.svg !== undefined) {
    const subtitle = `${c.servers.toLocaleString("en-US")} servers (power 1–8), ${c.allocators} allocators, reports ${c.delayMs} ms late, ${c.tasks.toLocaleString("en-US")} tasks, ${c.service === "exp" ? "exponential" : "bounded Pareto"} sizes (mean ${c.taskMs} ms at power 1), seed ${c.seed}`;
    try {
      writeFileSync(c.svg, responsePlot(results, { title: "allot sim: response time against load", subtitle }, DEFAULT_POLICY));
    } catch (err) {
      process.stderr.write(`allot sim: cannot write ${c.svg}: ${err instanceof Error ? err.message : String(err)}\n`);
      return 1;
    }
  }
  if (!c.json) {
    for (const t of targets(results)) process.stdout.write(`${t}\n`);
    process.stdout.write(`wall time ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  }
  return 0;
}
