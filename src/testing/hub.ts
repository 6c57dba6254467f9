import type { Wire, WireHandlers } from "../transport/index.js";
import type { SeededSource } from "./entropy.js";

/**
 * The cluster's network. Every frame one node sends another becomes an event here, and is
 * delivered only when the scheduler picks it, so a test controls the order of everything that
 * crosses a link. Frames keep FIFO order per connection direction (as TCP does) unless a
 * `reorder` rule is set on the link; partitions and paused nodes hold frames, crashes sever.
 */

/** A frame (or the close that ends the stream) travelling one direction of one connection. */
export interface HubEvent {
  seq: number;
  kind: "frame" | "close";
  bytes?: Uint8Array;
  code?: number;
  reason?: string;
  /** Not deliverable before this virtual time (a `delay` rule). */
  notBefore: number;
  dir: Direction;
}

/** One direction of a connection: from one node's wire to the other's. */
export interface Direction {
  conn: Connection;
  from: string;
  to: string;
  sink: HubWire;
  queue: HubEvent[];
}

export interface Connection {
  id: number;
  dialer: string;
  target: string;
  dead: boolean;
  dirs: [Direction, Direction];
}

/** What a link does to the frames crossing it (both directions). */
export interface LinkRule {
  /** Drop each frame with this probability. */
  dropP?: number;
  /** Drop the next n frames. */
  dropN?: number;
  /** Deliver each frame this much later (virtual ms). */
  delayMs?: number;
  /** Deliver each frame twice with this probability. */
  duplicateP?: number;
  /** Any queued frame of the link may be delivered next, not only the oldest. */
  reorder?: boolean;
}

/** One end of a hub connection, as the node's Channel sees it. */
export class HubWire implements Wire {
  handlers: WireHandlers | undefined;
  private early: Array<(h: WireHandlers) => void> = [];
  closed = false;
  other!: HubWire;
  conn!: Connection;
  readonly bufferedAmount = 0;
  constructor(
    private readonly hub: Hub,
    readonly node: string,
    readonly remoteAddress: string,
  ) {}
  get open(): boolean {
    return !this.closed && !this.other.closed && !this.conn.dead;
  }
  setHandlers(h: WireHandlers): void {
    this.handlers = h;
    for (const f of this.early.splice(0)) f(h);
  }
  /** @internal runs `f` on the handlers, or once they are set. */
  call(f: (h: WireHandlers) => void): void {
    if (this.handlers) f(this.handlers);
    else this.early.push(f);
  }
  send(frame: Uint8Array): void {
    this.hub.send(this, frame);
  }
  close(code = 1000, reason = ""): void {
    this.hub.close(this, code, reason);
  }
  // Nothing is ever buffered unsent in the hub, so backpressure never engages.
  pause(): void {}
  resume(): void {}
}

export interface HubCounters {
  sent: number;
  delivered: number;
  dropped: number;
  duplicated: number;
}

const pairKey = (a: string, b: string): string => (a < b ? `${a}\u0000${b}` : `${b}\u0000${a}`);

export class Hub {
  private seq = 0;
  private connSeq = 0;
  readonly conns: Connection[] = [];
  private listeners = new Map<string, { node: string; onWire: (w: Wire) => void }>();
  private rules = new Map<string, LinkRule>();
  private partitions: Array<[ReadonlySet<string>, ReadonlySet<string>]> = [];
  private paused = new Set<string>();
  private dead = new Set<string>();
  /** Connects to a paused node wait for it to resume (its kernel accepted; the process is stopped). */
  private waitingAccept = new Map<string, Array<() => void>>();
  /** Work to run at the next settle: a wire's own close callback, a crashed node's peers' close. */
  private local: Array<() => void> = [];
  readonly counters: HubCounters = { sent: 0, delivered: 0, dropped: 0, duplicated: 0 };

  constructor(
    private readonly rng: SeededSource,
    private readonly now: () => number,
  ) {}

  // ---- listening and connecting (hub-transport.ts calls these) ----

  listen(node: string, url: string, onWire: (w: Wire) => void): void {
    if (this.listeners.has(url)) throw new Error(`${url} is already listening`);
    this.listeners.set(url, { node, onWire });
  }

  /** Stops listening, if `onWire` still owns the URL (a restarted incarnation may own it now). */
  unlisten(url: string, onWire: (w: Wire) => void): void {
    if (this.listeners.get(url)?.onWire === onWire) this.listeners.delete(url);
  }

  async connect(dialer: string, url: string): Promise<Wire> {
    const l = this.listeners.get(url);
    if (!l || this.dead.has(l.node) || this.dead.has(dialer)) throw new Error(`connect ECONNREFUSED ${url}`);
    if (this.blocked(dialer, l.node)) throw new Error(`connect ECONNREFUSED ${url} (partitioned)`);
    if (this.paused.has(l.node)) {
      await new Promise<void>((resolve) => {
        const list = this.waitingAccept.get(l.node) ?? [];
        list.push(resolve);
        this.waitingAccept.set(l.node, list);
      });
      if (this.dead.has(l.node) || this.listeners.get(url) !== l) throw new Error(`connect ECONNRESET ${url}`);
    }
    const id = ++this.connSeq;
    const client = new HubWire(this, dialer, url);
    const server = new HubWire(this, l.node, `hub-client:${dialer}#${id}`);
    client.other = server;
    server.other = client;
    const conn: Connection = { id, dialer, target: l.node, dead: false, dirs: [undefined, undefined] as unknown as [Direction, Direction] };
    conn.dirs = [
      { conn, from: dialer, to: l.node, sink: server, queue: [] },
      { conn, from: l.node, to: dialer, sink: client, queue: [] },
    ];
    client.conn = conn;
    server.conn = conn;
    this.conns.push(conn);
    l.onWire(server);
    return client;
  }

  // ---- frames ----

  private dirOf(w: HubWire): Direction {
    return w.conn.dirs[w === w.conn.dirs[0].sink ? 1 : 0];
  }

  send(w: HubWire, frame: Uint8Array): void {
    if (w.closed || w.other.closed || w.conn.dead || this.dead.has(w.node)) return;
    const dir = this.dirOf(w);
    this.counters.sent++;
    const rule = this.rules.get(pairKey(dir.from, dir.to));
    if (rule) {
      if (rule.dropN !== undefined && rule.dropN > 0) {
        rule.dropN--;
        this.counters.dropped++;
        return;
      }
      if (rule.dropP !== undefined && this.rng.random() < rule.dropP) {
        this.counters.dropped++;
        return;
      }
    }
    const notBefore = this.now() + Math.ceil(rule?.delayMs ?? 0);
    const bytes = frame.slice();
    dir.queue.push({ seq: this.seq++, kind: "frame", bytes, notBefore, dir });
    if (rule?.duplicateP !== undefined && this.rng.random() < rule.duplicateP) {
      this.counters.duplicated++;
      dir.queue.push({ seq: this.seq++, kind: "frame", bytes, notBefore, dir });
    }
  }

  close(w: HubWire, code: number, reason: string): void {
    if (w.closed) return;
    w.closed = true;
    // This end learns of its own close after the current turn, as a socket's close event.
    this.local.push(() => w.call((h) => h.close(code, reason)));
    if (w.conn.dead || w.other.closed) return;
    const dir = this.dirOf(w);
    dir.queue.push({ seq: this.seq++, kind: "close", code, reason, notBefore: this.now(), dir });
  }

  /** Delivers one event (the scheduler picked it): it leaves its queue and reaches its wire. */
  deliver(e: HubEvent): void {
    const q = e.dir.queue;
    const i = q.indexOf(e);
    if (i < 0) return;
    q.splice(i, 1);
    const sink = e.dir.sink;
    if (e.dir.conn.dead || sink.closed) return;
    this.counters.delivered++;
    if (e.kind === "frame") {
      const bytes = e.bytes as Uint8Array;
      sink.call((h) => h.frame(bytes));
    } else {
      sink.closed = true;
      sink.call((h) => h.close(e.code ?? 1006, e.reason ?? ""));
    }
  }

  /** Runs the pending local work; false when there was none. */
  runLocal(): boolean {
    if (this.local.length === 0) return false;
    for (const f of this.local.splice(0)) f();
    return true;
  }

  get hasLocal(): boolean {
    return this.local.length > 0;
  }

  // ---- what may be delivered now ----

  private held(d: Direction): boolean {
    return this.paused.has(d.to) || this.blocked(d.from, d.to);
  }

  /**
   * The events deliverable now, oldest first: the head of each direction's queue (every queued
   * event of a `reorder` link), not held by a partition or a paused receiver, and not delayed
   * past now.
   */
  candidates(): HubEvent[] {
    const now = this.now();
    const out: HubEvent[] = [];
    for (const c of this.conns) {
      for (const d of c.dirs) {
        if (d.queue.length === 0 || this.held(d)) continue;
        const all = this.rules.get(pairKey(d.from, d.to))?.reorder === true;
        for (const e of all ? d.queue : d.queue.slice(0, 1)) if (e.notBefore <= now) out.push(e);
      }
    }
    return out.sort((a, b) => a.seq - b.seq);
  }

  /** The earliest time a delayed (not held) head event becomes deliverable; Infinity if none. */
  nextDelayed(): number {
    const now = this.now();
    let t = Infinity;
    for (const c of this.conns) {
      for (const d of c.dirs) {
        const h = d.queue[0];
        if (h && !this.held(d) && h.notBefore > now && h.notBefore < t) t = h.notBefore;
      }
    }
    return t;
  }

  /** Events queued anywhere (held ones included). */
  inFlight(): number {
    let n = 0;
    for (const c of this.conns) n += c.dirs[0].queue.length + c.dirs[1].queue.length;
    return n;
  }

  /** Drops connections whose both ends closed and whose queues are empty, to keep scans short. */
  prune(): void {
    let w = 0;
    for (const c of this.conns) {
      const done = c.dead || (c.dirs[0].sink.closed && c.dirs[1].sink.closed && c.dirs[0].queue.length === 0 && c.dirs[1].queue.length === 0);
      if (!done) this.conns[w++] = c;
    }
    this.conns.length = w;
  }

  // ---- faults ----

  setRule(a: string, b: string, rule: LinkRule): void {
    const k = pairKey(a, b);
    this.rules.set(k, { ...this.rules.get(k), ...rule });
  }

  clearRule(a: string, b: string): void {
    this.rules.delete(pairKey(a, b));
  }

  blocked(a: string, b: string): boolean {
    for (const [x, y] of this.partitions) if ((x.has(a) && y.has(b)) || (x.has(b) && y.has(a))) return true;
    return false;
  }

  partition(a: readonly string[], b: readonly string[]): void {
    this.partitions.push([new Set(a), new Set(b)]);
  }

  /** Ends every partition: held frames flow again (TCP would have retransmitted them). */
  heal(): void {
    this.partitions = [];
  }

  pause(node: string): void {
    this.paused.add(node);
  }

  resume(node: string): void {
    this.paused.delete(node);
    const waiting = this.waitingAccept.get(node) ?? [];
    this.waitingAccept.delete(node);
    for (const f of waiting) f();
  }

  /**
   * A crash: the node's connections are cut with nothing more delivered either way, its peers
   * see close 1006 at once (the kernel resets a dead process's sockets), and it stops listening.
   */
  sever(node: string): void {
    this.dead.add(node);
    this.paused.delete(node);
    for (const [url, l] of this.listeners) if (l.node === node) this.listeners.delete(url);
    for (const c of this.conns) {
      if (c.dead || (c.dialer !== node && c.target !== node)) continue;
      c.dead = true;
      for (const d of c.dirs) d.queue.length = 0;
      const peerEnd = c.dirs[c.dialer === node ? 0 : 1].sink;
      if (!peerEnd.closed) {
        peerEnd.closed = true;
        this.local.push(() => peerEnd.call((h) => h.close(1006, "")));
      }
    }
    const waiting = this.waitingAccept.get(node) ?? [];
    this.waitingAccept.delete(node);
    for (const f of waiting) f();
  }

  /** The node starts again (a new incarnation): it may listen and be dialed. */
  revive(node: string): void {
    this.dead.delete(node);
  }

  isPaused(node: string): boolean {
    return this.paused.has(node);
  }
}
