// The direct-link figure of `npm run bench`: tasks are placed through a tier-2 beforehand (not
// timed), then only their `task.run`s on the pooled client ⇄ app server connection are timed.
// How many tickets to place is sized from a rate measured by a short untimed run, so a fast run
// never runs out and a slow one does not spend minutes placing tickets it will not use.
import { Peer, createWsTransport } from "../src/transport/index.js";
import type { Message } from "../src/protocol/index.js";
import { queryStatus } from "../src/node/query.js";
import { closedLoop } from "./measure.js";
import type { Figure } from "./measure.js";
import { killAll, spawnReady } from "./procs.js";
import type { Proc } from "./procs.js";
import { authFlags } from "./creds.js";
import type { BenchKeys } from "./creds.js";

export interface LoopOptions {
  inFlight: number;
  seconds: number;
  warmup: number;
  /** The node id of the bench's own connections (tickets name it). */
  benchId: string;
}

const quiet = ["--log-level", "warn"];
/** Length of the untimed calibration run, s. */
const CALIBRATION_S = 1;
/** Most calibration runs, and the rise in rate below which it counts as steady. */
const CALIBRATION_RUNS = 8;
const STEADY = 1.15;
/** Tickets placed for the first calibration run. */
const FIRST_CHUNK = 20_000;
/** Tickets placed beyond rate × (warm-up + window): the timed run may well go faster than the calibration. */
const SAFETY = 1.5;
/** Timed runs tried before giving up; each one that runs out places twice as many more. */
const MAX_ATTEMPTS = 5;
/** The app server's capacity (the most `allot start` takes): every placed ticket holds a slot until it runs. */
const APP_CAPACITY = 1_000_000;
/** Longest wait for the app server to have every placed ticket's expect, ms. */
const SETTLE_MS = 60_000;
/** Most placement attempts for one ticket (a refused or lost placement is tried again). */
const PLACE_TRIES = 100;

/** A client-role peer for the bench's own connections. */
export function benchPeer(url: string, keys: BenchKeys | undefined, benchId: string): Peer {
  const log = { warn: () => {}, debug: () => {} };
  return new Peer(url, createWsTransport(), {
    node: benchId,
    ...(keys ? { auth: keys.authenticator(benchId) } : {}),
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

async function place(tier2: Peer, id: string, benchId: string): Promise<Extract<Message, { type: "task.placed" }>["body"]> {
  const task = { id, key: id, app: "echo", deadline: Date.now() + 600_000, require: [], clientAttrs: {}, prefs: {}, payload: null };
  let last: unknown;
  for (let tries = 0; tries < PLACE_TRIES; tries++) {
    try {
      // The ticket is for the client named here: the runs come from this process's peer, whose id this is.
      const m = await tier2.request("task.place", { task, client: { id: benchId, addr: "" } });
      if (m.type === "task.placed") return m.body;
      last = new Error(`task.place answered ${m.type}`);
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  throw new Error(`could not place ${id} in ${PLACE_TRIES} tries`, { cause: last });
}

/**
 * Pre-placed tickets. Only the two strings a run needs are kept: 600k whole messages made the
 * client's GC a factor.
 */
class Tickets {
  readonly ids: string[] = [];
  readonly tickets: string[] = [];
  serverUrl = "";
  used = 0;
  constructor(private readonly tier2: Peer, private readonly o: LoopOptions, private readonly keys: BenchKeys | undefined) {}

  get placed(): number {
    return this.ids.length;
  }

  /**
   * Places tickets until `total` are placed, `inFlight` placements at a time, then waits until the
   * app server holds every unused one's expect: the tier-2 answers a placement before its expect
   * reaches the server, and a backlog of expects left to check would take the server's CPU from
   * the runs that follow (and, timed, make the figure that of a server catching up).
   */
  async fill(total: number): Promise<void> {
    await this.place(total);
    const keys = this.keys;
    const auth = keys ? { credentials: keys.credential("admin", "bench-admin"), clusterPub: [keys.issuer.publicKey] } : {};
    const until = Date.now() + SETTLE_MS;
    for (let last = -1, same = 0; Date.now() < until; ) {
      const s = await queryStatus(this.serverUrl, auth);
      if (s.role !== "app") throw new Error(`${this.serverUrl} answered status as a ${s.role}, not an app server`);
      if (s.expected >= this.placed - this.used) return;
      // A refused expect never arrives: stop waiting once the count stops moving.
      same = s.expected === last ? same + 1 : 0;
      if (same >= 20) return;
      last = s.expected;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Places tickets until `total` are placed, `inFlight` placements at a time. */
  private async place(total: number): Promise<void> {
    let next = this.ids.length;
    await Promise.all(Array.from({ length: this.o.inFlight }, async () => {
      while (next < total) {
        const i = next++;
        const p = await place(this.tier2, `b-${i}`, this.o.benchId);
        this.ids[i] = p.taskId;
        this.tickets[i] = p.ticket;
        this.serverUrl = p.serverUrl;
      }
    }));
  }
}

/** One closed loop of runs on pre-placed tickets; it aborts (and says so) when they run out. */
async function runLoop(name: string, t: Tickets, app: Peer, tier2: Peer, o: LoopOptions, seconds: number, warmup: number): Promise<{ fig: Figure; ranOut: boolean }> {
  const out = new AbortController();
  const fig = await closedLoop(name, o.inFlight, seconds, warmup, async () => {
    const i = t.used;
    if (i >= t.placed) {
      out.abort();
      return;
    }
    t.used++;
    let taskId = t.ids[i] as string;
    let ticket = t.tickets[i] as string;
    // The last expects may still be on their way to the server: a run that beat its expect is retried.
    // A ticket whose expect the server refused never becomes valid: place again, as a client would.
    for (let tries = 0; ; tries++) {
      try {
        return await app.request("task.run", { taskId, key: taskId, app: "echo", ticket, payload: { i } });
      } catch (err) {
        if (tries > 20) throw err;
        if (tries > 0) ({ taskId, ticket } = await place(tier2, `r-${i}-${tries}`, o.benchId));
      }
    }
  }, undefined, out.signal);
  return { fig, ranOut: out.signal.aborted };
}

/**
 * Untimed: how fast runs go here and now, in runs/s, taken warm. The first seconds of runs on a
 * fresh server go several times slower than later ones (JIT, connection), so short runs are
 * repeated until the rate stops rising; one that runs out of tickets is repeated with more. These
 * runs are also the direct link's warm-up.
 */
async function calibrate(t: Tickets, app: Peer, tier2: Peer, o: LoopOptions): Promise<number> {
  let rate = 0;
  for (let k = 0; k < CALIBRATION_RUNS; k++) {
    const chunk = Math.max(FIRST_CHUNK, Math.ceil(rate * CALIBRATION_S * 2));
    if (t.placed - t.used < chunk) await t.fill(t.used + chunk);
    const cal = await runLoop("calibration", t, app, tier2, o, CALIBRATION_S, 0);
    const steady = !cal.ranOut && cal.fig.perSec < rate * STEADY;
    rate = Math.max(rate, cal.fig.perSec);
    if (steady) break;
  }
  return rate;
}

/** The direct link: client ⇄ app server on a pooled connection, tasks allocated beforehand. */
export async function directLink(keys: BenchKeys | undefined, o: LoopOptions, label: string): Promise<Figure> {
  const procs: Proc[] = [];
  const peers: Peer[] = [];
  try {
    const t2 = await spawnReady(["--role", "distributor", "--tier", "2", ...authFlags(keys, "tier2", "bench-tier2"), ...quiet]);
    procs.push(t2);
    procs.push(await spawnReady(["--role", "app", "--join", t2.url, "--apps", "echo", "--capacity", String(APP_CAPACITY), ...authFlags(keys, "app", "bench-app"), ...quiet]));
    const tier2 = benchPeer(t2.url, keys, o.benchId);
    peers.push(tier2);
    const t = new Tickets(tier2, o, keys);
    await t.fill(FIRST_CHUNK);
    const app = benchPeer(t.serverUrl, keys, o.benchId);
    peers.push(app);
    const rate = await calibrate(t, app, tier2, o);
    let need = Math.ceil(rate * (o.seconds + o.warmup) * SAFETY) + o.inFlight;
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const start = t.used;
      // Placing is done before the window opens, never during it: it would take the client's CPU.
      // Unused tickets hold slots: no more than the server's capacity (less what is in flight) at once.
      need = Math.min(need, APP_CAPACITY - o.inFlight);
      const p0 = performance.now();
      if (t.placed - t.used < need) await t.fill(t.used + need);
      const placing = (performance.now() - p0) / 1000;
      const ready = t.placed - start;
      const run = await runLoop(`direct link: client ⇄ app server (allocated beforehand)${label}`, t, app, tier2, o, o.seconds, o.warmup);
      const used = t.used - start;
      console.log(`    direct link: calibrated at ${rate} runs/s; ${ready} tickets ready (${placing.toFixed(1)} s placing), ${used} used${run.ranOut ? " — ran out: placing more and timing again" : ""}`);
      if (!run.ranOut) return run.fig;
      need *= 2;
    }
    throw new Error(`direct link: ran out of pre-placed tickets ${MAX_ATTEMPTS} times (at most ${APP_CAPACITY - o.inFlight} can wait at once)`);
  } finally {
    for (const p of peers) p.close();
    killAll(procs);
  }
}
