// `npm run bench`: the tiered path, the direct link and a plain ws + msgpackr baseline, measured
// in one run on this machine, each role in its own process. Prints figures and ratios.
import { fileURLToPath } from "node:url";
import { Packr } from "msgpackr";
import { WebSocket } from "ws";
import { startNode } from "../src/node/node.js";
import { Peer, createWsTransport, nativeCodec } from "../src/transport/index.js";
import type { Message } from "../src/protocol/index.js";
import { closedLoop } from "./measure.js";
import type { Figure } from "./measure.js";
import { killAll, spawnReady } from "./procs.js";
import type { Proc } from "./procs.js";

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

function benchPeer(url: string): Peer {
  const log = { warn: () => {}, debug: () => {} };
  return new Peer(url, createWsTransport(), {
    node: `bench-${process.pid}`,
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
      const m = await tier2.request("task.place", { task, client: { id: "bench", addr: "" } });
      if (m.type === "task.placed") return m;
    } catch {
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

async function directLink(): Promise<Figure> {
  const procs: Proc[] = [];
  try {
    const t2 = await spawnReady(["--role", "distributor", "--tier", "2", ...quiet]);
    procs.push(t2);
    procs.push(await spawnReady(["--role", "app", "--join", t2.url, "--apps", "echo", "--capacity", "1000000", ...quiet]));
    const tier2 = benchPeer(t2.url);
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
    const app = benchPeer(serverUrl);
    let used = 0;
    const fig = await closedLoop("direct link: client ⇄ app server (allocated beforehand)", IN_FLIGHT, SECONDS, WARMUP, async () => {
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

async function tieredPath(): Promise<Figure> {
  const procs: Proc[] = [];
  try {
    const t2 = await spawnReady(["--role", "distributor", "--tier", "2", ...quiet]);
    procs.push(t2);
    procs.push(await spawnReady(["--role", "app", "--join", t2.url, "--apps", "echo", "--capacity", "100000", ...quiet]));
    const vip2 = await spawnReady(["--role", "vip", "--to", t2.url, ...quiet]);
    procs.push(vip2);
    const t1 = await spawnReady(["--role", "distributor", "--tier", "1", "--to", vip2.url, ...quiet]);
    procs.push(t1);
    const vip1 = await spawnReady(["--role", "vip", "--to", t1.url, ...quiet]);
    procs.push(vip1);
    const client = await startNode({ role: "client", entries: [vip1.url], logLevel: "warn" });
    await client.submit({ app: "echo", payload: 0 });
    const fig = await closedLoop("tiered path: client → vip → tier-1 → vip → tier-2 → app, full allocation per task", IN_FLIGHT, SECONDS, WARMUP, (i) =>
      client.submit({ app: "echo", payload: { i } }),
    );
    const t = client.stats().traffic as { framesOut: number; envelopesOut: number; framesIn: number; envelopesIn: number };
    console.log(`    client: ${(t.envelopesOut / t.framesOut).toFixed(1)} envelopes per frame out, ${(t.envelopesIn / t.framesIn).toFixed(1)} in`);
    await client.stop();
    return fig;
  } finally {
    killAll(procs);
  }
}

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

function row(f: Figure, base: Figure): string {
  return `  ${f.perSec.toString().padStart(7)} ops/s  p50 ${f.p50Ms} ms  p99 ${f.p99Ms} ms  ${(f.perSec / base.perSec).toFixed(2)}× baseline  ${f.name}`;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? (s[s.length >> 1] as number) : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
};

/**
 * Rounds interleave the three figures, so a slow spell of this shared machine hits all of them:
 * each round's ratios compare figures taken minutes apart at most, and the medians are reported.
 */
async function main(): Promise<void> {
  console.log(`allot bench: ${IN_FLIGHT} in flight, ${SECONDS} s per figure after ${WARMUP} s warm-up, ${ROUNDS} interleaved rounds; node ${process.version}; msgpackr native ${nativeCodec ? "on" : "off"}`);
  const only = process.env.BENCH_ONLY ?? "";
  const rounds: Array<{ base: Figure; direct?: Figure; tiered?: Figure }> = [];
  for (let r = 1; r <= ROUNDS; r++) {
    console.log(`round ${r}`);
    const base = await baseline();
    console.log(row(base, base));
    const round: { base: Figure; direct?: Figure; tiered?: Figure } = { base };
    if (only === "" || only === "direct") {
      round.direct = await directLink();
      console.log(row(round.direct, base));
    }
    if (only === "" || only === "tiered") {
      round.tiered = await tieredPath();
      console.log(row(round.tiered, base));
    }
    rounds.push(round);
  }
  const summary = {
    baselinePerSec: median(rounds.map((r) => r.base.perSec)),
    directPerSec: median(rounds.flatMap((r) => (r.direct ? [r.direct.perSec] : []))),
    tieredPerSec: median(rounds.flatMap((r) => (r.tiered ? [r.tiered.perSec] : []))),
    directRatio: median(rounds.flatMap((r) => (r.direct ? [r.direct.perSec / r.base.perSec] : []))),
    tieredRatio: median(rounds.flatMap((r) => (r.tiered ? [r.tiered.perSec / r.base.perSec] : []))),
    directP99Ms: median(rounds.flatMap((r) => (r.direct ? [r.direct.p99Ms] : []))),
    tieredP50Ms: median(rounds.flatMap((r) => (r.tiered ? [r.tiered.p50Ms] : []))),
    tieredP99Ms: median(rounds.flatMap((r) => (r.tiered ? [r.tiered.p99Ms] : []))),
  };
  console.log(`medians over ${ROUNDS} rounds: baseline ${summary.baselinePerSec} ops/s; direct link ${summary.directPerSec} ops/s = ${summary.directRatio.toFixed(2)}× (target ≥ 1.0×); tiered path ${summary.tieredPerSec} tasks/s = ${summary.tieredRatio.toFixed(2)}× (target ≥ 0.25×)`);
  console.log(JSON.stringify(summary));
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
