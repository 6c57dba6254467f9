import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";
import type { Refusal } from "./token-gate.js";
import { parseHostPort } from "../transport/index.js";

/**
 * A route another module mounts on the monitoring port (the dashboard's page, its event stream,
 * admin actions): it looks at the request and either handles it — writes the whole answer, or
 * keeps the response open (Server-Sent Events) — and returns true, or leaves it alone and returns
 * false so the next route (and in the end a 404) gets it. Mounted routes are reached only after
 * the admin check when authentication is on, and for every method: a route checks its own.
 */
export type MonitorRoute = (req: IncomingMessage, res: ServerResponse) => boolean;

/** What a module mounting routes is given of the node it serves (see CommonConfig.httpRoutes). */
export interface MonitoredNode {
  readonly id: string;
  readonly role: string;
  /** The node's stats, as `RunningNode.stats()` (the role's counters, its server table, …). */
  stats(): Record<string, unknown>;
  /** The node's Prometheus registry (its histograms hold placement and decision latencies). */
  readonly registry: Registry;
}

export interface MonitorOptions {
  /** HOST:PORT to bind (port 0 picks a free one). */
  listen: string;
  registry: Registry;
  /** Undefined when the process is alive and its actor answers, else why not. */
  health(): Promise<string | undefined>;
  /** Undefined when the node can do its job, else why not. */
  ready(): string | undefined;
  /**
   * With authentication on: undefined when the request carries an admin principal, else the
   * refusal to answer (401, or 429 past the checks its address may have). Absent: every request
   * is let through (a node without authentication).
   */
  authorize?: (req: IncomingMessage) => Refusal | undefined;
  /** Routes mounted after /metrics, tried in order (see MonitorRoute). */
  routes?: readonly MonitorRoute[];
  log: { warn(obj: object, msg: string): void };
  /** The node id and role, in every JSON answer. */
  node: { id: string; role: string };
}

export interface Monitor {
  /** http://HOST:PORT as bound. */
  readonly url: string;
  close(): Promise<void>;
}

/** The monitoring port could not be opened: a bad address, or one in use. The CLI names --http. */
export class MonitorListenError extends Error {
  override readonly name = "MonitorListenError";
}

function json(res: ServerResponse, status: number, body: Record<string, unknown>, extra: Record<string, string> = {}): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", "content-length": Buffer.byteLength(text), ...extra });
  res.end(text);
}

/**
 * The most sockets the monitoring port holds at once (scrapers, probes, up to 32 dashboard
 * feeds, keep-alive): past it a new one is closed at once. Without a cap, idle or slow
 * connections (no authentication is needed to open one) took every file descriptor of the
 * process, and the node's WebSocket port could accept no peer.
 */
export const MAX_MONITOR_CONNECTIONS = 256;

/**
 * The most of them one IP address may hold: one attacker's sockets then leave the rest of the
 * port to the scrapers and browsers of other hosts (a Prometheus scrape or a dashboard takes a
 * few; a page holds at most the 32 feeds the dashboard allows in all).
 */
export const MAX_MONITOR_CONNECTIONS_PER_ADDRESS = 64;

/** The path of a request, without its query. */
export function pathOf(req: IncomingMessage): string {
  const u = req.url ?? "/";
  const q = u.indexOf("?");
  return q < 0 ? u : u.slice(0, q);
}

/**
 * Starts a node's monitoring port: `GET /metrics` (Prometheus text format), `GET /healthz`,
 * `GET /readyz` (each 200 or 503 with a JSON body saying why), the mounted routes, and a 404 JSON
 * answer for any other path. Read-only: it changes nothing in the node.
 */
export async function startMonitor(o: MonitorOptions): Promise<Monitor> {
  let host: string;
  let port: number;
  try {
    ({ host, port } = parseHostPort(o.listen));
  } catch (err) {
    throw new MonitorListenError(err instanceof Error ? err.message : String(err));
  }
  const who = { node: o.node.id, role: o.node.role };
  const routes = o.routes ?? [];

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = pathOf(req);
    const get = req.method === "GET" || req.method === "HEAD";
    if (path === "/healthz" || path === "/readyz" || path === "/metrics") {
      if (!get) return json(res, 405, { ...who, error: `${path} answers GET only` }, { allow: "GET, HEAD" });
    }
    if (path === "/healthz") {
      const why = await o.health();
      return json(res, why === undefined ? 200 : 503, why === undefined ? { ...who, ok: true } : { ...who, ok: false, reason: why });
    }
    if (path === "/readyz") {
      const why = o.ready();
      return json(res, why === undefined ? 200 : 503, why === undefined ? { ...who, ready: true } : { ...who, ready: false, reason: why });
    }
    const denied = o.authorize?.(req);
    if (denied !== undefined) return json(res, denied.status, { ...who, error: denied.error }, denied.status === 401 ? { "www-authenticate": 'Bearer realm="allot"' } : { "retry-after": "1" });
    if (path === "/metrics") {
      const text = await o.registry.metrics();
      res.writeHead(200, { "content-type": o.registry.contentType, "cache-control": "no-store" });
      res.end(req.method === "HEAD" ? undefined : text);
      return;
    }
    for (const r of routes) if (r(req, res)) return;
    json(res, 404, { ...who, error: `no such path: ${path}`, paths: ["/metrics", "/healthz", "/readyz"] });
  }

  // Timeouts are checked every second, not every 30 s: a slow client is cut soon after headersTimeout.
  const server: Server = createServer({ connectionsCheckingInterval: 1000 }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      o.log.warn({ err: err instanceof Error ? err.message : String(err), path: pathOf(req) }, "monitoring request failed");
      if (!res.headersSent) json(res, 500, { ...who, error: "internal error" });
      else res.destroy();
    });
  });
  // Socket timeouts are the HTTP server's own (real time): a slow or idle client cannot hold a socket for ever.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 5_000;
  server.maxConnections = MAX_MONITOR_CONNECTIONS;
  const perAddress = new Map<string, number>();
  server.on("connection", (socket) => {
    const from = socket.remoteAddress ?? "";
    const held = (perAddress.get(from) ?? 0) + 1;
    if (held > MAX_MONITOR_CONNECTIONS_PER_ADDRESS) {
      socket.destroy();
      return;
    }
    perAddress.set(from, held);
    socket.once("close", () => {
      const left = (perAddress.get(from) ?? 1) - 1;
      if (left === 0) perAddress.delete(from);
      else perAddress.set(from, left);
    });
  });
  await new Promise<void>((resolve, reject) => {
    const failed = (err: NodeJS.ErrnoException): void => {
      reject(new MonitorListenError(err.code === "EADDRINUSE" ? `${o.listen} is already in use` : `cannot listen on ${o.listen}: ${err.message}`));
    };
    server.once("error", failed);
    server.listen(port, host, () => {
      server.off("error", failed);
      resolve();
    });
  });
  server.on("error", (err) => o.log.warn({ err: err.message }, "monitoring port error"));
  const a = server.address() as AddressInfo;
  const shown = a.family === "IPv6" ? `[${a.address}]` : a.address;
  return {
    url: `http://${shown}:${a.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Open event streams and keep-alive sockets would hold close() for ever.
        server.closeAllConnections();
      }),
  };
}

/** The bearer token of a request, if it has one. */
export function bearerOf(req: IncomingMessage): string | undefined {
  const h = req.headers.authorization;
  if (h === undefined) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  return m?.[1];
}
