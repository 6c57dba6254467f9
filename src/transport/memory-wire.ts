import { realTimers } from "./timers.js";
import { DEFAULT_LIMITS, parseHostPort } from "./wire.js";
import type { Listener, Transport, Wire, WireHandlers, WireLimits } from "./wire.js";

/** How a frame is delivered; tests may substitute a scheduler that reorders deliveries. */
export type Deliver = (fn: () => void) => void;

class MemoryWire implements Wire {
  other: MemoryWire | undefined;
  private h: WireHandlers | undefined;
  private early: Array<() => void> = [];
  private closed = false;
  constructor(
    readonly remoteAddress: string,
    private readonly deliver: Deliver,
  ) {}
  /** Delivery is unbounded in memory: nothing is ever buffered unsent, so nothing pauses. */
  readonly bufferedAmount = 0;
  pause(): void {}
  resume(): void {}
  get open(): boolean {
    return !this.closed && this.other?.closed !== true;
  }
  setHandlers(h: WireHandlers): void {
    this.h = h;
    for (const f of this.early.splice(0)) f();
  }
  private run(f: (h: WireHandlers) => void): void {
    if (this.h) f(this.h);
    else this.early.push(() => this.h && f(this.h));
  }
  send(frame: Uint8Array): void {
    const peer = this.other;
    if (this.closed || !peer) return;
    const copy = frame.slice();
    this.deliver(() => {
      if (!peer.closed) peer.run((h) => h.frame(copy));
    });
  }
  close(code = 1000, reason = ""): void {
    if (this.closed) return;
    this.closed = true;
    const peer = this.other;
    this.deliver(() => this.run((h) => h.close(code, reason)));
    if (peer)
      this.deliver(() => {
        if (peer.closed) return;
        peer.closed = true;
        peer.run((h) => h.close(code, reason));
      });
  }
}

/**
 * A network inside one process: `listen` and `connect` by mem://host:port, frames copied and
 * delivered asynchronously, as over a socket. Used by tests and simulations.
 */
export function createMemoryTransport(options: { deliver?: Deliver; limits?: WireLimits } = {}): Transport {
  const deliver = options.deliver ?? ((fn) => realTimers.defer(fn));
  const listeners = new Map<string, (w: Wire) => void>();
  let nextPort = 40000;
  let nextClient = 1;
  return {
    limits: options.limits ?? DEFAULT_LIMITS,
    async listen(hostPort, onWire): Promise<Listener> {
      const { host, port } = parseHostPort(hostPort);
      const url = `mem://${host}:${port === 0 ? nextPort++ : port}`;
      if (listeners.has(url)) throw new Error(`${url} is already listening`);
      listeners.set(url, onWire);
      // In-process wires have no remote addresses to cap: nothing is ever refused here.
      return { url, refused: { notWebSocket: 0, tooMany: 0, tooManyFromAddress: 0, tlsHandshakeFailed: 0 }, close: async () => void listeners.delete(url) };
    },
    async connect(url) {
      const onWire = listeners.get(url);
      if (!onWire) throw new Error(`connect ECONNREFUSED ${url}`);
      const client = new MemoryWire(url, deliver);
      const server = new MemoryWire(`mem-client:${nextClient++}`, deliver);
      client.other = server;
      server.other = client;
      onWire(server);
      return client;
    },
  };
}
