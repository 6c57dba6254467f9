// Drives a fuzz run against a node over real sockets: batches of hostile frames on one socket
// (a new one whenever the node closes it), then a ping on that socket and a valid `status.get` on
// a separate, well-behaved one. Shared by the CI fuzz test and `npm run fuzz`.
import { WebSocket } from "ws";
import { isOpaque, isRejected } from "../src/protocol/index.js";
import type { LinkStatus, Message, ServerStatusRow, StatusBody } from "../src/protocol/index.js";
import { PROTOCOL_VERSION, decodeFrame, encodeFrame } from "../src/transport/codec.js";
import type { Frame } from "./fuzz-frames.js";

/** Before the handshake (raw frames on a fresh socket) or after a valid hello. */
export type Phase = "before" | "after";

/** Ids of the driver's own requests: far above any the generator picks, so answers are not mixed up. */
const FIRST_ID = 2 ** 40;
let nextId = FIRST_ID;

/** One raw WebSocket that answers the node's pings and matches answers to its own requests by id. */
export class FuzzSocket {
  closed: { code: number } | undefined;
  /** Envelopes the node sent, by type (errors by code): what the frames reached. */
  readonly answers: Map<string, number>;
  private readonly waiting = new Map<number, (m: Message | undefined) => void>();
  private readonly onClose = new Set<() => void>();

  private constructor(
    private readonly ws: WebSocket,
    answers: Map<string, number>,
  ) {
    this.answers = answers;
    ws.on("error", () => {});
    ws.on("message", (data: Buffer | ArrayBuffer | Buffer[]) => this.frame(Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data instanceof ArrayBuffer ? new Uint8Array(data) : data)));
    ws.on("close", (code) => {
      this.closed = { code };
      for (const w of this.waiting.values()) w(undefined);
      this.waiting.clear();
      for (const f of this.onClose) f();
    });
  }

  static open(url: string, timeoutMs: number, answers = new Map<string, number>()): Promise<FuzzSocket> {
    const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: timeoutMs, maxPayload: 64 * 1024 * 1024 });
    return new Promise((resolve, reject) => {
      ws.once("open", () => resolve(new FuzzSocket(ws, answers)));
      ws.once("error", (err) => reject(err));
    });
  }

  /** Sends bytes as one binary frame; resolves once they are handed to the kernel (or the socket is gone). */
  send(bytes: Uint8Array): Promise<void> {
    return new Promise((resolve) => this.ws.send(bytes, { binary: true }, () => resolve()));
  }

  /** Sends a request and resolves with its answer, or undefined if the socket closes or time runs out first. */
  call(type: string, body: object, timeoutMs: number, from = "fuzz"): Promise<Message | undefined> {
    const id = nextId++;
    return new Promise((resolve) => {
      const t = setTimeout(() => done(undefined), timeoutMs);
      const done = (m: Message | undefined): void => {
        clearTimeout(t);
        this.waiting.delete(id);
        resolve(m);
      };
      if (this.closed) return done(undefined);
      this.waiting.set(id, done);
      this.ws.send(encodeFrame([[PROTOCOL_VERSION, type, id, 0, from, body]]), { binary: true });
    });
  }

  /** Resolves true once the socket is closed, false if it is still open after `timeoutMs`. */
  waitClosed(timeoutMs: number): Promise<boolean> {
    if (this.closed) return Promise.resolve(true);
    return new Promise((resolve) => {
      const f = (): void => {
        clearTimeout(t);
        resolve(true);
      };
      const t = setTimeout(() => {
        this.onClose.delete(f);
        resolve(false);
      }, timeoutMs);
      this.onClose.add(f);
    });
  }

  close(): void {
    this.ws.terminate();
  }

  /** Bodies left undecoded: all but the answers to this socket's own requests, pings and (for the tally) errors. */
  private readonly opaque = (type: string, re: number): boolean => re < FIRST_ID && type !== "ping" && type !== "error";

  private frame(bytes: Uint8Array): void {
    let items;
    try {
      items = decodeFrame(bytes, this.opaque);
    } catch {
      return;
    }
    for (const m of items) {
      if (isRejected(m)) continue;
      const what = isOpaque(m) || m.type !== "error" ? m.type : `error ${m.body.code}`;
      this.answers.set(what, (this.answers.get(what) ?? 0) + 1);
      if (isOpaque(m)) continue;
      if (m.re > 0) this.waiting.get(m.re)?.(m);
      else if (m.type === "ping" && m.id > 0) this.ws.send(encodeFrame([[PROTOCOL_VERSION, "pong", nextId++, m.id, "fuzz", {}]]), { binary: true });
    }
  }
}

/** What went wrong in a batch: a node that stopped answering is a crash. */
export class FuzzFailure extends Error {
  override readonly name = "FuzzFailure";
}

export interface SessionOptions {
  url: string;
  phase: Phase;
  /** How long any one wait may take before it counts as no answer (not a timing assertion). */
  timeoutMs: number;
}

/** Fuzz frames on one target in one phase: a socket reopened whenever the node closes it. */
export class FuzzSession {
  framesSent = 0;
  socketsOpened = 0;
  /** Envelopes the node sent back on the fuzzed sockets, by type (errors by code). */
  readonly answers = new Map<string, number>();
  /** How the node closed fuzzed sockets: close code → count. */
  readonly closes = new Map<number, number>();
  private sock: FuzzSocket | undefined;
  private hellos = 0;

  constructor(private readonly o: SessionOptions) {}

  private async socket(): Promise<FuzzSocket> {
    if (this.sock && !this.sock.closed) return this.sock;
    if (this.sock?.closed) this.closes.set(this.sock.closed.code, (this.closes.get(this.sock.closed.code) ?? 0) + 1);
    const s = await FuzzSocket.open(this.o.url, this.o.timeoutMs, this.answers);
    this.socketsOpened++;
    if (this.o.phase === "after") {
      const w = await s.call("hello", { node: `fuzz-${this.hellos++}`, role: "client" }, this.o.timeoutMs);
      if (w?.type !== "welcome") throw new FuzzFailure(`${this.o.url}: hello answered ${w ? w.type : "nothing"}`);
    }
    this.sock = s;
    return s;
  }

  /**
   * Sends the frames, waiting for the kernel every 32 so the fuzzer cannot run ahead of the node
   * unboundedly; after an oversize frame, waits for the node to close the socket. Then checks that
   * the fuzzed connection (or a new one, if the node closed it) still answers a ping.
   */
  async batch(frames: readonly Frame[]): Promise<void> {
    for (let i = 0; i < frames.length; i++) {
      const f = frames[i] as Frame;
      const s = await this.socket();
      const sent = s.send(f.bytes);
      this.framesSent++;
      if (f.kind === "oversize") {
        await sent;
        if (!(await s.waitClosed(this.o.timeoutMs))) throw new FuzzFailure(`${this.o.url}: an oversize frame of ${f.bytes.length} bytes did not close the socket`);
      } else if (i % 32 === 31) await sent;
    }
    for (let attempt = 0; ; attempt++) {
      const s = await this.socket();
      const pong = await s.call("ping", {}, this.o.timeoutMs);
      if (pong?.type === "pong") return;
      // Closed under us (a bad frame's close, or the handshake deadline): a new socket gets one more try.
      if (!s.closed || attempt > 0) throw new FuzzFailure(`${this.o.url}: ping after a batch answered ${pong ? pong.type : "nothing"}${s.closed ? ` (socket closed ${s.closed.code})` : ""}`);
    }
  }

  close(): void {
    this.sock?.close();
  }
}

/** A well-behaved connection, greeted as a client, that asks a node for its status. */
export class Prober {
  private constructor(
    private readonly sock: FuzzSocket,
    private readonly timeoutMs: number,
  ) {}

  static async open(url: string, timeoutMs: number): Promise<Prober> {
    const s = await FuzzSocket.open(url, timeoutMs);
    const w = await s.call("hello", { node: "fuzz-probe", role: "client" }, timeoutMs, "fuzz-probe");
    if (w?.type !== "welcome") throw new FuzzFailure(`${url}: the probe's hello answered ${w ? w.type : "nothing"}`);
    return new Prober(s, timeoutMs);
  }

  /** The node's status answer, or a FuzzFailure if it sends none (or the probe's socket was closed). */
  async status(): Promise<StatusBody> {
    const m = await this.sock.call("status.get", {}, this.timeoutMs, "fuzz-probe");
    if (m?.type !== "status") throw new FuzzFailure(`status.get answered ${m ? `${m.type} ${JSON.stringify(m.body)}` : "nothing"}${this.sock.closed ? ` (probe socket closed ${this.sock.closed.code})` : ""}`);
    return m.body;
  }

  close(): void {
    this.sock.close();
  }
}

// `suspect` is a report late by two periods: on a starved machine that is lateness, not anything a
// stranger changed, so it reads as alive here; `dead`, `draining` and every other field still count.
const row = (s: ServerStatusRow): object => ({ id: s.id, url: s.url, status: s.status === "suspect" ? "alive" : s.status, apps: s.apps, capacity: s.capacity, power: s.power, attrs: s.attrs });
const rows = (xs: readonly ServerStatusRow[] | undefined): object[] => [...(xs ?? [])].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).map(row);
const link = (l: LinkStatus): object => ({ url: l.url, id: l.id, state: l.state });

/**
 * The part of a status answer that hostile frames from a stranger must not change: which servers
 * (and slaves) an allocator lists and their state, an app server's figures and registrations, a
 * slave's masters. Loads, reservations and ages move on their own and are left out (a suspect
 * entry counts as alive); so are a slave's links to app servers, which it dials when a placement
 * through it first needs one.
 */
export function statusShape(b: StatusBody): object {
  switch (b.role) {
    case "tier2":
    case "master":
      return { role: b.role, node: b.node, servers: rows(b.servers), slaves: rows(b.slaves) };
    case "app":
      return { role: b.role, node: b.node, url: b.url, apps: b.apps, capacity: b.capacity, power: b.power, attrs: b.attrs, registrations: b.registrations.map(link) };
    case "slave":
      return { role: b.role, node: b.node, link: b.link, capacity: b.capacity, masters: b.masters.map(link) };
    default:
      return { role: b.role, node: b.node, members: b.members.map(link) };
  }
}
