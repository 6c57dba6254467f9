/** What a connection needs from the socket under it: frames in, frames out, close. */
export interface WireHandlers {
  frame(bytes: Uint8Array): void;
  close(code: number, reason: string): void;
}

/** One bidirectional frame pipe: a WebSocket, or an in-memory pair in tests. */
export interface Wire {
  /** host:port the other end connected from, as seen by this end. */
  readonly remoteAddress: string;
  setHandlers(h: WireHandlers): void;
  /**
   * Whether the link still carries frames both ways: false from the moment either end began to
   * close (a WebSocket's close frame read, before the socket itself is gone).
   */
  readonly open: boolean;
  send(frame: Uint8Array): void;
  close(code?: number, reason?: string): void;
  /** Bytes sent but not yet handed to the network (the peer is not reading fast enough). */
  readonly bufferedAmount: number;
  /** Stops reading the peer's frames (backpressure) until `resume`. */
  pause(): void;
  resume(): void;
}

/** Size and count limits, validated once where a transport is created. */
export interface WireLimits {
  /** Largest frame accepted or sent, in bytes. */
  maxFrameBytes: number;
}

/** What a listener lets in: caps on concurrent connections, checked at the HTTP upgrade. */
export interface ListenOptions {
  /** Connections open at once, over all remote addresses; the next upgrade gets HTTP 503. */
  maxConnections: number;
  /** Connections open at once from one remote IP address; the next upgrade gets HTTP 429. */
  maxConnectionsPerAddress: number;
  /** Time a connecting peer has to send its whole HTTP request head; past it, HTTP 408. */
  headersTimeoutMs: number;
}

export const DEFAULT_LISTEN: ListenOptions = { maxConnections: 10_000, maxConnectionsPerAddress: 1024, headersTimeoutMs: 5000 };

/** Connection attempts a listener refused, by reason. */
export interface RefusedCounts {
  /** An HTTP upgrade to something other than WebSocket. */
  notWebSocket: number;
  /** Past `maxConnections`. */
  tooMany: number;
  /** Past `maxConnectionsPerAddress`. */
  tooManyFromAddress: number;
  /** A TLS handshake that failed: no client certificate, one no trusted CA signed, a plaintext or garbled hello. */
  tlsHandshakeFailed: number;
}

export interface Listener {
  /** ws://host:port (wss:// over TLS) of the bound socket (the real port when 0 was asked for). */
  readonly url: string;
  /** Running totals of refused connection attempts. */
  readonly refused: Readonly<RefusedCounts>;
  close(): Promise<void>;
}

/** Makes wires: WebSockets on loopback or beyond, or in-memory pairs. Actors never see which. */
export interface Transport {
  listen(hostPort: string, onWire: (w: Wire) => void, options?: Partial<ListenOptions>): Promise<Listener>;
  connect(url: string): Promise<Wire>;
  readonly limits: WireLimits;
}

export const DEFAULT_LIMITS: WireLimits = { maxFrameBytes: 4 * 1024 * 1024 };

/** Close codes this project uses, in the 4000-4999 range the WebSocket spec leaves to applications. */
export const CloseCode = {
  normal: 1000,
  /** The connection was dropped without a close handshake (a process that died); sent by `Channel.abort`. */
  abnormal: 1006,
  tooBig: 1009,
  handshakeTimeout: 4001,
  heartbeatTimeout: 4002,
  shutdown: 4003,
  /** The peer does not read what it is sent: its outgoing buffer passed the hard cap. */
  notReading: 4004,
  /** The peer's credential, or a message it sent, was refused in the handshake. */
  unauthorized: 4005,
} as const;

/** Validates listen options, naming the bad one. */
export function listenOptions(o: Partial<ListenOptions> = {}): ListenOptions {
  const out = { ...DEFAULT_LISTEN, ...o };
  for (const [k, v] of Object.entries(out)) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`${k} must be an integer >= 1, got ${v}`);
  }
  return out;
}

/** Parses "host:port" ("[::1]:0" for IPv6), throwing a clear error naming the input. */
export function parseHostPort(s: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(s);
  const host = m?.[1] ?? m?.[2];
  const port = Number(m?.[3]);
  if (!m || host === undefined || !Number.isInteger(port) || port > 65535) {
    throw new TypeError(`expected HOST:PORT (e.g. 127.0.0.1:0), got ${JSON.stringify(s)}`);
  }
  return { host, port };
}
