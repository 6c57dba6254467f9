import { readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createRequire } from "node:module";
import { realTimers } from "../../transport/index.js";
import type { Timers } from "../../transport/index.js";
import { DASHBOARD_CSS, DASHBOARD_HTML, DASHBOARD_JS } from "./page.js";
import { Sampler, fingerprint } from "./snapshot.js";
import type { DashboardSnapshot, DashboardSource } from "./snapshot.js";

export type { DashboardSnapshot, DashboardSource } from "./snapshot.js";

/** A route of the monitoring port: answers the request and returns true, or returns false (not its path). */
export type RouteHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

export interface DashboardRoutes extends RouteHandler {
  /** The snapshot the page would get now. */
  snapshot(): DashboardSnapshot;
  /** Ends every live feed and stops sampling. */
  close(): void;
}

export interface DashboardOptions {
  /** Default: real timers (the node's own, where it has them). */
  timers?: Timers;
  /** Live feeds served at once; more are answered 503. Default 32. */
  maxClients?: number;
}

/** How often the feed looks for a change; a snapshot goes out on change, and at least once a second. */
const CHECK_MS = 250;
const PUSH_MS = 1000;
const SAMPLE_MS = 1000;
/**
 * A feed with more than this (or two snapshots, if more) written and not yet taken by the socket
 * is dropped: the kernel's buffers are full too, so its client reads nothing (or far too slowly),
 * and every snapshot after would be held in memory for it without end. A browser reconnects.
 */
const MAX_BEHIND_BYTES = 1024 * 1024;

/**
 * Sent with the page and its assets: everything it loads is its own (no inline script or style,
 * no CDN), so a policy of 'self' costs it nothing and keeps a script injected into a server's
 * id or attributes from running; no other site may frame it (clickjacking) or learn its URL.
 */
const PAGE_HEADERS = {
  "content-security-policy": "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
} as const;

const resolver = createRequire(import.meta.url);

/** uPlot's browser build and stylesheet, read from the installed package once (no CDN: these machines may have no internet). */
function uplotAsset(file: "uPlot.iife.min.js" | "uPlot.min.css"): string {
  return readFileSync(resolver.resolve(`uplot/dist/${file}`), "utf8");
}

interface Asset {
  type: string;
  body: () => string;
}

function once(f: () => string): () => string {
  let v: string | undefined;
  return () => (v ??= f());
}

const ASSETS: Record<string, Asset> = {
  "/": { type: "text/html; charset=utf-8", body: () => DASHBOARD_HTML },
  "/dashboard/app.js": { type: "text/javascript; charset=utf-8", body: () => DASHBOARD_JS },
  "/dashboard/app.css": { type: "text/css; charset=utf-8", body: () => DASHBOARD_CSS },
  "/dashboard/uplot.js": { type: "text/javascript; charset=utf-8", body: once(() => uplotAsset("uPlot.iife.min.js")) },
  "/dashboard/uplot.css": { type: "text/css; charset=utf-8", body: once(() => uplotAsset("uPlot.min.css")) },
};

function json(res: ServerResponse, status: number, body: object): void {
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" });
  res.end(JSON.stringify(body));
}

/**
 * The live dashboard of a tier-2 distributor or a master, as routes of an HTTP server: `GET /`
 * (the page), `GET /dashboard/*` (its scripts and styles, uPlot among them), `GET /events` (a
 * Server-Sent Events feed of JSON snapshots, on change and at least once a second) and
 * `GET /dashboard.json` (one snapshot). It reads nothing but `source.stats()`.
 */
export function dashboardRoutes(source: DashboardSource, options: DashboardOptions = {}): DashboardRoutes {
  const timers = options.timers ?? realTimers;
  const maxClients = options.maxClients ?? 32;
  const sampler = new Sampler(source);
  const clients = new Set<ServerResponse>();
  let lastSample = Number.NEGATIVE_INFINITY;
  let lastPush = Number.NEGATIVE_INFINITY;
  let lastPrint = "";

  const send = (res: ServerResponse, s: DashboardSnapshot): void => {
    const frame = `data: ${JSON.stringify(s)}\n\n`;
    if (res.writableLength > Math.max(MAX_BEHIND_BYTES, 2 * frame.length)) {
      clients.delete(res);
      res.destroy();
      return;
    }
    res.write(frame);
  };

  const stopTicker = timers.every(CHECK_MS, () => {
    const now = timers.now();
    const sampled = now - lastSample >= SAMPLE_MS ? sampler.sample(now) : undefined;
    if (sampled !== undefined) lastSample = now;
    if (clients.size === 0) return;
    const s = sampler.snapshot(now, sampled);
    const print = fingerprint(s);
    if (print === lastPrint && now - lastPush < PUSH_MS) return;
    lastPrint = print;
    lastPush = now;
    for (const c of clients) send(c, s);
  });
  sampler.sample(timers.now());
  lastSample = timers.now();

  const handler: RouteHandler = (req, res) => {
    const path = (req.url ?? "/").split("?")[0] as string;
    const asset = ASSETS[path];
    const known = asset !== undefined || path === "/events" || path === "/dashboard.json";
    if (!known) return false;
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.setHeader("allow", "GET, HEAD");
      json(res, 405, { error: `${req.method ?? "?"} ${path}: the dashboard is read-only (GET)` });
      return true;
    }
    if (asset !== undefined) {
      res.writeHead(200, { "content-type": asset.type, "cache-control": path === "/" ? "no-store" : "max-age=300", ...PAGE_HEADERS });
      res.end(req.method === "HEAD" ? undefined : asset.body());
      return true;
    }
    if (path === "/dashboard.json") {
      json(res, 200, sampler.snapshot(timers.now()));
      return true;
    }
    if (clients.size >= maxClients) {
      json(res, 503, { error: `the dashboard serves ${maxClients} live feeds at most` });
      return true;
    }
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store", connection: "keep-alive", "x-accel-buffering": "no" });
    // A HEAD has no body: its headers go out on end (a write would send nothing, not even them).
    if (req.method === "HEAD") {
      res.end();
      return true;
    }
    res.write("retry: 2000\n\n");
    clients.add(res);
    const drop = (): void => {
      clients.delete(res);
    };
    req.on("close", drop);
    res.on("close", drop);
    send(res, sampler.snapshot(timers.now()));
    return true;
  };

  return Object.assign(handler, {
    snapshot: () => sampler.snapshot(timers.now()),
    close() {
      stopTicker();
      for (const c of clients) c.end();
      clients.clear();
    },
  });
}
