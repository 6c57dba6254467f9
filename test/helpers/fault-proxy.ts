import { createConnection, createServer } from "node:net";
import type { Server, Socket } from "node:net";

/**
 * Which way a fault applies: `up` is dialer → listener (what the dialer sends), `down` is
 * listener → dialer, `both` is both.
 */
export type Direction = "up" | "down" | "both";
type Way = "up" | "down";

export interface FaultProxyOptions {
  /** Where to forward: `ws://host:port`, `host:port`; may be set later with `setTarget`. */
  target?: string;
  /** Jitter's randomness, in [0, 1); inject a seeded one for a repeatable run. Default Math.random. */
  random?: () => number;
}

/** Bytes per direction since the proxy started: passed on, and discarded by a blackhole. */
export interface ProxyCounts {
  accepted: number;
  refused: number;
  forwarded: Record<Way, number>;
  dropped: Record<Way, number>;
}

/**
 * A userspace TCP proxy on 127.0.0.1 (ephemeral port) for fault tests: `tc netem` and iptables
 * are not available here. Faults apply to every connection, open or new, until `heal`.
 */
export interface FaultProxy {
  /** `ws://127.0.0.1:PORT`: what to give a node in place of the target's URL. */
  readonly url: string;
  readonly port: number;
  /** Points the proxy at its target (before it, connections are refused). */
  setTarget(target: string): void;
  /** Holds every chunk `ms` (+ up to `jitterMs`, uniformly) before passing it on, in order. */
  delay(ms: number, jitterMs?: number, dir?: Direction): void;
  /** Discards bytes (and end-of-stream) one way while the sockets stay open: a silent link. */
  blackhole(dir?: Direction): void;
  /** Blackholes both ways. */
  partition(): void;
  /** At most `bytesPerSecond` one way (0 lifts it). */
  throttle(bytesPerSecond: number, dir?: Direction): void;
  /** Accepts and at once resets new connections while on. */
  refuse(on?: boolean): void;
  /** Destroys every open connection, both ends; with `reset`, with a TCP RST rather than a FIN. */
  cut(options?: { reset?: boolean }): void;
  /** Lifts every fault (delay, blackhole, throttle, refuse). Connections already cut stay cut. */
  heal(): void;
  /** Connections open now. */
  connections(): number;
  readonly counts: Readonly<ProxyCounts>;
  /** Closes every connection and the listener. */
  stop(): Promise<void>;
}

interface WayFaults {
  delayMs: number;
  jitterMs: number;
  blackhole: boolean;
  bytesPerSecond: number;
}

const ways = (dir: Direction): Way[] => (dir === "both" ? ["up", "down"] : [dir]);

/** Parses `ws://host:port`, `wss://…` or `host:port`. */
export function hostPortOf(target: string): { host: string; port: number } {
  const m = /^(?:wss?:\/\/)?([^/:]+|\[[^\]]+\]):(\d{1,5})\/?$/.exec(target);
  if (!m) throw new TypeError(`expected ws://host:port or host:port, got ${JSON.stringify(target)}`);
  return { host: (m[1] as string).replace(/^\[|\]$/g, ""), port: Number(m[2]) };
}

/** Queued bytes one way past which the source is paused, so a throttle or delay holds memory bounded. */
const HIGH_WATER = 1 << 20;

export async function createFaultProxy(options: FaultProxyOptions = {}): Promise<FaultProxy> {
  const random = options.random ?? Math.random;
  let target = options.target === undefined ? undefined : hostPortOf(options.target);
  const faults: Record<Way, WayFaults> = {
    up: { delayMs: 0, jitterMs: 0, blackhole: false, bytesPerSecond: 0 },
    down: { delayMs: 0, jitterMs: 0, blackhole: false, bytesPerSecond: 0 },
  };
  let refusing = false;
  const counts: ProxyCounts = { accepted: 0, refused: 0, forwarded: { up: 0, down: 0 }, dropped: { up: 0, down: 0 } };
  const conns = new Set<Link>();

  // Half-open allowed: an end-of-stream is passed on by the pump, in order behind the delayed bytes.
  const server: Server = createServer({ pauseOnConnect: true, allowHalfOpen: true }, (client) => {
    if (refusing || target === undefined) {
      counts.refused++;
      client.on("error", () => {});
      client.resetAndDestroy();
      return;
    }
    counts.accepted++;
    const upstream = createConnection({ ...target, allowHalfOpen: true });
    conns.add(new Link(client, upstream, faults, counts, random, (l) => conns.delete(l)));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("the fault proxy has no TCP address");
  const port = address.port;

  const blackhole = (dir: Direction = "both"): void => {
    for (const w of ways(dir)) faults[w].blackhole = true;
    // What was queued when the link went silent is lost with it.
    for (const l of conns) for (const w of ways(dir)) l.pumps[w].discardQueued();
  };

  return {
    url: `ws://127.0.0.1:${port}`,
    port,
    counts,
    setTarget(t) {
      target = hostPortOf(t);
    },
    delay(ms, jitterMs = 0, dir = "both") {
      for (const w of ways(dir)) Object.assign(faults[w], { delayMs: ms, jitterMs });
    },
    blackhole,
    partition: () => blackhole("both"),
    throttle(bytesPerSecond, dir = "both") {
      for (const w of ways(dir)) faults[w].bytesPerSecond = bytesPerSecond;
    },
    refuse(on = true) {
      refusing = on;
    },
    cut({ reset = false } = {}) {
      for (const l of [...conns]) l.destroy(reset);
    },
    heal() {
      for (const w of ["up", "down"] as const) Object.assign(faults[w], { delayMs: 0, jitterMs: 0, blackhole: false, bytesPerSecond: 0 });
      refusing = false;
      for (const l of conns) for (const w of ["up", "down"] as const) l.pumps[w].kick();
    },
    connections: () => conns.size,
    async stop() {
      refusing = true;
      for (const l of [...conns]) l.destroy(false);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** One proxied connection: the dialer's socket, the one to the target, a pump each way. */
class Link {
  readonly pumps: Record<Way, Pump>;
  private done = false;

  constructor(
    private readonly client: Socket,
    private readonly upstream: Socket,
    faults: Record<Way, WayFaults>,
    counts: ProxyCounts,
    random: () => number,
    private readonly onDone: (l: Link) => void,
  ) {
    this.pumps = {
      up: new Pump(client, upstream, () => faults.up, counts, "up", random, (reset) => this.destroy(reset)),
      down: new Pump(upstream, client, () => faults.down, counts, "down", random, (reset) => this.destroy(reset)),
    };
    upstream.once("connect", () => client.resume());
    for (const s of [client, upstream]) s.once("close", () => this.closed());
  }

  /** A socket closed on its own: the link goes once both pumps have nothing more to deliver. */
  private closed(): void {
    if (this.client.destroyed && this.upstream.destroyed) this.finish();
  }

  destroy(reset: boolean): void {
    for (const p of Object.values(this.pumps)) p.stop();
    for (const s of [this.client, this.upstream]) {
      if (s.destroyed) continue;
      if (reset && s.readyState !== "opening") s.resetAndDestroy();
      else s.destroy();
    }
    this.finish();
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    for (const p of Object.values(this.pumps)) p.stop();
    this.onDone(this);
  }
}

type Item = { bytes: Buffer; due: number } | { end: true; due: number };

/**
 * One direction of a link: a FIFO of chunks, each due at its arrival plus the delay, released in
 * order (a later chunk never overtakes an earlier one, whatever its jitter), at most at the
 * throttle's rate. A blackhole discards at arrival.
 */
class Pump {
  private readonly queue: Item[] = [];
  private queued = 0;
  private lastDue = 0;
  private timer: NodeJS.Timeout | undefined;
  /** When the throttle next lets bytes out. */
  private freeAt = 0;
  private stopped = false;

  constructor(
    private readonly from: Socket,
    private readonly to: Socket,
    private readonly faults: () => WayFaults,
    private readonly counts: ProxyCounts,
    private readonly way: Way,
    private readonly random: () => number,
    private readonly kill: (reset: boolean) => void,
  ) {
    from.on("data", (b: Buffer) => this.arrive({ bytes: b, due: 0 }));
    from.on("end", () => this.arrive({ end: true, due: 0 }));
    // A reset (or other error) on one side is passed on as a reset, unless the link is silent.
    from.on("error", () => {
      if (!this.faults().blackhole) this.kill(true);
    });
    to.on("drain", () => this.kick());
  }

  private arrive(item: Item): void {
    const f = this.faults();
    if (this.stopped) return;
    if (f.blackhole) {
      if ("bytes" in item) this.counts.dropped[this.way] += item.bytes.length;
      return;
    }
    const now = performance.now();
    item.due = Math.max(this.lastDue, now + f.delayMs + (f.jitterMs > 0 ? this.random() * f.jitterMs : 0));
    this.lastDue = item.due;
    this.queue.push(item);
    if ("bytes" in item) this.queued += item.bytes.length;
    if (this.queued > HIGH_WATER) this.from.pause();
    this.kick();
  }

  /** Delivers what is due now, and sets a timer for the rest. */
  kick(): void {
    if (this.timer !== undefined || this.stopped) return;
    for (;;) {
      const head = this.queue[0];
      if (!head) break;
      const now = performance.now();
      const rate = this.faults().bytesPerSecond;
      const wait = Math.max(head.due, rate > 0 ? this.freeAt : 0) - now;
      if (wait > 0) {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.kick();
        }, Math.ceil(wait));
        return;
      }
      if (this.to.destroyed) return this.stop();
      if (!("bytes" in head)) {
        this.queue.shift();
        this.to.end();
        continue;
      }
      // Throttled: a slice of about 1/20 s of bytes at a time, then wait until the rate allows more.
      const slice = rate > 0 ? head.bytes.subarray(0, Math.max(1, Math.floor(rate / 20))) : head.bytes;
      if (slice.length === head.bytes.length) this.queue.shift();
      else head.bytes = head.bytes.subarray(slice.length);
      this.queued -= slice.length;
      if (rate > 0) this.freeAt = Math.max(this.freeAt, now) + (slice.length / rate) * 1000;
      this.counts.forwarded[this.way] += slice.length;
      const more = this.to.write(slice);
      if (this.queued <= HIGH_WATER / 2 && this.from.isPaused() && !this.from.destroyed) this.from.resume();
      // The destination's buffer is full: go on at its 'drain'.
      if (!more) return;
    }
  }

  discardQueued(): void {
    for (const item of this.queue.splice(0)) if ("bytes" in item) this.counts.dropped[this.way] += item.bytes.length;
    this.queued = 0;
    if (this.from.isPaused() && !this.from.destroyed) this.from.resume();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
  }
}
