import { connect, createServer } from "node:net";
import type { AddressInfo } from "node:net";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import type { Family } from "parse-prometheus-text-format";
import { get as httpGet } from "node:http";
import { describe, expect, it } from "vitest";
import { MonitorListenError, createAdminToken, startNode } from "../../src/index.js";
import type { MonitorRoute, RunningNode } from "../../src/index.js";
import { testCluster } from "../helpers/credentials.js";
import { trackNodes } from "../helpers/nodes.js";
import { until } from "../helpers/poll.js";
import { MAX_MONITOR_CONNECTIONS, MAX_MONITOR_CONNECTIONS_PER_ADDRESS } from "../../src/node/monitor.js";

const quiet = { logLevel: "silent" as const };
const http = "127.0.0.1:0";
const track = trackNodes();

async function get(node: RunningNode, path: string, init: RequestInit = {}): Promise<{ status: number; type: string; text: string }> {
  const r = await fetch(`${node.httpUrl as string}${path}`, init);
  return { status: r.status, type: r.headers.get("content-type") ?? "", text: await r.text() };
}

async function getJson(node: RunningNode, path: string, init: RequestInit = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await get(node, path, init);
  expect(r.type).toMatch(/^application\/json/);
  return { status: r.status, body: JSON.parse(r.text) as Record<string, unknown> };
}

async function scrape(node: RunningNode, init: RequestInit = {}): Promise<Map<string, Family>> {
  const r = await get(node, "/metrics", init);
  expect(r.status).toBe(200);
  expect(r.type).toMatch(/^text\/plain; version=0\.0\.4/);
  return new Map(parsePrometheusTextFormat(r.text).map((f) => [f.name, f]));
}

/** The sum of a family's samples whose labels include `labels` (a histogram's: its count, the +Inf bucket). */
function total(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  const f = families.get(name);
  if (!f) throw new Error(`no metric ${name}`);
  return f.metrics.filter((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v)).reduce((n, m) => n + Number(m.value ?? m.count ?? m.buckets?.["+Inf"] ?? 0), 0);
}

describe("monitoring port (--http)", () => {
  it("serves /metrics in Prometheus text format, with Allot's counters moving as tasks run", async () => {
    const tier2 = await track(startNode({ ...quiet, role: "tier2", id: "t2", http }));
    const app = await track(startNode({ ...quiet, role: "app", id: "a1", apps: ["echo"], capacity: 4, power: 1, join: [tier2.url], http }));
    const client = await track(startNode({ ...quiet, role: "client", id: "c1", entries: [tier2.url], http }));
    expect(tier2.httpUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    const before = await scrape(tier2);
    const placedBefore = total(before, "allot_tasks_placed_total");
    for (let i = 0; i < 5; i++) await client.submit({ app: "echo", payload: i });

    const t2 = await scrape(tier2);
    expect(total(t2, "allot_tasks_placed_total") - placedBefore).toBe(5);
    expect(total(t2, "allot_decisions_total")).toBeGreaterThanOrEqual(5);
    expect(t2.get("allot_decision_seconds")?.type).toBe("HISTOGRAM");
    expect(total(t2, "allot_decision_seconds")).toBeGreaterThanOrEqual(5); // the count
    expect(total(t2, "allot_servers", { kind: "app", status: "alive" })).toBe(1);
    expect(total(t2, "allot_reports_total", { outcome: "received" })).toBeGreaterThanOrEqual(1);
    expect(total(t2, "allot_connections", { peer_role: "app" })).toBe(1);
    expect(total(t2, "allot_frames_total", { direction: "in" })).toBeGreaterThan(0);
    expect(total(t2, "allot_bytes_total", { direction: "out" })).toBeGreaterThan(0);
    // prom-client's defaults, under their standard names: process and event loop.
    for (const name of ["process_cpu_seconds_total", "process_resident_memory_bytes", "nodejs_eventloop_lag_seconds"]) expect(t2.has(name), name).toBe(true);
    // Every series names its node and role; no label holds a task id.
    const placed = t2.get("allot_tasks_placed_total")?.metrics[0];
    expect(placed?.labels).toEqual({ node: "t2", role: "tier2" });

    const a = await scrape(app);
    expect(total(a, "allot_tasks_run_total")).toBe(5);
    expect(total(a, "allot_tasks_completed_total")).toBe(5);
    expect(total(a, "allot_task_run_seconds")).toBe(5);
    expect(total(a, "allot_tasks_running")).toBe(0);
    expect(total(a, "allot_actor_crashes_total")).toBe(0);

    const c = await scrape(client);
    expect(total(c, "allot_placement_seconds")).toBe(5);

    // Allot's own metrics are all allot_…, and follow the conventions: counters end in _total.
    for (const f of t2.values()) {
      if (!f.name.startsWith("allot_")) continue;
      if (f.type === "COUNTER") expect(f.name).toMatch(/_total$/);
    }
  });

  it("counts failures by error code", async () => {
    const tier2 = await track(startNode({ ...quiet, role: "tier2", http }));
    const fail = (): never => {
      throw new Error("on purpose");
    };
    const app = await track(startNode({ ...quiet, role: "app", apps: ["fail"], handlers: { fail }, capacity: 4, power: 1, join: [tier2.url], http }));
    const client = await track(startNode({ ...quiet, role: "client", entries: [tier2.url], maxAttempts: 1 }));
    await expect(client.submit({ app: "fail", payload: null })).rejects.toThrow();
    const a = await scrape(app);
    const failed = a.get("allot_tasks_failed_total")?.metrics ?? [];
    expect(failed.length).toBeGreaterThan(0);
    expect(failed.every((m) => typeof m.labels?.["code"] === "string" && /^[A-Z_]+$/.test(m.labels["code"]))).toBe(true);
    // A refused placement (no server offers the application) is counted at the allocator.
    await expect(client.submit({ app: "nobody-runs-this", payload: null })).rejects.toThrow();
    expect(total(await scrape(tier2), "allot_placements_refused_total", { code: "NO_SERVER" })).toBeGreaterThanOrEqual(1);
  });

  it("/healthz answers 200 while the actor answers; /readyz says why a node is not ready, then 200", async () => {
    const tier2 = await track(startNode({ ...quiet, role: "tier2", id: "t2", http }));
    expect(await getJson(tier2, "/healthz")).toEqual({ status: 200, body: { node: "t2", role: "tier2", ok: true } });
    const lonely = await getJson(tier2, "/readyz");
    expect(lonely.status).toBe(503);
    expect(lonely.body).toMatchObject({ ready: false, reason: expect.stringMatching(/knows no live app server/) as unknown });

    // An app server whose allocator is not there is not registered anywhere.
    const nowhere = await track(startNode({ ...quiet, role: "app", apps: ["echo"], capacity: 1, power: 1, join: ["ws://127.0.0.1:9"], http }));
    expect((await getJson(nowhere, "/healthz")).status).toBe(200);
    const unregistered = await getJson(nowhere, "/readyz");
    expect(unregistered.status).toBe(503);
    expect(unregistered.body["reason"]).toMatch(/registered with no allocator/);

    const app = await track(startNode({ ...quiet, role: "app", apps: ["echo"], capacity: 1, power: 1, join: [tier2.url], http }));
    await until(async () => (await getJson(app, "/readyz")).status === 200, "the app server to be ready");
    await until(async () => (await getJson(tier2, "/readyz")).status === 200, "the tier-2 to be ready");

    // A front is ready once a member of its set is reachable.
    const vip = await track(startNode({ ...quiet, role: "vip", to: [tier2.url], http }));
    await until(async () => (await getJson(vip, "/readyz")).status === 200, "the vip to be ready");
    const deadVip = await track(startNode({ ...quiet, role: "vip", to: ["ws://127.0.0.1:9"], http }));
    const vipWhy = await getJson(deadVip, "/readyz");
    expect(vipWhy.status).toBe(503);
    expect(vipWhy.body["reason"]).toMatch(/no member of its set is reachable/);

    // A killed node's actor answers nothing.
    const killed = await startNode({ ...quiet, role: "tier2", http });
    const url = killed.httpUrl as string;
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    killed.kill();
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });

  it("answers 404 JSON for an unknown path, 405 for a write, and mounts other modules' routes", async () => {
    const hello: MonitorRoute = (req, res) => {
      if (req.url !== "/hello") return false;
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("hi");
      return true;
    };
    const tier2 = await track(startNode({ ...quiet, role: "tier2", http, httpRoutes: [hello] }));
    const missing = await getJson(tier2, "/nope?x=1");
    expect(missing.status).toBe(404);
    expect(missing.body["error"]).toBe("no such path: /nope");
    expect((await getJson(tier2, "/metrics", { method: "POST" })).status).toBe(405);
    expect((await get(tier2, "/hello")).text).toBe("hi");
    // Or a function of the node, for a route that shows its state.
    const role = await track(
      startNode({
        ...quiet,
        role: "tier2",
        http,
        httpRoutes: (n) => [
          (req, res) => {
            if (req.url !== "/role") return false;
            res.end(`${n.role} ${String(n.stats()["placed"])}`);
            return true;
          },
        ],
      }),
    );
    expect((await get(role, "/role")).text).toBe("tier2 0");
    // The node keeps serving after bad requests.
    expect((await getJson(tier2, "/healthz")).status).toBe(200);
  });

  it("holds at most MAX_MONITOR_CONNECTIONS_PER_ADDRESS sockets from one address, so one host's slow sockets leave the port to others", async () => {
    const tier2 = await track(startNode({ ...quiet, role: "tier2", http }));
    const { port } = new URL(tier2.httpUrl as string);
    const sockets = Array.from({ length: MAX_MONITOR_CONNECTIONS_PER_ADDRESS + 20 }, () => {
      const s = connect({ port: Number(port), host: "127.0.0.1", localAddress: "127.0.0.1" });
      s.on("error", () => {});
      s.write("GET /metrics HTTP/1.1\r\nX-a: "); // headers that never end
      return s;
    });
    let closed = 0;
    for (const s of sockets) s.on("close", () => closed++);
    try {
      await until(async () => closed >= 20, "the sockets past one address's share to be closed");
      // Another address (127.0.0.2 is loopback too) is still answered while the first holds its share.
      const status = await new Promise<number>((resolve, reject) => {
        const req = httpGet({ host: "127.0.0.1", port: Number(port), path: "/healthz", localAddress: "127.0.0.2" }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on("error", reject);
      });
      expect(status).toBe(200);
      expect(closed).toBe(20);
    } finally {
      for (const s of sockets) s.destroy();
    }
  });

  it("holds at most MAX_MONITOR_CONNECTIONS sockets, so idle or slow clients cannot take every file descriptor from the node's WebSocket port", async () => {
    const tier2 = await track(startNode({ ...quiet, role: "tier2", http }));
    const { port } = new URL(tier2.httpUrl as string);
    // From six loopback addresses, each under its own share: the cap on the whole port is what closes these.
    const sockets = Array.from({ length: MAX_MONITOR_CONNECTIONS + 40 }, (_, i) => {
      const s = connect({ port: Number(port), host: "127.0.0.1", localAddress: `127.0.0.${2 + (i % 6)}` });
      s.on("error", () => {});
      // Slowloris: a request line, and then headers that never end.
      s.write("GET /metrics HTTP/1.1\r\nX-a: ");
      return s;
    });
    let closed = 0;
    for (const s of sockets) s.on("close", () => closed++);
    try {
      await until(async () => closed >= 40, "the monitoring port to refuse the sockets past its cap");
      // And the node's own port still takes a peer.
      const client = await track(startNode({ ...quiet, role: "client", entries: [tier2.url] }));
      expect(client.id).toBeDefined();
    } finally {
      for (const s of sockets) s.destroy();
    }
  });

  it("a slave is ready once linked to a master; a master once it knows a live server and slave", async () => {
    const master = await track(startNode({ ...quiet, role: "master", http }));
    const why = await getJson(master, "/readyz");
    expect(why.status).toBe(503);
    expect(why.body["reason"]).toMatch(/knows no live app server/);
    const lonelySlave = await track(startNode({ ...quiet, role: "slave", masters: ["ws://127.0.0.1:9"], http }));
    expect((await getJson(lonelySlave, "/readyz")).body["reason"]).toMatch(/linked to no master/);
    await track(startNode({ ...quiet, role: "app", apps: ["echo"], capacity: 1, power: 1, join: [master.url] }));
    const slave = await track(startNode({ ...quiet, role: "slave", masters: [master.url], http }));
    await until(async () => (await getJson(slave, "/readyz")).status === 200, "the slave to be ready");
    await until(async () => (await getJson(master, "/readyz")).status === 200, "the master to be ready");
  });

  it("is off unless asked for; a port in use fails the start with MonitorListenError", async () => {
    const plain = await track(startNode({ ...quiet, role: "tier2" }));
    expect(plain.httpUrl).toBeUndefined();
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
    const port = (blocker.address() as AddressInfo).port;
    try {
      await expect(startNode({ ...quiet, role: "tier2", http: `127.0.0.1:${port}` })).rejects.toThrow(MonitorListenError);
      await expect(startNode({ ...quiet, role: "tier2", http: "nonsense" })).rejects.toThrow(MonitorListenError);
      // Without credentials nothing guards the port: beyond loopback only with insecure, as the node's own port.
      await expect(startNode({ ...quiet, role: "tier2", http: "0.0.0.0:0" })).rejects.toThrow(/monitoring port on 0\.0\.0\.0:0, beyond loopback, needs credentials/);
      await expect(startNode({ ...quiet, role: "client", entries: ["ws://127.0.0.1:9"], http: "0.0.0.0:0" })).rejects.toThrow(/beyond loopback/);
    } finally {
      await new Promise<void>((r) => blocker.close(() => r()));
    }
  });

  it("with authentication on, everything but /healthz and /readyz needs an admin's token (401 JSON)", async () => {
    const cluster = testCluster();
    const tier2 = await track(startNode({ ...quiet, role: "tier2", id: "t2", ...cluster.auth(cluster.issue(["tier2"], "t2")), http }));
    expect((await getJson(tier2, "/healthz")).status).toBe(200);
    expect((await getJson(tier2, "/readyz")).status).toBe(503);

    const none = await getJson(tier2, "/metrics");
    expect(none.status).toBe(401);
    expect(none.body["error"]).toMatch(/admin's token/);
    expect((await getJson(tier2, "/nope")).status).toBe(401);

    const admin = cluster.issue(["admin"], "ops");
    const token = createAdminToken(admin, 3_600_000, Date.now());
    const auth = { headers: { authorization: `Bearer ${token}` } };
    expect((await scrape(tier2, auth)).has("allot_tasks_placed_total")).toBe(true);
    expect((await getJson(tier2, "/nope", auth)).status).toBe(404);

    // A token some other cluster's admin signed, an expired one, a tampered one: 401, saying why.
    const other = testCluster();
    const stranger = createAdminToken(other.issue(["admin"], "ops"), 3_600_000, Date.now());
    const expired = createAdminToken(admin, 1000, Date.now() - 10_000);
    const [p, , s] = token.split(".") as [string, string, string];
    const tampered = `${p}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(token.split(".")[1] as string, "base64url").toString()), exp: Date.now() + 5 * 86_400_000 })).toString("base64url")}.${s}`;
    for (const [bad, why] of [
      [stranger, /not signed by a trusted cluster key/],
      [expired, /token expired/],
      [tampered, /signature does not verify/],
      ["garbage", /not an allot token/],
    ] as const) {
      const r = await getJson(tier2, "/metrics", { headers: { authorization: `Bearer ${bad}` } });
      expect(r.status).toBe(401);
      expect(r.body["error"]).toMatch(why);
    }
    // Only an admin credential signs a token.
    expect(() => createAdminToken(cluster.issue(["client"], "c"), 60_000, Date.now())).toThrow(/not admin/);
  });

  it("checks the signatures of a few tokens a second from one address: a flood of fake ones is answered 429 unchecked, an admin elsewhere still gets in", async () => {
    const cluster = testCluster();
    const tier2 = await track(startNode({ ...quiet, role: "tier2", id: "t2", ...cluster.auth(cluster.issue(["tier2"], "t2")), http }));
    const { port } = new URL(tier2.httpUrl as string);
    // Well-formed tokens some other cluster signed: each one cost a signature check before.
    const other = testCluster();
    const fakes = Array.from({ length: 120 }, () => createAdminToken(other.issue(["admin"], "ops"), 3_600_000, Date.now()));
    const from = (localAddress: string, token: string): Promise<{ status: number; retryAfter: string | undefined }> =>
      new Promise((resolve, reject) => {
        const req = httpGet({ host: "127.0.0.1", port: Number(port), path: "/metrics", localAddress, headers: { authorization: `Bearer ${token}` } }, (res) => {
          res.resume();
          resolve({ status: res.statusCode ?? 0, retryAfter: res.headers["retry-after"] as string | undefined });
        });
        req.on("error", reject);
      });
    const answers: Array<{ status: number; retryAfter: string | undefined }> = [];
    for (const t of fakes) answers.push(await from("127.0.0.3", t)); // one at a time: the address may hold only so many sockets
    const limited = answers.filter((a) => a.status === 429);
    expect(answers.every((a) => a.status === 401 || a.status === 429)).toBe(true);
    expect(limited.length).toBeGreaterThan(0);
    expect(limited[0]?.retryAfter).toBe("1");
    const token = createAdminToken(cluster.issue(["admin"], "ops"), 3_600_000, Date.now());
    expect((await from("127.0.0.4", token)).status).toBe(200);
  });
});
