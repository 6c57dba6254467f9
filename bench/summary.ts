// The end of `npm run bench`: medians over the rounds, the project's targets with PASS or MISS,
// and every round's value beside each (the spread), as a line per figure and as JSON.
import type { Figure } from "./measure.js";
import type { Link, MsFigure } from "./master-slave.js";
import type { TieredFigure } from "./tiered.js";

/** One round's figures; a section left out, or a row this build cannot run, is absent. */
export interface Round {
  base: Figure;
  direct?: Figure;
  tiered?: Figure;
  /** The same two figures with no credentials anywhere (tickets are still signed and checked: they always are). */
  directNoAuth?: Figure;
  tieredNoAuth?: Figure;
  /** The tiered path with each submit asking for a lease. */
  lease?: TieredFigure;
  /** One task in flight: the tiered path, and the raw chain with its hops. */
  lowTiered?: Figure;
  lowRaw?: Figure;
  ms: Partial<Record<Link, { raw: MsFigure; allot: MsFigure }>>;
}

interface Target {
  /** Its key in the JSON, holding the median over rounds. */
  key: string;
  what: string;
  /** This round's value, when the round has the figures. */
  of(r: Round): number | undefined;
  /** The value passes at or above `goal` (">="), or at or below it ("<="). */
  op: ">=" | "<=";
  goal: number;
}

const perBase = (f: Figure | undefined, base: Figure): number | undefined => f && f.perSec / base.perSec;

/** The targets, each a ratio taken within one round. */
export const TARGETS: readonly Target[] = [
  { key: "tieredRatio", what: "tiered ÷ baseline", of: (r) => perBase(r.tiered, r.base), op: ">=", goal: 0.5 },
  { key: "leaseRatio", what: "tiered with leases ÷ baseline", of: (r) => perBase(r.lease, r.base), op: ">=", goal: 0.9 },
  { key: "directRatio", what: "direct link ÷ baseline", of: (r) => perBase(r.direct, r.base), op: ">=", goal: 1.3 },
  { key: "msProxyRatio", what: "master/slave proxy ÷ its raw chain", of: (r) => r.ms.proxy && r.ms.proxy.allot.perSec / r.ms.proxy.raw.perSec, op: ">=", goal: 1.2 },
  { key: "lowLoadP50Ratio", what: "one in flight: tiered p50 ÷ raw chain p50", of: (r) => r.lowTiered && r.lowRaw && r.lowTiered.p50Ms / r.lowRaw.p50Ms, op: "<=", goal: 1.3 },
];

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? (s[s.length >> 1] as number) : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
};

function values<T>(rounds: readonly Round[], f: (r: Round) => T | undefined): T[] {
  return rounds.flatMap((r) => {
    const x = f(r);
    return x === undefined ? [] : [x];
  });
}

/** The median of a figure over the rounds that have it; none when no round has. */
function med(rounds: readonly Round[], f: (r: Round) => number | undefined): number | undefined {
  const xs = values(rounds, f);
  return xs.length === 0 ? undefined : median(xs);
}

export interface TargetResult {
  value: number;
  target: string;
  pass: boolean;
  rounds: number[];
}

export interface Summary {
  /** Medians (and the baseline's), by the keys the bench has always printed, and the new ones. */
  figures: Record<string, number>;
  targets: Record<string, TargetResult>;
  lines: string[];
}

const r2 = (x: number): number => Math.round(x * 100) / 100;

export function summarize(rounds: readonly Round[]): Summary {
  const figures: Record<string, number> = {};
  const put = (key: string, f: (r: Round) => number | undefined): void => {
    const v = med(rounds, f);
    if (v !== undefined) figures[key] = v;
  };
  put("baselinePerSec", (r) => r.base.perSec);
  put("directPerSec", (r) => r.direct?.perSec);
  put("directP99Ms", (r) => r.direct?.p99Ms);
  put("directNoAuthPerSec", (r) => r.directNoAuth?.perSec);
  put("directNoAuthRatio", (r) => perBase(r.directNoAuth, r.base));
  put("tieredPerSec", (r) => r.tiered?.perSec);
  put("tieredP50Ms", (r) => r.tiered?.p50Ms);
  put("tieredP99Ms", (r) => r.tiered?.p99Ms);
  put("tieredNoAuthPerSec", (r) => r.tieredNoAuth?.perSec);
  put("tieredNoAuthRatio", (r) => perBase(r.tieredNoAuth, r.base));
  put("leasePerSec", (r) => r.lease?.perSec);
  put("leaseP50Ms", (r) => r.lease?.p50Ms);
  put("leaseP99Ms", (r) => r.lease?.p99Ms);
  put("lowLoadTieredPerSec", (r) => r.lowTiered?.perSec);
  put("lowLoadTieredP50Ms", (r) => r.lowTiered?.p50Ms);
  put("lowLoadTieredP99Ms", (r) => r.lowTiered?.p99Ms);
  put("lowLoadRawPerSec", (r) => r.lowRaw?.perSec);
  put("lowLoadRawP50Ms", (r) => r.lowRaw?.p50Ms);
  put("lowLoadRawP99Ms", (r) => r.lowRaw?.p99Ms);
  for (const link of ["proxy", "direct"] as const) {
    const k = link === "proxy" ? "msProxy" : "msDirect";
    put(`${k}PerSec`, (r) => r.ms[link]?.allot.perSec);
    put(`${k}P50Ms`, (r) => r.ms[link]?.allot.p50Ms);
    put(`${k}P99Ms`, (r) => r.ms[link]?.allot.p99Ms);
    put(`${k}RawPerSec`, (r) => r.ms[link]?.raw.perSec);
    put(`${k}RawP50Ms`, (r) => r.ms[link]?.raw.p50Ms);
    put(`${k}RawP99Ms`, (r) => r.ms[link]?.raw.p99Ms);
    put(`${k}Ratio`, (r) => r.ms[link] && r.ms[link].allot.perSec / r.ms[link].raw.perSec);
  }
  const targets: Record<string, TargetResult> = {};
  const lines = [`medians over ${rounds.length} rounds (each round's value in brackets):`];
  for (const t of TARGETS) {
    const rs = values(rounds, t.of);
    if (rs.length === 0) {
      lines.push(`  ----  (target ${t.op === ">=" ? "≥" : "≤"} ${t.goal}×)  ${t.what}: not measured in this run`);
      continue;
    }
    const value = median(rs);
    const pass = t.op === ">=" ? value >= t.goal : value <= t.goal;
    figures[t.key] = value;
    targets[t.key] = { value: r2(value), target: `${t.op} ${t.goal}`, pass, rounds: rs.map(r2) };
    lines.push(`  ${pass ? "PASS" : "MISS"}  ${value.toFixed(2)}× (target ${t.op === ">=" ? "≥" : "≤"} ${t.goal}×)  ${t.what}  [${rs.map((x) => x.toFixed(2)).join(", ")}]`);
  }
  const f = (k: string): string => (figures[k] === undefined ? "–" : String(r2(figures[k])));
  lines.push(
    `  baseline ${f("baselinePerSec")} ops/s; direct ${f("directPerSec")} ops/s (${f("directNoAuthRatio")}× without authentication); ` +
      `tiered ${f("tieredPerSec")} tasks/s (${f("tieredNoAuthRatio")}× without authentication), with leases ${f("leasePerSec")}; ` +
      `one in flight p50 tiered ${f("lowLoadTieredP50Ms")} ms, raw chain ${f("lowLoadRawP50Ms")} ms; ` +
      `master/slave proxy ${f("msProxyPerSec")} (raw ${f("msProxyRawPerSec")}), direct ${f("msDirectPerSec")} (raw ${f("msDirectRawPerSec")}) tasks/s`,
  );
  return { figures, targets, lines };
}
