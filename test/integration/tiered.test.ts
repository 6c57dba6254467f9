import { createServer, connect } from "node:net";
import type { Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { AllotError, ErrorCode, parseConstraint, startNode } from "../../src/index.js";
import type { Attrs, CommonConfig, RunningClient, RunningNode, TaskResult } from "../../src/index.js";
import { RawClient, eventually, within } from "../helpers/raw-client.js";

interface AppSpec {
  id: string;
  power: number;
  attrs: Attrs;
}

/** Four app servers: two regions, powers 1, 2, 4 and 8. */
const APPS: AppSpec[] = [
  { id: "app-1", power: 1, attrs: { region: "eu" } },
  { id: "app-2", power: 4, attrs: { region: "us" } },
  { id: "app-3", power: 8, attrs: { region: "eu" } },
  { id: "app-4", power: 2, attrs: { region: "us" } },
];

const started: RunningNode[] = [];
const raws: RawClient[] = [];
const proxies: Array<{ close(): Promise<void> }> = [];
const fatal: unknown[] = [];

afterEach(async () => {
  for (const r of raws.splice(0)) await r.close();
  for (const p of proxies.splice(0)) await p.close();
  for (const n of started.splice(0).reverse()) await n.stop();
  expect(fatal.splice(0)).toEqual([]);
});

const common: Omit<CommonConfig, "id"> = { logLevel: "silent", onFatal: (err) => fatal.push(err) };

interface Cluster {
  vip1: RunningNode;
  tier1: RunningNode[];
  vip2: RunningNode;
  tier2: RunningNode[];
  apps: Map<string, RunningNode>;
}

async function track<T extends RunningNode>(n: Promise<T>): Promise<T> {
  const node = await n;
  started.push(node);
  return node;
}

async function openRaw(url: string, node: string): Promise<RawClient> {
  const r = await RawClient.open(url, node);
  raws.push(r);
  return r;
}

function stat(n: RunningNode, key: string): number {
  const v = n.stats()[key];
  if (typeof v !== "number") throw new Error(`${n.id} has no numeric stat ${key}: ${JSON.stringify(v)}`);
  return v;
}

const sum = (ns: readonly RunningNode[], key: string): number => ns.reduce((s, n) => s + stat(n, key), 0);

function aliveServers(n: RunningNode): string[] {
  const s = n.stats().servers;
  if (!Array.isArray(s)) return [];
  return s.flatMap((e: { id?: unknown; status?: unknown }) => (e.status === "alive" && typeof e.id === "string" ? [e.id] : []));
}

/**
 * vip-1 → tier-1 ×2 → vip-2 → tier-2 ×2, with `apps` joined to both tier-2 distributors, all on
 * real WebSockets on 127.0.0.1. Round-robin allocation, so every eligible server gets work.
 */
async function startCluster(apps: readonly AppSpec[] = APPS, extraApps: readonly string[] = []): Promise<Cluster> {
  const tier2 = [
    await track(startNode({ ...common, role: "tier2", id: "tier2-1", policy: "round-robin" })),
    await track(startNode({ ...common, role: "tier2", id: "tier2-2", policy: "round-robin" })),
  ];
  const appNodes = new Map<string, RunningNode>();
  for (const a of apps) {
    appNodes.set(
      a.id,
      await track(startNode({ ...common, role: "app", id: a.id, apps: ["echo", ...extraApps], capacity: 64, power: a.power, attrs: a.attrs, join: tier2.map((t) => t.url) })),
    );
  }
  const vip2 = await track(startNode({ ...common, role: "vip", id: "vip-2", to: tier2.map((t) => t.url) }));
  const tier1 = [
    await track(startNode({ ...common, role: "tier1", id: "tier1-1", to: [vip2.url] })),
    await track(startNode({ ...common, role: "tier1", id: "tier1-2", to: [vip2.url] })),
  ];
  const vip1 = await track(startNode({ ...common, role: "vip", id: "vip-1", to: tier1.map((t) => t.url) }));
  await eventually(() => tier2.every((t) => aliveServers(t).length === apps.length), 10_000, "every app server to register with every tier-2 distributor");
  return { vip1, tier1, vip2, tier2, apps: appNodes };
}

function client(entries: string[], attrs?: Attrs): Promise<RunningClient> {
  return track(startNode({ ...common, role: "client", id: `client-${started.length}`, entries, timeoutMs: 10_000, ...(attrs ? { attrs } : {}) }));
}

interface Proxy {
  url: string;
  /** Connections accepted so far. */
  accepted: number;
  /** Cuts every connection passing through (the listener stays). */
  drop(): void;
  close(): Promise<void>;
}

/** A TCP relay to a node's ws:// URL on 127.0.0.1, so a test can cut a connection between two live nodes. */
async function tcpProxy(target: string): Promise<Proxy> {
  const port = Number(/^ws:\/\/127\.0\.0\.1:(\d+)$/.exec(target)?.[1]);
  const sockets = new Set<Socket>();
  const server = createServer((down) => {
    proxy.accepted++;
    const up = connect(port, "127.0.0.1");
    for (const sock of [down, up]) {
      sockets.add(sock);
      sock.on("error", () => {});
      sock.on("close", () => {
        sockets.delete(sock);
        down.destroy();
        up.destroy();
      });
    }
    down.pipe(up);
    up.pipe(down);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const addr = server.address();
  const proxy: Proxy = {
    url: `ws://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`,
    accepted: 0,
    drop: () => {
      for (const sock of sockets) sock.destroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        proxy.drop();
        server.close(() => resolve());
      }),
  };
  proxies.push(proxy);
  return proxy;
}

function statusOf(tier2: RunningNode, id: string): string | undefined {
  const s = tier2.stats().servers;
  if (!Array.isArray(s)) return undefined;
  const e = s.find((x: { id?: unknown }) => x.id === id) as { status?: unknown } | undefined;
  return typeof e?.status === "string" ? e.status : undefined;
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
const servedBy = (rs: readonly TaskResult[]): Set<string> => new Set(rs.map((r) => r.serverId));

describe("tiered path over WebSockets", () => {
  describe("vip → tier-1 → vip → tier-2 → app server", () => {
    it("runs every task on an app server and names the server that ran it", async () => {
      const c = await startCluster();
      const cl = await client([c.vip1.url]);
      const N = 40;
      const results = await within(Promise.all(range(N).map((i) => cl.submit({ app: "echo", payload: { i } }))), 20_000, `${N} results`);
      expect(results.map((r) => r.result)).toEqual(range(N).map((i) => ({ i })));
      expect(results.every((r) => r.cached === false && r.attempts === 1)).toBe(true);
      // Every hop of the path saw every task exactly once.
      expect(stat(c.vip1, "forwarded")).toBe(N);
      expect(sum(c.tier1, "redirected")).toBe(N);
      expect(stat(c.vip2, "forwarded")).toBe(N);
      expect(sum(c.tier2, "placed")).toBe(N);
      // The serverId of each result is the app server that ran it.
      for (const [id, node] of c.apps) expect(stat(node, "completed")).toBe(results.filter((r) => r.serverId === id).length);
      expect(servedBy(results)).toEqual(new Set(c.apps.keys()));
    });
  });

  describe("attribute matching", () => {
    it("places a task requiring power>=4 only on servers with power 4 or more", async () => {
      const c = await startCluster();
      const cl = await client([c.vip1.url]);
      const results = await within(Promise.all(range(30).map(() => cl.submit({ app: "echo", require: [parseConstraint("power>=4")] }))), 20_000, "30 results");
      expect(servedBy(results)).toEqual(new Set(["app-2", "app-3"]));
      expect(stat(c.apps.get("app-1") as RunningNode, "completed")).toBe(0);
      expect(stat(c.apps.get("app-4") as RunningNode, "completed")).toBe(0);

      const strongest = await within(Promise.all(range(10).map(() => cl.submit({ app: "echo", require: [parseConstraint("power>=8")] }))), 20_000, "10 results");
      expect(servedBy(strongest)).toEqual(new Set(["app-3"]));
    });

    it("answers a constraint no server meets with NO_SERVER naming the constraint, without retrying", async () => {
      const c = await startCluster();
      const cl = await client([c.vip1.url]);
      const err = await within(
        cl.submit({ app: "echo", require: [parseConstraint("power>=100")] }).then(
          () => undefined,
          (e: unknown) => e,
        ),
        15_000,
        "the refusal",
      );
      expect(err).toBeInstanceOf(AllotError);
      expect((err as AllotError).code).toBe(ErrorCode.NO_SERVER);
      expect((err as AllotError).message).toContain("power>=100");
      expect(sum(c.tier2, "refused")).toBe(1);
    });

    it("answers a payload the handler cannot take with INVALID, once, and the server keeps serving", async () => {
      const c = await startCluster(APPS, ["sleep"]);
      const cl = await client([c.vip1.url]);
      const err = await within(
        cl.submit({ app: "sleep", payload: { ms: "soon" } }).then(
          () => undefined,
          (e: unknown) => e,
        ),
        15_000,
        "the refusal",
      );
      expect(err).toMatchObject({ code: ErrorCode.INVALID, message: expect.stringContaining("sleep ms") });
      // Not retried: INVALID is the caller's mistake, so exactly one server ran it once.
      const completed = [...c.apps.values()].reduce((n, a) => n + (a.stats().completed as number), 0);
      expect(completed).toBe(1);
      expect(await within(cl.submit({ app: "sleep", payload: { ms: 1 } }), 10_000, "a good task")).toMatchObject({ result: { slept: 1 } });
    });

    it("steers tasks to servers sharing the client's attributes (region)", async () => {
      const c = await startCluster();
      const us = await client([c.vip1.url], { region: "us" });
      const fromUs = await within(Promise.all(range(20).map(() => us.submit({ app: "echo" }))), 20_000, "20 results");
      expect(servedBy(fromUs)).toEqual(new Set(["app-2", "app-4"]));
      // A task's own client attributes override the client's defaults.
      const fromEu = await within(Promise.all(range(20).map(() => us.submit({ app: "echo", clientAttrs: { region: "eu" } }))), 20_000, "20 results");
      expect(servedBy(fromEu)).toEqual(new Set(["app-1", "app-3"]));
    });
  });

  describe("client address", () => {
    /** A fake app server: a raw socket to each tier-2 distributor that registers and records what it is told. */
    async function fakeApp(c: Cluster): Promise<RawClient[]> {
      const links: RawClient[] = [];
      for (const t of c.tier2) {
        const link = await openRaw(t.url, "fake-app");
        await link.hello("app");
        const ack = await link.call("server.report", {
          server: { id: "fake-app", url: "ws://127.0.0.1:9", apps: ["fake"], capacity: 4, power: 1, load: 0, attrs: {}, version: [1, 1] },
        });
        expect(ack.type).toBe("ack");
        links.push(link);
      }
      return links;
    }

    const place = (id: string, addr: string) => ({
      task: { id, key: id, app: "fake", deadline: Date.now() + 10_000, require: [], clientAttrs: {}, prefs: {}, payload: null },
      client: { id: "raw-client", addr },
    });

    async function expectOn(links: RawClient[], taskId: string) {
      return within(
        Promise.any(links.map((l) => l.waitForType("task.expect", (m) => m.body.taskId === taskId, 5000, `task.expect of ${taskId}`))),
        6000,
        `task.expect of ${taskId}`,
      );
    }

    it("tells the chosen app server the client's address as the first hop saw it, with the client's ticket", async () => {
      const c = await startCluster([]);
      const links = await fakeApp(c);
      await eventually(() => c.tier2.every((t) => aliveServers(t).includes("fake-app")), 5000, "the fake app server to register");
      const raw = await openRaw(c.vip1.url, "raw-client");
      await raw.hello("client");
      expect(raw.localPort).toBeGreaterThan(0);

      const placed = await raw.call("task.place", place("raw-task-1", ""));
      expect(placed.type).toBe("task.placed");
      if (placed.type !== "task.placed") return;
      expect(placed.body).toMatchObject({ taskId: "raw-task-1", serverId: "fake-app", serverUrl: "ws://127.0.0.1:9" });

      const expectMsg = await expectOn(links, "raw-task-1");
      expect(expectMsg.body.client).toEqual({ id: "raw-client", addr: `127.0.0.1:${raw.localPort}` });
      expect(expectMsg.body.ticket).toBe(placed.body.ticket);
      expect(expectMsg.body.key).toBe("raw-task-1");
    });

    it("does not let a client claim another address than the one its socket comes from", async () => {
      const c = await startCluster([]);
      const links = await fakeApp(c);
      await eventually(() => c.tier2.every((t) => aliveServers(t).includes("fake-app")), 5000, "the fake app server to register");
      const raw = await openRaw(c.vip1.url, "raw-client");
      await raw.hello("client");

      const placed = await raw.call("task.place", place("raw-task-2", "203.0.113.9:4444"));
      expect(placed.type).toBe("task.placed");
      const expectMsg = await expectOn(links, "raw-task-2");
      expect(expectMsg.body.client.addr).toBe(`127.0.0.1:${raw.localPort}`);
    });
  });

  describe("entries", () => {
    it("runs tasks entering at a tier-2 distributor directly", async () => {
      const c = await startCluster();
      const [t2a, t2b] = c.tier2 as [RunningNode, RunningNode];
      const cl = await client([t2a.url]);
      const results = await within(Promise.all(range(10).map((i) => cl.submit({ app: "echo", payload: i }))), 20_000, "10 results");
      expect(results.map((r) => r.result)).toEqual(range(10));
      expect(results.every((r) => c.apps.has(r.serverId))).toBe(true);
      expect(stat(t2a, "placed")).toBe(10);
      expect(stat(t2b, "placed")).toBe(0);
      expect(stat(c.vip1, "forwarded")).toBe(0);
      expect(stat(c.vip2, "forwarded")).toBe(0);
    });

    it("runs tasks entering at a tier-1 distributor directly", async () => {
      const c = await startCluster();
      const [t1a, t1b] = c.tier1 as [RunningNode, RunningNode];
      const cl = await client([t1a.url]);
      const results = await within(Promise.all(range(10).map((i) => cl.submit({ app: "echo", payload: i }))), 20_000, "10 results");
      expect(results.map((r) => r.result)).toEqual(range(10));
      expect(results.every((r) => c.apps.has(r.serverId))).toBe(true);
      expect(stat(t1a, "redirected")).toBe(10);
      expect(stat(t1b, "redirected")).toBe(0);
      expect(stat(c.vip1, "forwarded")).toBe(0);
      expect(stat(c.vip2, "forwarded")).toBe(10);
      expect(sum(c.tier2, "placed")).toBe(10);
    });
  });

  describe("membership", () => {
    it("places tasks again on an app server whose connection to a tier-2 distributor dropped and came back", async () => {
      const tier2 = await track(startNode({ ...common, role: "tier2", id: "tier2-1" }));
      const proxy = await tcpProxy(tier2.url);
      await track(startNode({ ...common, role: "app", id: "app-p", apps: ["echo"], capacity: 8, power: 1, join: [proxy.url] }));
      await eventually(() => statusOf(tier2, "app-p") === "alive", 10_000, "app-p to register");
      const cl = await client([tier2.url]);
      expect((await within(cl.submit({ app: "echo", payload: 1 }), 10_000, "a first result")).serverId).toBe("app-p");

      const before = proxy.accepted;
      proxy.drop();
      // The app server reconnects on its own and reports again on the new connection.
      await eventually(() => proxy.accepted > before, 10_000, "app-p to reconnect to tier2-1");
      await eventually(() => statusOf(tier2, "app-p") === "alive", 5000, "app-p to be alive again on tier2-1 after reconnecting");
      expect((await within(cl.submit({ app: "echo", payload: 2 }), 10_000, "a result after the reconnection")).serverId).toBe("app-p");
    });
  });

  describe("connection pooling", () => {
    it("runs 50 tasks on one app server over one connection from the client", async () => {
      const c = await startCluster();
      const app3 = c.apps.get("app-3") as RunningNode;
      const before = stat(app3, "connections");
      const cl = await client([c.vip1.url]);
      const onApp3 = { app: "echo", require: [parseConstraint("id=app-3")] };
      const results = await within(Promise.all(range(50).map((i) => cl.submit({ ...onApp3, payload: i }))), 20_000, "50 results");
      expect(servedBy(results)).toEqual(new Set(["app-3"]));
      expect(stat(app3, "completed")).toBe(50);
      expect(stat(app3, "connections")).toBe(before + 1);
      expect(stat(cl, "servers")).toBe(1);
      // Later tasks reuse the same connection.
      await within(Promise.all(range(10).map(() => cl.submit(onApp3))), 20_000, "10 more results");
      expect(stat(app3, "connections")).toBe(before + 1);
    });
  });
});
