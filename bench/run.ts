// `npm run bench`: the tiered path (full allocation per task, and with leases), the direct link,
// one task in flight on the tiered path beside a raw chain with its hops, master/slave (proxy and
// direct links, each beside a raw ws + msgpackr chain with the same hops) and a plain ws +
// msgpackr baseline, measured in one run on this machine, each role in its own process. Prints
// figures, ratios and the targets they meet or miss. Nodes run authenticated (the default
// setup); the direct and tiered figures are also taken without credentials, in the same rounds
// (`directNoAuthRatio`, `tieredNoAuthRatio`).
import { formatDecisions, runDecisions } from "./decisions.js";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Packr } from "msgpackr";
import { WebSocket } from "ws";
import { DEFAULT_POLICY } from "../src/policies/index.js";
import { allotMs, cpuLine, rawChain } from "./master-slave.js";
import type { MsFigure } from "./master-slave.js";
import { closedLoop } from "./measure.js";
import type { Figure } from "./measure.js";
import { killAll, spawnReady } from "./procs.js";
import { nativeCodec } from "../src/transport/index.js";
import { directLink } from "./direct-link.js";
import type { LoopOptions } from "./direct-link.js";
import { rawHopChain } from "./low-load.js";
import { summarize } from "./summary.js";
import type { Round } from "./summary.js";
import { tieredPath } from "./tiered.js";
import { BenchKeys } from "./creds.js";

const IN_FLIGHT = 256;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const WARMUP = 1;

async function baseline(): Promise<Figure> {
  const server = await spawnReady([], fileURLToPath(new URL("./raw-echo-server.js", import.meta.url)));
  try {
    const packr = new Packr({ useRecords: false });
    const ws = new WebSocket(server.url, { perMessageDeflate: false });
    await new Promise((r, j) => ws.once("open", r).once("error", j));
    const waiting = new Map<number, () => void>();
    ws.on("message", (data: Buffer) => {
      const [id] = packr.unpack(data) as [number];
      waiting.get(id)?.();
      waiting.delete(id);
    });
    const fig = await closedLoop("baseline: raw ws+msgpackr, 2 processes, one send per message", IN_FLIGHT, SECONDS, WARMUP, (i) =>
      new Promise<void>((resolve) => {
        waiting.set(i, resolve);
        ws.send(packr.pack([i, { app: "echo", payload: { i } }]));
      }),
    );
    ws.close();
    return fig;
  } finally {
    killAll([server]);
  }
}

const BENCH_ID = `bench-${process.pid}`;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const MS_APPS = Number(process.env.BENCH_MS_APPS ?? 2);
/** Slots each leased submit asks for: by default one per task in flight. */
const LEASE_SLOTS = Number(process.env.BENCH_LEASE_SLOTS ?? IN_FLIGHT);

/** " (no auth)" for a figure taken without credentials, for its name. */
const noAuth = (keys: BenchKeys | undefined): string => (keys ? "" : " (no auth)");

function row(f: Figure, base: Figure, baseName = "baseline"): string {
  return `  ${f.perSec.toString().padStart(7)} ops/s  p50 ${f.p50Ms} ms  p99 ${f.p99Ms} ms  ${(f.perSec / base.perSec).toFixed(2)}× ${baseName}  ${f.name}`;
}

/** A one-in-flight row: latency is the figure, so no throughput ratio. */
const lowRow = (f: Figure): string => `  ${f.perSec.toString().padStart(7)} ops/s  p50 ${f.p50Ms} ms  p99 ${f.p99Ms} ms  ${f.name}`;

const SECTIONS = ["direct", "tiered", "low-load", "ms-proxy", "ms-direct", "decisions", "sim", "attrs"] as const;
type Section = (typeof SECTIONS)[number];

/** BENCH_ONLY: a comma-separated list of sections; `ms` means both master/slave links; empty means all. */
function wanted(only: string): Set<Section> {
  const items = only.split(",").map((x) => x.trim()).filter(Boolean);
  if (items.length === 0) return new Set(SECTIONS);
  const out = new Set<Section>();
  for (const x of items) {
    if (x === "ms") {
      out.add("ms-proxy");
      out.add("ms-direct");
    } else if ((SECTIONS as readonly string[]).includes(x)) out.add(x as Section);
    else throw new Error(`BENCH_ONLY: expected a comma-separated list of ${[...SECTIONS, "ms"].join(", ")}, got ${JSON.stringify(x)}`);
  }
  return out;
}

/** A tiered row with a full allocation per task (only a leased row can come back empty). */
async function fullAllocation(keys: BenchKeys | undefined, o: LoopOptions, label: string): Promise<Figure> {
  const f = await tieredPath(keys, o, { label });
  if (!f) throw new Error("a tiered row without a lease came back empty");
  return f;
}

/** One figure of a round: takes it, prints it and files it in the round. */
type Step = (round: Round) => Promise<void>;

/** The figures of the wanted sections, in groups: a group's figures are compared with each other. */
function groups(want: Set<Section>, keys: BenchKeys): Step[][] {
  const loop: LoopOptions = { inFlight: IN_FLIGHT, seconds: SECONDS, warmup: WARMUP, benchId: BENCH_ID };
  const msOpts = { inFlight: IN_FLIGHT, seconds: SECONDS, warmup: WARMUP, apps: MS_APPS };
  const out: Step[][] = [];
  if (want.has("direct")) {
    out.push([keys, undefined].map((k): Step => async (round) => {
      const f = await directLink(k, loop, noAuth(k));
      if (k) round.direct = f;
      else round.directNoAuth = f;
      console.log(row(f, round.base));
    }));
  }
  if (want.has("tiered")) {
    const plain = [keys, undefined].map((k): Step => async (round) => {
      const f = await fullAllocation(k, loop, noAuth(k));
      if (k) round.tiered = f;
      else round.tieredNoAuth = f;
      console.log(row(f, round.base));
    });
    const leased: Step = async (round) => {
      const f = await tieredPath(keys, loop, { label: "", lease: LEASE_SLOTS });
      if (!f) return console.log("  lease: not supported by this build (the client shows no lease counters after a leased submit); row skipped");
      round.lease = f;
      console.log(row(f, round.base));
    };
    out.push([...plain, leased]);
  }
  if (want.has("low-load")) {
    const one = { ...loop, inFlight: 1 };
    out.push([
      async (round) => {
        round.lowTiered = await fullAllocation(keys, one, "");
        console.log(lowRow(round.lowTiered));
      },
      async (round) => {
        round.lowRaw = await rawHopChain(one);
        console.log(lowRow(round.lowRaw));
      },
    ]);
  }
  for (const link of ["proxy", "direct"] as const) {
    if (!want.has(`ms-${link}`)) continue;
    // Each half files what it took in its round; the pair is in the round once both are there.
    const halves = new WeakMap<Round, { raw?: MsFigure; allot?: MsFigure }>();
    const half = (round: Round): { raw?: MsFigure; allot?: MsFigure } => {
      const h = halves.get(round) ?? {};
      halves.set(round, h);
      return h;
    };
    const file = (round: Round): void => {
      const { raw, allot } = half(round);
      if (raw && allot) round.ms[link] = { raw, allot };
    };
    out.push([
      async (round) => {
        const raw = await rawChain(link, msOpts);
        half(round).raw = raw;
        console.log(row(raw, round.base));
        if (raw.cpu) console.log(cpuLine(raw));
        file(round);
      },
      async (round) => {
        const allot = await allotMs(link, msOpts, keys);
        const raw = half(round).raw;
        half(round).allot = allot;
        console.log(raw ? row(allot, raw, `raw ${link} chain`) : row(allot, round.base));
        if (allot.cpu) console.log(cpuLine(allot));
        file(round);
      },
    ]);
  }
  return out;
}

/**
 * Rounds interleave the figures, so a slow spell of this shared machine hits all of them: each
 * round's ratios compare figures taken minutes apart at most, and the medians are reported.
 * Every round takes the baseline first, then each figure once; odd rounds go through the groups
 * (and each group's figures) in order, even rounds in reverse, so a drift within a round does not
 * always favour the same side of a ratio.
 */
async function main(): Promise<void> {
  const want = wanted(process.env.BENCH_ONLY ?? "");
  if (!Number.isSafeInteger(LEASE_SLOTS) || LEASE_SLOTS < 1) throw new Error(`BENCH_LEASE_SLOTS: expected a whole number >= 1, got ${process.env.BENCH_LEASE_SLOTS}`);
  console.log(`allot bench: ${IN_FLIGHT} in flight (1 for the low-load rows), leases of ${LEASE_SLOTS} slots, ${SECONDS} s per figure after ${WARMUP} s warm-up, ${ROUNDS} interleaved rounds; sections ${[...want].join(", ")}; node ${process.version}; msgpackr native ${nativeCodec ? "on" : "off"}`);
  const rounds: Round[] = [];
  const keys = new BenchKeys();
  const steps = groups(want, keys);
  for (let r = 1; r <= ROUNDS; r++) {
    console.log(`round ${r}`);
    const base = await baseline();
    console.log(row(base, base));
    const round: Round = { base, ms: {} };
    const forward = r % 2 === 1;
    for (const g of forward ? steps : [...steps].reverse()) {
      for (const step of forward ? g : [...g].reverse()) await step(round);
    }
    for (const link of ["proxy", "direct"] as const) {
      const m = round.ms[link];
      if (m) console.log(`  master/slave ${link}: ${(m.allot.perSec / m.raw.perSec).toFixed(2)}× its raw chain`);
    }
    if (round.lowTiered && round.lowRaw) console.log(`  one in flight: tiered p50 ÷ raw chain p50 = ${(round.lowTiered.p50Ms / round.lowRaw.p50Ms).toFixed(2)}×`);
    rounds.push(round);
  }
  const s = summarize(rounds);
  for (const line of s.lines) console.log(line);
  const summary: Record<string, unknown> = { ...s.figures, targets: s.targets };
  if (want.has("decisions")) {
    // Pure and in this process: each policy's 100-server figure is its own baseline.
    const d = runDecisions();
    console.log(formatDecisions(d));
    Object.assign(summary, { decisions: d });
  }
  console.log(JSON.stringify(summary));
  if (want.has("sim")) {
    // Beside the decision rates, what the default policy's decisions are worth: the simulator's
    // table against the oracle and random at the project's target loads (a short run; the full
    // one, a million tasks at four loads, is in docs/benchmarks.md).
    console.log("simulator: the default policy against the oracle and random, 1,000 servers, 4 allocators, reports 10 ms late");
    await child(fileURLToPath(new URL("../../bin/allot.js", import.meta.url)), ["sim", "--servers", "1000", "--tasks", "200000", "--load", "0.9,0.95", "--policy", DEFAULT_POLICY], "simulator");
  }
  if (want.has("attrs")) {
    // Attribute state (propagation, periodic-report cost) in a process of its own: it measures
    // other processes' CPU and must not share this one's heap and timers.
    await child(fileURLToPath(new URL("./attr-state.js", import.meta.url)), [], "attribute-state bench");
  }
}

/** Runs a script in a process of its own, its output on ours; throws when it fails. */
async function child(script: string, args: string[], what: string): Promise<void> {
  const code = await new Promise<number | null>((resolve) => {
    const env = { ...process.env };
    delete env.BENCH_ONLY;
    spawn(process.execPath, [script, ...args], { stdio: "inherit", env }).once("exit", resolve);
  });
  if (code !== 0) throw new Error(`${what} exited ${code}`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
