// The decisions table's 100 and 100,000-server figures for this build and another one, measured
// in one process round by round (this build's 100 and 100k, then the other's, ROUNDS times). This
// VM's speed drifts 2x within seconds, so a change to the decision path shows only against the
// build before it measured moments apart; two runs of the table minutes apart cannot tell it.
//   git worktree add /tmp/base HEAD~1 && (cd /tmp/base && npm ci && npm run build)
//   npm run build && node --expose-gc dist/bench/decisions-ab.js /tmp/base/dist random,p2c
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { Build } from "./decisions.js";
import { FLOOR_ROW, fleet, heapAfterGc, median, rate } from "./decisions.js";
import { allocate, compileRequire, resolvePolicy } from "../src/policies/index.js";
import { ServerTable, freeSlots } from "../src/state/index.js";

const ROUNDS = Number(process.env.AB_ROUNDS ?? 31);
const MS = Number(process.env.AB_MS ?? 40);
const SMALL = 100;
const LARGE = 100_000;

/** The other build's modules: its `dist` holds the same files (`src/policies/index.js`, `src/state/index.js`). */
async function load(dist: string): Promise<Build> {
  const at = (file: string): string => pathToFileURL(resolve(dist, file)).href;
  const policies = (await import(at("src/policies/index.js"))) as Pick<Build, "allocate" | "compileRequire" | "resolvePolicy">;
  const state = (await import(at("src/state/index.js"))) as Pick<Build, "freeSlots" | "ServerTable">;
  return { allocate: policies.allocate, compileRequire: policies.compileRequire, resolvePolicy: policies.resolvePolicy, freeSlots: state.freeSlots, ServerTable: state.ServerTable };
}

interface Side {
  name: string;
  build: Build;
  tables: [ServerTable, ServerTable];
  small: number[];
  large: number[];
  ratio: number[];
}

function measure(policy: string, sides: Side[]): string {
  for (const s of sides) for (const t of s.tables) rate(t, policy, 30, s.build); // JIT warm, indexes built
  heapAfterGc();
  for (let r = 0; r < ROUNDS; r++) {
    for (const s of sides) {
      const small = rate(s.tables[0], policy, MS, s.build);
      const large = rate(s.tables[1], policy, MS, s.build);
      s.small.push(small);
      s.large.push(large);
      s.ratio.push(large / small);
    }
  }
  const cells = sides.map((s) => `${s.name} ${Math.round(median(s.small))} / ${Math.round(median(s.large))} (${median(s.ratio).toFixed(2)})`);
  const [a, b] = sides as [Side, Side];
  const faster = median(a.large.map((x, i) => x / (b.large[i] as number)));
  return `  ${policy.padEnd(16)}${cells.join("   ")}   100k this ÷ other ${faster.toFixed(2)}`;
}

const other = process.argv[2];
if (other === undefined) {
  console.error("usage: node --expose-gc dist/bench/decisions-ab.js OTHER_DIST [POLICY[,POLICY…]]");
  process.exit(2);
}
const policies = (process.argv[3] ?? `random,p2c,weighted,${FLOOR_ROW}`).split(",");
const builds: Array<[string, Build]> = [
  ["this", { allocate, compileRequire, resolvePolicy, freeSlots, ServerTable }],
  ["other", await load(other)],
];
console.log(`decisions/s at ${SMALL} / ${LARGE} servers (100k ÷ 100), medians of ${ROUNDS} interleaved rounds of ${MS} ms; other = ${other}`);
for (const policy of policies) {
  const sides = builds.map(([name, build]): Side => ({ name, build, tables: [fleet(SMALL, 1, build), fleet(LARGE, 1, build)], small: [], large: [], ratio: [] }));
  console.log(measure(policy, sides));
}
