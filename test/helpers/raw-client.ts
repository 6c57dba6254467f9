import { WebSocket } from "ws";
import { isRejected } from "../../src/protocol/index.js";
import type { Bodies, Message, MessageType, Rejected, Role } from "../../src/protocol/index.js";
import { PROTOCOL_VERSION, decodeFrame, encodeFrame } from "../../src/transport/codec.js";
import type { WireEnvelope } from "../../src/transport/codec.js";
import type { Wire } from "../../src/transport/wire.js";

/** How a raw connection ended. */
export interface Closed {
  code: number;
  reason: string;
}

/** The socket under a RawClient: a `ws` WebSocket, or any transport's Wire driven by hand. */
interface Out {
  send(data: Uint8Array | string): void;
  close(): void;
  /** Sends a close frame (as a node that gives up on its peer does); resolves once it is written. */
  closeFrame(code: number, reason: string): Promise<void>;
  readonly localPort: number;
}

type Of<T extends MessageType> = Extract<Message, { type: T }>;

/**
 * A hand-driven protocol peer for tests: it sends whatever frames it is told to (valid or not),
 * decodes every frame it receives and never answers anything on its own (not even a ping).
 * Waits are event-driven and bounded in time.
 */
export class RawClient {
  /** Every valid envelope received, in order. */
  readonly received: Message[] = [];
  /** Envelopes received that did not validate. */
  readonly rejected: Rejected[] = [];
  /** Frames received that did not decode at all. */
  readonly undecodable: Uint8Array[] = [];
  closed: Closed | undefined;
  private nextId = 1;
  private readonly waiters = new Set<() => void>();
  private out: Out | undefined;

  private constructor(readonly node: string) {}

  /** Opens a raw WebSocket to a node's URL (ws://127.0.0.1:PORT). */
  static open(url: string, node = "raw", timeoutMs = 5000): Promise<RawClient> {
    const c = new RawClient(node);
    const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: timeoutMs });
    ws.on("error", () => {}); // errors end in 'close', which is what tests look at
    ws.on("message", (data, isBinary) => {
      const parts = Array.isArray(data) ? data : [data instanceof ArrayBuffer ? Buffer.from(data) : data];
      c.frame(isBinary ? Buffer.concat(parts) : Buffer.from(String(data)));
    });
    ws.on("close", (code, reason) => c.ended(code, reason.toString()));
    let localPort = 0;
    ws.once("upgrade", (res) => (localPort = res.socket.localPort ?? 0));
    c.out = {
      send: (data) => ws.send(data, { binary: typeof data !== "string" }),
      close: () => ws.terminate(),
      async closeFrame(code, reason) {
        ws.close(code, reason);
        // Written to the kernel, not queued in this process: bounded by the loop's count.
        for (let i = 0; i < 1000 && ws.bufferedAmount > 0; i++) await new Promise((r) => setImmediate(r));
      },
      get localPort() {
        return localPort;
      },
    };
    return new Promise<RawClient>((resolve, reject) => {
      const t = setTimeout(() => {
        ws.terminate();
        reject(new Error(`raw client: no connection to ${url} within ${timeoutMs} ms`));
      }, timeoutMs);
      ws.once("open", () => {
        clearTimeout(t);
        resolve(c);
      });
      ws.once("close", (code) => {
        clearTimeout(t);
        reject(new Error(`raw client: ${url} closed (${code}) before opening`));
      });
    });
  }

  /** Drives a transport's Wire (the dialling end, e.g. of the in-memory transport) by hand. */
  static overWire(wire: Wire, node = "raw"): RawClient {
    const c = new RawClient(node);
    wire.setHandlers({ frame: (b) => c.frame(b), close: (code, reason) => c.ended(code, reason) });
    c.out = {
      send: (data) => wire.send(typeof data === "string" ? Buffer.from(data) : data),
      close: () => wire.close(1000, "raw client done"),
      closeFrame: async (code, reason) => wire.close(code, reason),
      localPort: 0,
    };
    return c;
  }

  /** The local port of the raw socket, as the node sees it as the remote port. */
  get localPort(): number {
    return this.out?.localPort ?? 0;
  }

  /** Sends one frame holding these envelopes. */
  send(envelopes: readonly WireEnvelope[]): void {
    this.sendRaw(encodeFrame(envelopes, Date.now()));
  }

  /** Sends bytes (a binary frame) or a string (a text frame) as they are. */
  sendRaw(data: Uint8Array | string): void {
    this.out?.send(data);
  }

  /** Sends a request of `type` and returns its id. Bodies are unchecked: tests send bad ones too. */
  request(type: string, body: unknown): number {
    const id = this.nextId++;
    this.send([[PROTOCOL_VERSION, type, id, 0, this.node, body]]);
    return id;
  }

  /** Answers request `re` (e.g. a task.expect sent to a fake app server). */
  reply<T extends MessageType>(re: number, type: T, body: Bodies[T]): void {
    this.send([[PROTOCOL_VERSION, type, this.nextId++, re, this.node, body]]);
  }

  /** Sends a request and waits for the envelope that answers it (a reply or an error). */
  call(type: string, body: unknown, timeoutMs = 5000): Promise<Message> {
    const id = this.request(type, body);
    return this.waitFor((m) => m.re === id, timeoutMs, `an answer to ${type} #${id}`);
  }

  /** Says hello as `role` and waits for the welcome. */
  async hello(role: Role, timeoutMs = 5000): Promise<Of<"welcome">> {
    const m = await this.call("hello", { node: this.node, role }, timeoutMs);
    if (m.type !== "welcome") throw new Error(`raw client: hello answered ${m.type}: ${JSON.stringify(m.body)}`);
    return m;
  }

  /** Index of the next envelope to arrive: pass it to `waitFor` to ignore earlier ones. */
  mark(): number {
    return this.received.length;
  }

  /** Waits for an envelope (received at or after index `since`) that meets `pred`. */
  waitFor(pred: (m: Message) => boolean, timeoutMs: number, what: string, since = 0): Promise<Message> {
    return this.until(
      () => {
        for (let i = since; i < this.received.length; i++) {
          const m = this.received[i] as Message;
          if (pred(m)) return m;
        }
        return undefined;
      },
      timeoutMs,
      what,
      true,
    );
  }

  /** Waits for an envelope of `type` meeting `pred`. */
  async waitForType<T extends MessageType>(type: T, pred: (m: Of<T>) => boolean, timeoutMs: number, what: string, since = 0): Promise<Of<T>> {
    const m = await this.waitFor((x) => x.type === type && pred(x as Of<T>), timeoutMs, what, since);
    return m as Of<T>;
  }

  /** Waits for an `error` envelope: the answer to request `re`, or a notice (re 0) when `re` is 0. */
  async waitForError(re: number, timeoutMs: number, since = 0): Promise<Of<"error">["body"]> {
    const m = await this.waitForType("error", (e) => e.re === re, timeoutMs, re > 0 ? `an error answering #${re}` : "an error notice", since);
    return m.body;
  }

  /** Waits until the connection is closed, by either end. */
  waitClosed(timeoutMs: number): Promise<Closed> {
    return this.until(() => this.closed, timeoutMs, "the connection to close", false);
  }

  /**
   * Sends a close frame and then drops the socket, without waiting for the peer's answer: what a
   * node that judged its peer silent leaves in that peer's socket buffer.
   */
  async closeWithFrame(code: number, reason = ""): Promise<void> {
    if (this.closed || !this.out) return;
    await this.out.closeFrame(code, reason);
    this.out.close();
    await this.waitClosed(5000);
  }

  /** Drops the connection at once and waits for it to be gone. */
  async close(timeoutMs = 5000): Promise<void> {
    if (this.closed) return;
    this.out?.close();
    await this.waitClosed(timeoutMs);
  }

  private until<T>(probe: () => T | undefined, timeoutMs: number, what: string, failOnClose: boolean): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const check = (): void => {
        const v = probe();
        if (v !== undefined) return done(() => resolve(v));
        if (failOnClose && this.closed) {
          const c = this.closed;
          return done(() => reject(new Error(`raw client: connection closed (${c.code} ${c.reason}) while waiting for ${what}`)));
        }
      };
      const t = setTimeout(() => done(() => reject(new Error(`raw client: timed out after ${timeoutMs} ms waiting for ${what}`))), timeoutMs);
      const done = (settle: () => void): void => {
        clearTimeout(t);
        this.waiters.delete(check);
        settle();
      };
      this.waiters.add(check);
      check();
    });
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }

  private frame(bytes: Uint8Array): void {
    try {
      for (const item of decodeFrame(bytes, undefined, Date.now())) {
        if (isRejected(item)) this.rejected.push(item);
        else this.received.push(item);
      }
    } catch {
      this.undecodable.push(bytes);
    }
    this.notify();
  }

  private ended(code: number, reason: string): void {
    this.closed ??= { code, reason };
    this.notify();
  }
}

/**
 * Waits until `cond` holds, checking every 5 ms, for state that announces no event (a node's
 * stats). Bounded by `timeoutMs`; never used to assert timings.
 */
export async function eventually(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Rejects if `p` does not settle within `timeoutMs`, so no await in a test can hang. */
export function within<T>(p: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    t = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(t));
}
