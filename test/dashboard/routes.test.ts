import { EventEmitter } from "node:events";
import { request } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { DECISIONS_KEPT, DecisionLog, REPEAT } from "../../src/actors/runtime/decisions.js";
import { dashboardRoutes, serveRoutes } from "../../src/node/dashboard/index.js";
import type { DashboardRoutes, DashboardSnapshot, HttpRoutesServer } from "../../src/node/dashboard/index.js";
import { quantileBetween } from "../../src/node/dashboard/snapshot.js";
import type { ServerEntry } from "../../src/state/index.js";

let http: HttpRoutesServer | undefined;
let routes: DashboardRoutes | undefined;
afterEach(async () => {
  routes?.close();
  routes = undefined;
  await http?.close();
  http = undefined;
});

/** A tier-2's stats as a fake source whose figures a test changes. */
function fakeStats(): { stats: Record<string, unknown>; source: { stats(): Record<string, unknown> } } {
  const stats: Record<string, unknown> = {
    id: "tier2-x",
    role: "tier2",
    policy: "shortest-delay",
    placed: 0,
    refused: 0,
    errors: {},
    decisions: [],
    placementMs: { buckets: [1, 2, 5], counts: [0, 0, 0, 0] },
    servers: [{ id: "a", url: "ws://127.0.0.1:1", status: "alive", load: 0, reserved: 0, capacity: 4, power: 1, apps: ["echo"], attrs: { region: "eu" }, ageMs: 5 }],
  };
  return { stats, source: { stats: () => stats } };
}

async function get(path: string, method = "GET"): Promise<{ status: number; type: string; body: string; headers: Record<string, unknown> }> {
  const url = new URL(path, http?.url);
  return new Promise((resolve, reject) => {
    const req = request(url, { method }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (d: string) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"] ?? ""), body, headers: res.headers }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** Opens /events and resolves with the first `n` snapshots; `onEach` sees each as it arrives. */
function events(n: number, onEach: (s: DashboardSnapshot) => void = () => {}): Promise<DashboardSnapshot[]> {
  return new Promise((resolve, reject) => {
    const got: DashboardSnapshot[] = [];
    const req = request(new URL("/events", http?.url), (res) => {
      expect(res.headers["content-type"]).toBe("text/event-stream");
      let buf = "";
      res.setEncoding("utf8").on("data", (d: string) => {
        buf += d;
        for (let i = buf.indexOf("\n\n"); i >= 0; i = buf.indexOf("\n\n")) {
          const frame = buf.slice(0, i);
          buf = buf.slice(i + 2);
          if (frame.startsWith("data: ")) {
            got.push(JSON.parse(frame.slice(6)) as DashboardSnapshot);
            onEach(got.at(-1) as DashboardSnapshot);
          }
          if (got.length === n) {
            req.destroy();
            resolve(got);
            return;
          }
        }
      });
    });
    req.on("error", (e) => (got.length < n ? reject(e) : undefined));
    req.end();
  });
}

describe("dashboard routes", () => {
  it("serve the page and its assets from the package, one snapshot as JSON, and leave other paths to other routes", async () => {
    const { source } = fakeStats();
    routes = dashboardRoutes(source);
    let passed = 0;
    http = await serveRoutes([routes, (req, res) => (req.url === "/other" ? (passed++, res.end("other"), true) : false)]);
    const page = await get("/");
    expect(page.status).toBe(200);
    expect(page.type).toContain("text/html");
    expect(page.body).toContain('<script src="dashboard/uplot.js">');
    expect(page.body).not.toMatch(/https?:\/\//);
    const uplot = await get("/dashboard/uplot.js");
    expect(uplot.status).toBe(200);
    expect(uplot.body).toContain("uPlot");
    for (const p of ["/dashboard/app.js", "/dashboard/app.css", "/dashboard/uplot.css"]) expect((await get(p)).status).toBe(200);
    // Only its own scripts run, no other site frames it, no type is sniffed (the browser test checks the policy breaks nothing).
    for (const p of ["/", "/dashboard/app.js"]) {
      const { headers } = await get(p);
      expect(headers["content-security-policy"], p).toMatch(/default-src 'self'.*frame-ancestors 'none'/);
      expect(headers["x-content-type-options"], p).toBe("nosniff");
      expect(headers["x-frame-options"], p).toBe("DENY");
    }
    const snap = JSON.parse((await get("/dashboard.json")).body) as DashboardSnapshot;
    expect(snap).toMatchObject({ node: "tier2-x", role: "tier2", policy: "shortest-delay", servers: [{ id: "a", status: "alive", capacity: 4, attrs: { region: "eu" } }] });
    expect((await get("/other")).body).toBe("other");
    expect(passed).toBe(1);
    const missing = await get("/metrics-not-here");
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body)).toEqual({ error: "no such path: /metrics-not-here" });
    const post = await get("/", "POST");
    expect(post.status).toBe(405);
    expect(JSON.parse(post.body).error).toContain("read-only");
  });

  it("push a snapshot on connect and another when the stats change", async () => {
    const { stats, source } = fakeStats();
    routes = dashboardRoutes(source);
    http = await serveRoutes([routes]);
    // Changed once the first snapshot is in: the next one carries it.
    const [first, second] = await events(2, (s) => {
      if (s.servers.length === 1) stats.servers = [...(stats.servers as object[]), { id: "b", url: "ws://127.0.0.1:2", status: "alive", load: 3, reserved: 0, capacity: 4, power: 2, apps: ["echo"], attrs: {}, ageMs: 1 }];
    });
    expect(first?.servers.map((s) => s.id)).toEqual(["a"]);
    expect(second?.servers.map((s) => [s.id, s.load])).toEqual([
      ["a", 0],
      ["b", 3],
    ]);
  });

  it("answer 503 past the live feeds they serve at once", async () => {
    routes = dashboardRoutes(fakeStats().source, { maxClients: 0 });
    http = await serveRoutes([routes]);
    const r = await get("/events");
    expect(r.status).toBe(503);
    expect(JSON.parse(r.body).error).toContain("live feeds");
  });
});

describe("placement quantiles from cumulative histograms", () => {
  const buckets = [1, 2, 5, 10];
  it("interpolate within the bucket the rank falls in, and are null over an interval with nothing placed", () => {
    const before = { buckets, counts: [0, 0, 0, 0, 0] };
    const after = { buckets, counts: [50, 90, 100, 100, 100] };
    expect(quantileBetween(before, after, 0.5)).toBe(1);
    expect(quantileBetween(before, after, 0.9)).toBe(2);
    expect(quantileBetween(before, after, 0.99)).toBeCloseTo(4.7);
    expect(quantileBetween(after, after, 0.5)).toBeNull();
    // Past the last bound: its lower bound.
    expect(quantileBetween(before, { buckets, counts: [0, 0, 0, 0, 10] }, 0.5)).toBe(10);
  });
});

describe("the decision log of an allocator's stats", () => {
  it("keeps the latest decisions, newest first, and counts refusals by code", () => {
    const log = new DecisionLog();
    const server = { id: "s", load: 1, reserved: 1, capacity: 4, power: 2 } as ServerEntry;
    for (let i = 0; i < DECISIONS_KEPT + 10; i++) log.chose(i, { id: `t${i}`, app: "echo", key: `k${i}`, require: [] }, server, "best-fit");
    log.chose(998, { id: "tr", app: "echo", key: "k1", require: [] }, server, REPEAT);
    log.refused(999, { id: "tx", app: "nope" }, "NO_SERVER", 'no server offers application "nope"');
    log.error("NO_SERVER");
    log.timed(0.5);
    log.timed(30);
    const s = log.stats();
    expect(s.decisions).toHaveLength(DECISIONS_KEPT);
    expect(s.decisions[0]).toEqual({ at: 999, taskId: "tx", app: "nope", server: null, reason: 'no server offers application "nope"', code: "NO_SERVER" });
    expect(s.decisions[1]?.reason).toBe('repeat of key "k1": the server that had it: load 1 (+1 reserved) of 4, power 2');
    expect(s.decisions[2]?.taskId).toBe(`t${DECISIONS_KEPT + 9}`);
    expect(s.decisions.at(-1)?.taskId).toBe("t12"); // 62 recorded, the 50 newest kept
    expect(s.decisions[2]?.reason).toBe("best-fit among the servers offering echo: load 1 (+1 reserved) of 4, power 2");
    expect(s.errors).toEqual({ NO_SERVER: 2 });
    expect(s.placementMs.count).toBe(2);
    expect(s.placementMs.counts).toHaveLength(s.placementMs.buckets.length + 1);
    expect(s.placementMs.counts[0]).toBe(1);
    expect(s.placementMs.counts.at(-1)).toBe(2);
  });
});

describe("a snapshot of a real allocator", () => {
  it("reads a master's fleet and a tier-2's decisions from their stats alone", async () => {
    const { startNode } = await import("../../src/index.js");
    const quiet = { logLevel: "silent" as const, workers: 0 };
    const master = await startNode({ ...quiet, role: "master", id: "master-x" });
    const tier2 = await startNode({ ...quiet, role: "tier2", id: "tier2-y" });
    const app = await startNode({ ...quiet, role: "app", id: "app-z", apps: ["echo"], capacity: 2, power: 3, attrs: { region: "eu" }, join: [master.url, tier2.url] });
    const client = await startNode({ ...quiet, role: "client", entries: [tier2.url] });
    try {
      const m = dashboardRoutes(master);
      const t = dashboardRoutes(tier2);
      try {
        for (let i = 0; i < 500 && (m.snapshot().servers.length === 0 || t.snapshot().servers.length === 0); i++) await new Promise((r) => setTimeout(r, 10));
        expect(m.snapshot()).toMatchObject({ node: "master-x", role: "master", servers: [{ id: "app-z", status: "alive", capacity: 2, power: 3, apps: ["echo"], attrs: { region: "eu" } }] });
        await client.submit({ app: "echo", payload: 1 });
        await expect(client.submit({ app: "missing", payload: 1 })).rejects.toThrow();
        const s = t.snapshot();
        expect(s.placed).toBe(1);
        expect(s.errors).toEqual({ NO_SERVER: 1 });
        expect(s.decisions.map((d) => [d.app, d.server])).toEqual([
          ["missing", null],
          ["echo", "app-z"],
        ]);
        expect(s.decisions[0]?.reason).toContain('no server offers application "missing"');
      } finally {
        m.close();
        t.close();
      }
    } finally {
      for (const n of [client, app, tier2, master]) await n.stop();
    }
  });
});

describe("dashboard feeds against a client that never reads", () => {
  /** Timers a test turns by hand: `tick` runs every `every` callback once, `ms` later. */
  function handTimers(): { timers: import("../../src/transport/index.js").Timers; tick(ms: number): void } {
    let now = 1_000_000;
    const every: Array<() => void> = [];
    return {
      timers: {
        now: () => now,
        after: () => () => {},
        every: (_ms, fn) => {
          every.push(fn);
          return () => every.splice(every.indexOf(fn), 1);
        },
        defer: (fn) => fn(),
      },
      tick(ms) {
        now += ms;
        for (const f of [...every]) f();
      },
    };
  }

  /** A response whose socket never drains: what is written stays buffered, as for a client that reads nothing. */
  function stuckResponse(): { req: EventEmitter & { url: string; method: string }; res: EventEmitter & { writeHead: (status: number) => unknown }; ended: () => boolean; buffered: () => number } {
    const req = Object.assign(new EventEmitter(), { url: "/events", method: "GET" });
    let buffered = 0;
    let ended = false;
    const res = Object.assign(new EventEmitter(), {
      headersSent: false,
      writeHead() {
        res.headersSent = true;
        return res;
      },
      setHeader() {},
      write(chunk: string) {
        if (!ended) buffered += Buffer.byteLength(chunk);
        return false;
      },
      end() {
        ended = true;
        res.emit("close");
      },
      destroy() {
        ended = true;
        res.emit("close");
      },
    });
    // A getter of its own (Object.assign would copy the value once).
    Object.defineProperty(res, "writableLength", { get: () => buffered });
    return { req, res, ended: () => ended, buffered: () => buffered };
  }

  it("drop a feed that has fallen megabytes behind instead of buffering snapshots for it without end", () => {
    const t = handTimers();
    const big = fakeStats();
    // A fleet of some size: each snapshot is tens of kilobytes.
    big.stats.servers = Array.from({ length: 200 }, (_, i) => ({ id: `s${i}`, url: `ws://127.0.0.1:${1000 + i}`, status: "alive", load: 0, reserved: 0, capacity: 4, power: 1, apps: ["echo"], attrs: { region: "eu" }, ageMs: 5 }));
    routes = dashboardRoutes(big.source, { timers: t.timers, maxClients: 1 });
    const stuck = stuckResponse();
    expect(routes(stuck.req as never, stuck.res as never)).toBe(true);
    for (let i = 0; i < 600; i++) t.tick(1000);
    expect(stuck.ended(), `${stuck.buffered()} bytes buffered`).toBe(true);
    expect(stuck.buffered()).toBeLessThan(8 * 1024 * 1024);
    // Its slot is free again for a client that reads.
    const next = stuckResponse();
    routes(next.req as never, next.res as never);
    expect(next.ended()).toBe(false);
  });

  it("answer HEAD /events with the stream's headers and end, holding no feed", () => {
    const t = handTimers();
    routes = dashboardRoutes(fakeStats().source, { timers: t.timers, maxClients: 1 });
    const head = stuckResponse();
    head.req.method = "HEAD";
    let status = 0;
    head.res.writeHead = (s: number) => ((status = s), head.res);
    routes(head.req as never, head.res as never);
    expect(status).toBe(200);
    expect(head.ended()).toBe(true);
    const get = stuckResponse();
    routes(get.req as never, get.res as never);
    expect(get.ended()).toBe(false);
    expect(get.buffered()).toBeGreaterThan(0);
  });
});
