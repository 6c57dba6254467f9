import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocket, WebSocketServer } from "ws";
import type { RawData } from "ws";
import { CloseCode, DEFAULT_LIMITS, listenOptions, parseHostPort } from "./wire.js";
import type { ListenOptions, Listener, RefusedCounts, Transport, Wire, WireHandlers, WireLimits } from "./wire.js";
import { createListenServer, dialOptions } from "./ws-tls.js";
import type { WsTls } from "./ws-tls.js";

/**
 * Client frames are masked so that a browser's script cannot poison a proxy cache; between Allot
 * nodes there is no such script, and an all-zero mask lets ws skip copying and XOR-ing every frame.
 */
const zeroMask = (mask: Buffer): void => {
  mask.fill(0);
};

const NO_HANDLERS: WireHandlers = { frame: () => {}, close: () => {} };

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  return data instanceof ArrayBuffer ? new Uint8Array(data) : data;
}

class WsWire implements Wire {
  private h: WireHandlers = NO_HANDLERS;
  // Frames that arrive before the channel takes the wire are held, never dropped.
  private early: Uint8Array[] | undefined = [];
  constructor(
    private readonly ws: WebSocket,
    readonly remoteAddress: string,
  ) {
    // Without an 'error' listener a malformed frame would crash the whole process.
    ws.on("error", () => {});
    ws.on("message", (data, isBinary) => {
      // A text frame is still handed on: the decoder answers it with BAD_FRAME.
      const bytes = isBinary ? toBytes(data) : Buffer.from(String(data));
      if (this.early) this.early.push(bytes);
      else this.h.frame(bytes);
    });
    ws.on("close", (code, reason) => this.h.close(code, reason.toString()));
  }
  setHandlers(h: WireHandlers): void {
    this.h = h;
    const early = this.early ?? [];
    this.early = undefined;
    for (const b of early) h.frame(b);
  }
  send(frame: Uint8Array): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(frame, { binary: true });
  }
  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }
  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }
  pause(): void {
    this.ws.pause();
  }
  resume(): void {
    this.ws.resume();
  }
  close(code = 1000, reason = ""): void {
    // A peer that does not read would never take the close frame queued behind what it has not
    // read: drop the socket, and with it the buffered bytes, at once.
    // 1006 (abnormal) is never sent on the wire: it means the socket was dropped, so drop it.
    if (code === CloseCode.notReading || code === CloseCode.abnormal) return this.ws.terminate();
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(code, reason.slice(0, 120));
    // A peer that never answers the close handshake must not keep the socket alive.
    const t = setTimeout(() => this.ws.terminate(), 2000);
    t.unref();
  }
}

/** Answers an upgrade it will not perform with a plain HTTP status, then drops the socket. */
function refuse(socket: Duplex, status: number, text: string): void {
  const body = `${text}\n`;
  socket.once("finish", () => socket.destroy());
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}

/**
 * Counts open connections in total and per remote IP, and decides at the HTTP upgrade whether
 * one more may open: refusing there costs an HTTP response, not a WebSocket and a channel.
 */
function admission(o: ListenOptions): { refused: RefusedCounts; admit(req: IncomingMessage, socket: Duplex): boolean } {
  const refused: RefusedCounts = { notWebSocket: 0, tooMany: 0, tooManyFromAddress: 0, tlsHandshakeFailed: 0 };
  const perAddress = new Map<string, number>();
  let open = 0;
  return {
    refused,
    admit(req, socket) {
      if (req.headers.upgrade?.toLowerCase() !== "websocket") {
        refused.notWebSocket++;
        refuse(socket, 400, "Bad Request: only WebSocket upgrades are served here");
        return false;
      }
      const ip = req.socket.remoteAddress ?? "?";
      const fromIp = perAddress.get(ip) ?? 0;
      if (open >= o.maxConnections) {
        refused.tooMany++;
        refuse(socket, 503, "Service Unavailable: too many connections");
        return false;
      }
      if (fromIp >= o.maxConnectionsPerAddress) {
        refused.tooManyFromAddress++;
        refuse(socket, 429, "Too Many Requests: too many connections from this address");
        return false;
      }
      open++;
      perAddress.set(ip, fromIp + 1);
      // The socket's own close, whichever way it ends (a failed upgrade, either side closing).
      socket.once("close", () => {
        open--;
        const n = (perAddress.get(ip) ?? 1) - 1;
        if (n > 0) perAddress.set(ip, n);
        else perAddress.delete(ip);
      });
      return true;
    },
  };
}

function addressOf(req: IncomingMessage): string {
  const s = req.socket;
  return `${s.remoteAddress ?? "?"}:${s.remotePort ?? 0}`;
}

/**
 * WebSockets with explicit limits: maxPayload, fragment caps, no compression, short HTTP timeouts.
 * With `tls`, listeners serve wss:// (mTLS when it names a CA) and dials go to wss:// URLs only.
 */
export function createWsTransport(limits: WireLimits = DEFAULT_LIMITS, tls?: WsTls): Transport {
  if (!Number.isInteger(limits.maxFrameBytes) || limits.maxFrameBytes < 1024) {
    throw new RangeError(`maxFrameBytes must be an integer >= 1024, got ${limits.maxFrameBytes}`);
  }
  const wsLimits = {
    maxPayload: limits.maxFrameBytes,
    perMessageDeflate: false,
    maxFragments: 1024,
    maxBufferedChunks: 16 * 1024,
    allowSynchronousEvents: true,
  };
  return {
    limits,
    async listen(hostPort: string, onWire: (w: Wire) => void, options?: Partial<ListenOptions>): Promise<Listener> {
      const { host, port } = parseHostPort(hostPort);
      const caps = listenOptions(options);
      // Slow headers time out: Node checks these every connectionsCheckingInterval (30 s by default).
      const httpLimits = {
        headersTimeout: caps.headersTimeoutMs,
        requestTimeout: Math.max(10_000, caps.headersTimeoutMs),
        connectionsCheckingInterval: Math.min(1000, caps.headersTimeoutMs),
      };
      const http = createListenServer(tls, httpLimits, (_req, res) => {
        res.writeHead(426, { "content-type": "text/plain" }).end("allot speaks WebSocket here\n");
      });
      const wss = new WebSocketServer({ noServer: true, ...wsLimits });
      const gate = admission(caps);
      // The https server destroys such a socket itself; it is counted so a refused peer shows.
      if (tls) http.on("tlsClientError", () => gate.refused.tlsHandshakeFailed++);
      http.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
        socket.on("error", () => {});
        if (!gate.admit(req, socket)) return;
        wss.handleUpgrade(req, socket, head, (ws) => onWire(new WsWire(ws, addressOf(req))));
      });
      await new Promise<void>((resolve, reject) => {
        http.once("error", reject);
        http.listen(port, host, () => {
          http.off("error", reject);
          resolve();
        });
      });
      const addr = http.address();
      const bound = typeof addr === "object" && addr !== null ? addr.port : port;
      const shownHost = host.includes(":") ? `[${host}]` : host;
      return {
        url: `${tls ? "wss" : "ws"}://${shownHost}:${bound}`,
        refused: gate.refused,
        close: () =>
          new Promise<void>((resolve) => {
            for (const c of wss.clients) c.terminate();
            wss.close();
            http.close(() => resolve());
            http.closeAllConnections();
          }),
      };
    },
    connect(url: string): Promise<Wire> {
      return new Promise<Wire>((resolve, reject) => {
        let ws: WebSocket;
        try {
          ws = new WebSocket(url, { ...wsLimits, ...dialOptions(tls, url), handshakeTimeout: 5000, generateMask: zeroMask });
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
          return;
        }
        const onError = (err: Error): void => reject(err);
        ws.once("error", onError);
        ws.once("open", () => {
          ws.off("error", onError);
          resolve(new WsWire(ws, url));
        });
      });
    },
  };
}
