// `npm run bench`: the tiered path, the direct link, master/slave (proxy and direct links, each
// beside a raw ws + msgpackr chain with the same hops) and a plain ws + msgpackr baseline,
// measured in one run on this machine, each role in its own process. Prints figures and ratios.
// Nodes run authenticated (the default setup); the direct and tiered figures are also taken
// without credentials, in the same rounds (`directNoAuthRatio`, `tieredNoAuthRatio`).
import { formatDecisions, runDecisions } from "./decisions.js";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Packr } from "msgpackr";
import { WebSocket } from "ws";
import { DEFAULT_POLICY } from "../src/policies/index.js";
import { startNode } from "../src/node/node.js";
import { Peer, createWsTransport, nativeCodec } from "../src/transport/index.js";
import type { Message } from "../src/protocol/index.js";
import { allotMs, cpuLine, rawChain } from "./master-slave.js";
import type { Link, MsFigure } from "./master-slave.js";
import { closedLoop } from "./measure.js";
import type { Figure } from "./measure.js";
import { killAll, spawnReady } from "./procs.js";
import type { Proc } from "./procs.js";
import { BenchKeys, authFlags } from "./creds.js";

const IN_FLIGHT = 256;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const WARMUP = 1;
const quiet = ["--log-level", "warn"];

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

function benchPeer(url: string, keys: BenchKeys | undefined): Peer {
  const log = { warn: () => {}, debug: () => {} };
  return new Peer(url, createWsTransport(), {
    node: BENCH_ID,
    ...(keys ? { auth: keys.authenticator(BENCH_ID) } : {}),
    role: "client",
    maxFrameBytes: 4 * 1024 * 1024,
    maxInFlight: 100_000,
    requestTimeoutMs: 30_000,
    handshakeMs: 5000,
    heartbeatMs: 0,
    now: Date.now,
    log,
    onMessage: () => {},
  }, { backoffMinMs: 50, backoffMaxMs: 1000, random: Math.random });
}

async function place(tier2: Peer, i: number): Promise<Extract<Message, { type: "task.placed" }>> {
  const task = { id: `b-${i}`, key: `b-${i}`, app: "echo", deadline: Date.now() + 600_000, require: [], clientAttrs: {}, prefs: {}, payload: { i } };
  for (;;) {
    try {
      // The ticket is for the client named here: the runs come from this process's peer, whose id this is.
      const m = await tier2.request("task.place", { task, client: { id: BENCH_ID, addr: "" } });
      if (m.type === "task.placed") return m;
    } catch {
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/** " (no auth)" for a figure taken without credentials, for its name. */
const noAuth = (keys: BenchKeys | undefined): string => (keys ? "" : " (no auth)");

async function directLink(keys: BenchKeys | undefined): Promise<Figure> {
  const procs: Proc[] = [];
  try {
    const t2 = await spawnReady(["--role", "distributor", "--tier", "2", ...authFlags(keys, "tier2", "bench-tier2"), ...quiet]);
    procs.push(t2);
    procs.push(await spawnReady(["--role", "app", "--join", t2.url, "--apps", "echo", "--capacity", "1000000", ...authFlags(keys, "app", "bench-app"), ...quiet]));
    const tier2 = benchPeer(t2.url, keys);
    // Allocate first, so that what is timed is only client ⇄ app server on a pooled connection.
    // Only the two strings a run needs are kept: 600k whole messages made the client's GC a factor.
    const total = 600_000;
    const ids: string[] = new Array(total);
    const tickets: string[] = new Array(total);
    let serverUrl = "";
    let next = 0;
    await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
      while (next < total) {
        const i = next++;
        const p = (await place(tier2, i)).body;
        ids[i] = p.taskId;
        tickets[i] = p.ticket;
        serverUrl = p.serverUrl;
      }
    }));
    const app = benchPeer(serverUrl, keys);
    let used = 0;
    const fig = await closedLoop(`direct link: client ⇄ app server (allocated beforehand)${noAuth(keys)}`, IN_FLIGHT, SECONDS, WARMUP, async () => {
      const i = used++;
      if (i >= total) throw new Error("ran out of pre-placed tickets; raise total");
      let taskId = ids[i] as string;
      let ticket = tickets[i] as string;
      // The last expects may still be on their way to the server: a run that beat its expect is retried.
      // A ticket whose expect the server refused never becomes valid: place again, as a client would.
      for (let tries = 0; ; tries++) {
        try {
          return await app.request("task.run", { taskId, key: taskId, app: "echo", ticket, payload: { i } });
        } catch (err) {
          if (tries > 20) throw err;
          if (tries > 0) ({ taskId, ticket } = (await place(tier2, total + i)).body);
        }
      }
    });
    tier2.close();
    app.close();
    return fig;
  } finally {
    killAll(procs);
  }
}

async function tieredPath(keys: BenchKeys | undefined): Promise<Figure> {
  const procs: Proc[] = [];
  try {
    const t2 = await spawnReady(["--role", "distributor", "--tier", "2", ...authFlags(keys, "tier2", "bench-tier2"), ...quiet]);
    procs.push(t2);
    procs.push(await spawnReady(["--role", "app", "--join", t2.url, "--apps", "echo", "--capacity", "100000", ...authFlags(keys, "app", "bench-app"), ...quiet]));
    const vip2 = await spawnReady(["--role", "vip", "--to", t2.url, ...authFlags(keys, "vip", "bench-vip-2"), ...quiet]);
    procs.push(vip2);
    const t1 = await spawnReady(["--role", "distributor", "--tier", "1", "--to", vip2.url, ...authFlags(keys, "tier1", "bench-tier1"), ...quiet]);
    procs.push(t1);
    const vip1 = await spawnReady(["--role", "vip", "--to", t1.url, ...authFlags(keys, "vip", "bench-vip-1"), ...quiet]);
    procs.push(vip1);
    const client = await startNode({ role: "client", id: BENCH_ID, ...(keys ? keys.config("client", BENCH_ID) : {}), entries: [vip1.url], logLevel: "warn" });
    await client.submit({ app: "echo", payload: 0 });
    const fig = await closedLoop(`tiered path: client → vip → tier-1 → vip → tier-2 → app, full allocation per task${noAuth(keys)}`, IN_FLIGHT, SECONDS, WARMUP, (i) =>
      client.submit({ app: "echo", payload: { i } }),
    );
    const t = client.stats().traffic as { framesOut: number; envelopesOut: number; framesIn: number; envelopesIn: number; closedSilent?: number };
    // No node is stopped here: a link closed as silent is a false positive of the failure detector.
    console.log(`    client: ${(t.envelopesOut / t.framesOut).toFixed(1)} envelopes per frame out, ${(t.envelopesIn / t.framesIn).toFixed(1)} in; links closed as silent ${t.closedSilent ?? 0}`);
    await client.stop();
    return fig;
  } finally {
    killAll(procs);
  }
}

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const MS_APPS = Number(process.env.BENCH_MS_APPS ?? 2);

function row(f: Figure, base: Figure, baseName = "baseline"): string {
  return `  ${f.perSec.toString().padStart(7)} ops/s  p50 ${f.p50Ms} ms  p99 ${f.p99Ms} ms  ${(f.perSec / base.perSec).toFixed(2)}× ${baseName}  ${f.name}`;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? (s[s.length >> 1] as number) : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
};

const SECTIONS = ["direct", "tiered", "ms-proxy", "ms-direct", "decisions", "sim", "attrs"] as const;
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

interface Round {
  base: Figure;
  direct?: Figure;
  tiered?: Figure;
  /** The same two figures with no credentials anywhere (tickets are still signed and checked: they always are). */
  directNoAuth?: Figure;
  tieredNoAuth?: Figure;
  ms: Partial<Record<Link, { raw: MsFigure; allot: MsFigure }>>;
}

/**
 * Rounds interleave the figures, so a slow spell of this shared machine hits all of them: each
 * round's ratios compare figures taken minutes apart at most, and the medians are reported. A
 * master/slave figure is taken right after its raw chain, and compared with it.
 */
async function main(): Promise<void> {
  const want = wanted(process.env.BENCH_ONLY ?? "");
  console.log(`allot bench: ${IN_FLIGHT} in flight, ${SECONDS} s per figure after ${WARMUP} s warm-up, ${ROUNDS} interleaved rounds; sections ${[...want].join(", ")}; node ${process.version}; msgpackr native ${nativeCodec ? "on" : "off"}`);
  const msOpts = { inFlight: IN_FLIGHT, seconds: SECONDS, warmup: WARMUP, apps: MS_APPS };
  const rounds: Round[] = [];
  const keys = new BenchKeys();
  for (let r = 1; r <= ROUNDS; r++) {
    console.log(`round ${r}`);
    const base = await baseline();
    console.log(row(base, base));
    const round: Round = { base, ms: {} };
    // With and without authentication, in alternating order, so a drift hits both alike.
    const order = r % 2 === 1 ? [keys, undefined] : [undefined, keys];
    if (want.has("direct")) {
      for (const k of order) {
        const f = await directLink(k);
        if (k) round.direct = f;
        else round.directNoAuth = f;
        console.log(row(f, base));
      }
    }
    if (want.has("tiered")) {
      for (const k of order) {
        const f = await tieredPath(k);
        if (k) round.tiered = f;
        else round.tieredNoAuth = f;
        console.log(row(f, base));
      }
    }
    for (const link of ["proxy", "direct"] as const) {
      if (!want.has(`ms-${link}`)) continue;
      const raw = await rawChain(link, msOpts);
      console.log(row(raw, base));
      if (raw.cpu) console.log(cpuLine(raw));
      const allot = await allotMs(link, msOpts, keys);
      console.log(row(allot, raw, `raw ${link} chain`));
      if (allot.cpu) console.log(cpuLine(allot));
      round.ms[link] = { raw, allot };
    }
    rounds.push(round);
  }
  const pick = <T>(f: (r: Round) => T | undefined): T[] => rounds.flatMap((r) => {
    const x = f(r);
    return x === undefined ? [] : [x];
  });
  const summary: Record<string, number> = { baselinePerSec: median(rounds.map((r) => r.base.perSec)) };
  const parts = [`baseline ${summary.baselinePerSec} ops/s`];
  if (want.has("direct")) {
    Object.assign(summary, {
      directPerSec: median(pick((r) => r.direct?.perSec)),
      directRatio: median(pick((r) => r.direct && r.direct.perSec / r.base.perSec)),
      directP99Ms: median(pick((r) => r.direct?.p99Ms)),
      directNoAuthPerSec: median(pick((r) => r.directNoAuth?.perSec)),
      directNoAuthRatio: median(pick((r) => r.directNoAuth && r.directNoAuth.perSec / r.base.perSec)),
    });
    parts.push(`direct link ${summary.directPerSec} ops/s = ${summary.directRatio?.toFixed(2)}× (target ≥ 1.0×), ${summary.directNoAuthRatio?.toFixed(2)}× without authentication`);
  }
  if (want.has("tiered")) {
    Object.assign(summary, {
      tieredPerSec: median(pick((r) => r.tiered?.perSec)),
      tieredRatio: median(pick((r) => r.tiered && r.tiered.perSec / r.base.perSec)),
      tieredP50Ms: median(pick((r) => r.tiered?.p50Ms)),
      tieredP99Ms: median(pick((r) => r.tiered?.p99Ms)),
      tieredNoAuthPerSec: median(pick((r) => r.tieredNoAuth?.perSec)),
      tieredNoAuthRatio: median(pick((r) => r.tieredNoAuth && r.tieredNoAuth.perSec / r.base.perSec)),
    });
    parts.push(`tiered path ${summary.tieredPerSec} tasks/s = ${summary.tieredRatio?.toFixed(2)}× (target ≥ 0.25×), ${summary.tieredNoAuthRatio?.toFixed(2)}× without authentication`);
  }
  for (const link of ["proxy", "direct"] as const) {
    if (!want.has(`ms-${link}`)) continue;
    const k = link === "proxy" ? "msProxy" : "msDirect";
    const s = {
      [`${k}PerSec`]: median(pick((r) => r.ms[link]?.allot.perSec)),
      [`${k}P50Ms`]: median(pick((r) => r.ms[link]?.allot.p50Ms)),
      [`${k}P99Ms`]: median(pick((r) => r.ms[link]?.allot.p99Ms)),
      [`${k}RawPerSec`]: median(pick((r) => r.ms[link]?.raw.perSec)),
      [`${k}RawP50Ms`]: median(pick((r) => r.ms[link]?.raw.p50Ms)),
      [`${k}RawP99Ms`]: median(pick((r) => r.ms[link]?.raw.p99Ms)),
      [`${k}Ratio`]: median(pick((r) => r.ms[link] && r.ms[link].allot.perSec / r.ms[link].raw.perSec)),
    };
    Object.assign(summary, s);
    parts.push(
      `master/slave ${link} ${s[`${k}PerSec`]} tasks/s (p50 ${s[`${k}P50Ms`]} / p99 ${s[`${k}P99Ms`]} ms) = ${s[`${k}Ratio`]?.toFixed(2)}× its raw chain's ${s[`${k}RawPerSec`]}${link === "proxy" ? " (target ≥ 0.5×)" : ""}`,
    );
  }
  console.log(`medians over ${ROUNDS} rounds: ${parts.join("; ")}`);
  if (want.has("decisions")) {
    // Pure and in this process: each policy's 100-server figure is its own baseline.
    const d = runDecisions();
    console.log(formatDecisions(d));
    Object.assign(summary, { decisions: d });
  }
  console.log(JSON.stringify(summary));
  if (want.has("sim")) {
    // Beside the decision rates, what the default policy's decisions are worth: the simulator's
    // table against the oracle and random at the issue's target loads (a short run; the full
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
