// Decisions per second of every policy at 100, 1,000, 10,000 and 100,000 servers, with
// constraints on, and the memory one server entry takes. Pure: allocate() against a ServerTable,
// one process, no I/O. The 100-server figure is each policy's own baseline.
//   npm run build && node --expose-gc dist/bench/decisions.js
import { DEFAULT_POLICY, allocate, compileRequire, resolvePolicy } from "../src/policies/index.js";
import type { Policy } from "../src/policies/index.js";
import type { Task } from "../src/protocol/index.js";
import { ServerTable, freeSlots } from "../src/state/index.js";
import type { ServerEntry } from "../src/state/index.js";

const POLICIES = ["most-idle", "least-loaded", "round-robin", "random", "weighted", "best-fit", "p2c", "hash", "idle-queue", "shortest-delay", "shortest-delay@a1/4", "uniform floor"];
/** NAME@ID/K: the policy decided by allocator ID of a set of K (a0…a{K-1}), for policies with home servers. */
function parseRow(row: string): { policy: string; allocator?: { id: string; members: string[] } } {
  const at = row.indexOf("@");
  if (at < 0) return { policy: row };
  const [id, k] = row.slice(at + 1).split("/") as [string, string];
  return { policy: row.slice(0, at), allocator: { id, members: Array.from({ length: Number(k) }, (_, i) => `a${i}`) } };
}
const SIZES = [100, 1_000, 10_000, 100_000];
const REGIONS = ["eu", "us", "ap"];

// The state lives in a Uint32Array, not a closure variable: a uint32 past 2^31 is no small
// integer to V8, so a variable holding it was a new heap number on every other draw (8 bytes a
// draw), garbage that charged a policy for its number of draws. The same sequence either way.
function lcg(seed: number): () => number {
  const s = new Uint32Array([seed]);
  return () => {
    s[0] = Math.imul(s[0] as number, 1_664_525) + 1_013_904_223;
    return (s[0] as number) / 2 ** 32;
  };
}

/** What the table measures of a build: this one's, or another checkout's `dist` (`decisions-ab`). */
export interface Build {
  allocate: typeof allocate;
  resolvePolicy: typeof resolvePolicy;
  compileRequire: typeof compileRequire;
  freeSlots: typeof freeSlots;
  ServerTable: typeof ServerTable;
}

const THIS: Build = { allocate, resolvePolicy, compileRequire, freeSlots, ServerTable };

/** n servers: power 1-8, capacity 8, a random load, one of three regions, a gpu on a quarter. */
export function fleet(n: number, seed = 1, build: Build = THIS): ServerTable {
  const random = lcg(seed);
  const t = new build.ServerTable();
  for (let i = 0; i < n; i++) {
    const attrs = { region: REGIONS[i % 3] as string, gpu: i % 4 === 0 };
    t.apply({ id: `s${i}`, url: `ws://10.0.${i >> 8}.${i & 255}:7000`, apps: ["echo", "hash"], capacity: 8, power: 1 + (i % 8), load: Math.floor(random() * 7), attrs, version: [1, 1] }, 0);
  }
  return t;
}

// A third of the servers are in the eu, seven eighths have power >= 2: ~29% are eligible.
const task: Task = { id: "t", key: "t", app: "echo", user: "u42", deadline: 1, require: [{ key: "region", op: "=", value: "eu" }, { key: "power", op: ">=", value: 2 }], clientAttrs: {}, prefs: {}, payload: null };

/**
 * The floor of any policy that places on a uniformly random eligible server: one drawn from a
 * list of them made beforehand, with no search and no check. What is left is the decision's own
 * path (compiling, reserving, releasing) and the reach into a random server's state, which at
 * 100,000 servers is out of cache: its 100k ÷ 100 is the most a uniform sampler can show here.
 */
export const FLOOR_ROW = "uniform floor";

function floorPolicy(t: ServerTable, build: Build): Policy {
  const meets = build.compileRequire(task.require);
  const list = t.offering(task.app).filter((e) => e.status === "alive" && build.freeSlots(e) > 0 && meets(e));
  const random = lcg(11);
  const pick = (): ServerEntry | undefined => list[Math.floor(random() * list.length)];
  return { name: FLOOR_ROW, samples: true, locate: pick, select: pick };
}

/** Decisions per second for `ms` milliseconds; each decision's slot is released again so loads hold still. */
export function rate(t: ServerTable, policyName: string, ms: number, build: Build = THIS): number {
  const row = parseRow(policyName);
  const policy = policyOf(t, row.policy, build);
  const ctx = { random: lcg(7), now: () => 0, ...(row.allocator ? { allocator: row.allocator } : {}) };
  let n = 0;
  const until = performance.now() + ms;
  while (performance.now() < until) {
    for (let i = 0; i < 100; i++) {
      const a = build.allocate(t, task, policy, ctx);
      if (!a.ok) throw new Error(`${policyName}: ${a.reason}`);
      t.release(a.server); // the entry, as a node releases the server a decision returned
    }
    n += 100;
  }
  return n / (ms / 1000);
}

const floors = new WeakMap<ServerTable, Policy>();

function policyOf(t: ServerTable, name: string, build: Build): Policy {
  if (name !== FLOOR_ROW) return build.resolvePolicy(name);
  let p = floors.get(t);
  if (p === undefined) floors.set(t, (p = floorPolicy(t, build)));
  return p;
}

const ROUNDS = 5;

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

export function heapAfterGc(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed;
}

export function runDecisions(ms = Number(process.env.BENCH_DECISION_MS ?? 300)): { bytesPerEntry: number; rows: Array<{ policy: string; perSec: number[]; ratio: number }> } {
  // Memory as a working tier-2 holds it: the table, and the index its default policy reads.
  const before = heapAfterGc();
  let big: ServerTable | undefined = fleet(100_000);
  rate(big, DEFAULT_POLICY, 1);
  const bytesPerEntry = Math.round((heapAfterGc() - before) / 100_000);
  big = undefined;
  const rows = POLICIES.map((policy) => {
    // Tables of its own, as a node running this policy has: each keeps only the indexes its policy reads.
    const tables = SIZES.map((n) => fleet(n));
    // A short run first: the JIT warms up, and the policy's index (hash: the ring) is built.
    for (const t of tables) rate(t, policy, 30);
    heapAfterGc(); // the tables of earlier rows are collected now, not during the timed runs
    // Sizes interleaved, ROUNDS times: this VM's speed drifts by 2x over seconds, and a ratio of
    // figures taken moments apart drifts far less than one of figures taken a second apart.
    const rounds = Array.from({ length: ROUNDS }, () => tables.map((t) => rate(t, policy, ms / ROUNDS)));
    const perSec = SIZES.map((_, k) => median(rounds.map((r) => r[k] as number)));
    return { policy, perSec, ratio: median(rounds.map((r) => (r[3] as number) / (r[0] as number))) };
  });
  return { bytesPerEntry, rows };
}

export function formatDecisions(r: ReturnType<typeof runDecisions>): string {
  // Each ratio beside the floor's of the same run: how much of what this machine allows a policy
  // that touches a uniformly drawn server shows (the floor's own ratio moves 0.41–0.55 run to run).
  const floor = r.rows.find((x) => x.policy === FLOOR_ROW)?.ratio;
  const head = `decisions/s with constraints (region=eu, power>=2; ~29% eligible)   ${SIZES.map((n) => String(n).padStart(10)).join("")}   100k ÷ 100 (target ≥ 0.5; median of ${ROUNDS} interleaved rounds)   ÷ the floor's`;
  const lines = r.rows.map((x) => `  ${x.policy.padEnd(20)}${" ".repeat(46)}${x.perSec.map((v) => String(Math.round(v)).padStart(10)).join("")}   ${x.ratio.toFixed(2)}${floor === undefined ? "" : `${" ".repeat(62)}${(x.ratio / floor).toFixed(2)}`}`);
  return [head, ...lines, `  (${FLOOR_ROW}: a random eligible server from a list made beforehand, no search: about the most any policy that places on a uniformly random server can show here)`, `memory per server entry (tables, the default policy's index, attributes): ~${r.bytesPerEntry} bytes`].join("\n");
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = runDecisions();
  console.log(formatDecisions(r));
  console.log(JSON.stringify(r));
}
