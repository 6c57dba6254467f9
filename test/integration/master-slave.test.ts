import { once } from "node:events";
import type { pino } from "pino";
import { WebSocketServer } from "ws";
import { describe, expect, it } from "vitest";
import { AllotError, ErrorCode, startNode } from "../../src/index.js";
import type { RunningApp, RunningNode } from "../../src/index.js";
import { PROTOCOL_VERSION, isRejected } from "../../src/protocol/index.js";
import type { ServerReport } from "../../src/protocol/index.js";
import { decodeFrame, encodeFrame } from "../../src/transport/codec.js";
import { captureLog } from "../helpers/log-capture.js";
import { RawClient, eventually, within } from "../helpers/raw-client.js";
import { trackNodes } from "../helpers/nodes.js";

// The master/slave design (seed 004), over real WebSockets on loopback: one test per claim path.

const track = trackNodes();
const common = { logLevel: "silent" as const };

interface Row {
  id: string;
  load: number;
  status: string;
}
const rows = (n: RunningNode, key: "servers" | "slaves"): Row[] => n.stats()[key] as Row[];
const rowOf = (n: RunningNode, key: "servers" | "slaves", id: string): Row | undefined => rows(n, key).find((r) => r.id === id);
const alive = (n: RunningNode, key: "servers" | "slaves"): number => rows(n, key).filter((r) => r.status === "alive").length;

/** A member announced by hand: a raw connection that says hello as `role` and reports `over`. */
async function rawMember(url: string, role: "slave" | "app", id: string, over: Partial<ServerReport>): Promise<RawClient & { report(o: Partial<ServerReport>): Promise<void> }> {
  const raw = await RawClient.open(url, id);
  await raw.hello(role);
  let seq = 0;
  const report = async (o: Partial<ServerReport>): Promise<void> => {
    const server: ServerReport = { id, url: `ws://127.0.0.1:1/${id}`, apps: role === "slave" ? ["slave"] : ["echo"], capacity: 8, power: 1, load: 0, attrs: {}, version: [1, ++seq], ...over, ...o };
    const ack = await raw.call("server.report", { server });
    if (ack.type !== "ack") throw new Error(`report of ${id} answered ${ack.type}: ${JSON.stringify(ack.body)}`);
  };
  await report({});
  return Object.assign(raw, { report });
}

const task = (id: string, app = "echo", over: Record<string, unknown> = {}) => ({ id, key: id, app, deadline: Date.now() + 10_000, require: [], clientAttrs: {}, prefs: {}, payload: null, ...over });

async function pickOf(client: RawClient, id: string): Promise<string> {
  const m = await client.call("task.place", { task: task(id), client: { id: "c", addr: "" } });
  if (m.type !== "slave.picked") throw new Error(`task.place answered ${m.type}: ${JSON.stringify(m.body)}`);
  return m.body.slaveId;
}

/** Master(s), app servers and slaves, all in this process, registered before it returns. */
async function cluster(o: { assign?: "grant" | "indicate"; links: Array<"proxy" | "direct">; apps?: number; logger?: pino.Logger; masters?: number }) {
  const logging = o.logger ? { logger: o.logger, logLevel: "debug" as const } : common;
  const masters: RunningNode[] = [];
  for (let i = 0; i < (o.masters ?? 1); i++) {
    const peers = masters.map((m) => m.url);
    masters.push(await track(startNode({ ...logging, role: "master", id: `m${i + 1}`, ...(o.assign ? { assign: o.assign } : {}), ...(peers.length ? { peers } : {}) })));
  }
  const urls = masters.map((m) => m.url);
  const apps: RunningApp[] = [];
  for (let i = 0; i < (o.apps ?? 2); i++) apps.push(await track(startNode({ ...logging, role: "app", id: `app${i + 1}`, apps: ["echo", "hash", "sleep"], capacity: 8, power: 1, join: urls })));
  const slaves: RunningNode[] = [];
  for (const [i, link] of o.links.entries()) slaves.push(await track(startNode({ ...logging, role: "slave", id: `s${i + 1}-${link}`, masters: urls, link })));
  await eventually(() => masters.every((m) => alive(m, "servers") === apps.length && alive(m, "slaves") === slaves.length), 5000, "every server and slave to register");
  const client = await track(startNode({ ...common, role: "client", entries: urls }));
  return { masters, master: masters[0] as RunningNode, apps, slaves, client };
}

/** A "master" that says hello and then never answers anything: hung, but with its sockets open. */
async function hungMaster(): Promise<{ url: string; hellos(): number; requests(): number; close(): Promise<void> }> {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await once(wss, "listening");
  let hellos = 0;
  let requests = 0;
  wss.on("connection", (ws) => {
    ws.on("error", () => {});
    ws.on("message", (data: Buffer) => {
      for (const m of decodeFrame(new Uint8Array(data))) {
        if (isRejected(m)) continue;
        if (m.type !== "hello") {
          requests++;
          continue;
        }
        hellos++;
        ws.send(encodeFrame([[PROTOCOL_VERSION, "welcome", 1, m.id, "hung", { node: "hung", role: "master" }]]));
      }
    });
  });
  const { port } = wss.address() as { port: number };
  return {
    url: `ws://127.0.0.1:${port}`,
    hellos: () => hellos,
    requests: () => requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  };
}

const capture = (): ReturnType<typeof captureLog> => captureLog("debug");

describe("master/slave", () => {
  describe("claim paths", () => {
    it("a master picks the slave with the least load for a client's request (claims 1, 11, 18, 26)", async () => {
      const master = await track(startNode({ ...common, role: "master" }));
      await track(startNode({ ...common, role: "app", apps: ["echo"], capacity: 4, power: 1, join: [master.url] }));
      const a = await rawMember(master.url, "slave", "slave-a", { load: 3 });
      const b = await rawMember(master.url, "slave", "slave-b", { load: 1 });
      const client = await RawClient.open(master.url, "c1");
      try {
        await client.hello("client");
        await eventually(() => alive(master, "servers") === 1, 5000, "the app server to register");
        expect(await pickOf(client, "t1")).toBe("slave-b");
        await b.report({ load: 7 });
        expect(await pickOf(client, "t2")).toBe("slave-a");
        expect(master.stats().picked).toBe(2);
      } finally {
        await Promise.all([a.close(), b.close(), client.close()]);
      }
    });

    it("the slave's processing-server request carries its queue, which the master counts at once (claims 4, 8, 13, 21, 25)", async () => {
      const master = await track(startNode({ ...common, role: "master" }));
      await track(startNode({ ...common, role: "app", apps: ["echo"], capacity: 4, power: 1, join: [master.url] }));
      const a = await rawMember(master.url, "slave", "slave-a", { load: 0 });
      const b = await rawMember(master.url, "slave", "slave-b", { load: 1 });
      const client = await RawClient.open(master.url, "c1");
      try {
        await client.hello("client");
        await eventually(() => alive(master, "servers") === 1, 5000, "the app server to register");
        expect(await pickOf(client, "t0")).toBe("slave-a");
        // slave-a's request says it now holds 6: newer than its last report, so it counts.
        const placed = await a.call("server.request", { task: task("t1"), client: { id: "c1", addr: "" }, metrics: { queue: 6, cost: 1, version: [1, 5] } });
        expect(placed.type).toBe("task.placed");
        expect(rowOf(master, "slaves", "slave-a")?.load).toBe(6);
        expect(await pickOf(client, "t2")).toBe("slave-b");
      } finally {
        await Promise.all([a.close(), b.close(), client.close()]);
      }
    });

    it("the master picks the least loaded server that offers the application and meets the constraints, from the servers' own reports (claims 1, 3, 12, 17)", async () => {
      const master = await track(startNode({ ...common, role: "master" }));
      const s1 = await rawMember(master.url, "app", "s1", { load: 3, capacity: 4, attrs: { region: "eu" } });
      const s2 = await rawMember(master.url, "app", "s2", { load: 1, capacity: 4, attrs: { region: "eu" } });
      const s3 = await rawMember(master.url, "app", "s3", { load: 0, capacity: 4, apps: ["hash"], attrs: { region: "eu" } });
      const s4 = await rawMember(master.url, "app", "s4", { load: 0, capacity: 4, attrs: { region: "us" } });
      const slave = await rawMember(master.url, "slave", "sl", {});
      const ask = async (id: string, require: unknown[] = []): Promise<string> => {
        const m = await slave.call("server.request", { task: task(id, "echo", { require }), client: { id: "c", addr: "" }, metrics: { queue: 1, version: [1, 100] } });
        if (m.type !== "task.placed") throw new Error(`server.request answered ${m.type}: ${JSON.stringify(m.body)}`);
        return m.body.serverId;
      };
      try {
        expect(await ask("t1")).toBe("s4");
        expect(await ask("t2", [{ key: "region", op: "=", value: "eu" }])).toBe("s2");
        // s2's next report shows it full: the other eu server takes the next task.
        await s2.report({ load: 4, capacity: 4, attrs: { region: "eu" } });
        expect(await ask("t3", [{ key: "region", op: "=", value: "eu" }])).toBe("s1");
      } finally {
        await Promise.all([s1, s2, s3, s4, slave].map((r) => r.close()));
      }
    });

    it("proxy link: the slave relays the task and its result, and the client never connects to the server (claims 2, 19)", async () => {
      const { client, apps, slaves } = await cluster({ links: ["proxy"], apps: 1 });
      const r = await client.submit({ app: "echo", payload: { via: "proxy" } });
      expect(r).toMatchObject({ result: { via: "proxy" }, serverId: "app1", slaveId: (slaves[0] as RunningNode).id });
      expect(client.stats().servers).toBe(0);
      // The app server's only inbound connection is the slave's.
      expect((apps[0] as RunningApp).stats().connections).toBe(1);
    });

    it("direct link: the slave hands the client the server's address and ticket, and the client runs the task there", async () => {
      const { client, apps, slaves } = await cluster({ links: ["direct"], apps: 1 });
      const r = await client.submit({ app: "echo", payload: { via: "direct" } });
      expect(r).toMatchObject({ result: { via: "direct" }, serverId: "app1", slaveId: (slaves[0] as RunningNode).id });
      expect(client.stats().servers).toBe(1);
      // Two inbound connections at the server: the slave's (it announced the ticket) and the client's.
      expect((apps[0] as RunningApp).stats().connections).toBe(2);
    });

    it.each(["proxy", "direct"] as const)("indicate: the server accepts the task before the slave learns which server it is (claims 5-7, 9-10, 14-17, 22-24; %s link)", async (link) => {
      const { logger, lines } = capture();
      const { client, master } = await cluster({ assign: "indicate", links: [link], apps: 1, logger });
      const r = await client.submit({ app: "echo", payload: 1 });
      const at = (node: string, msg: string): number => lines.findIndex((l) => l.node === node && l.msg === msg && l.task === r.taskId);
      const indicated = at("app1", "ticket announced");
      const identified = at(`s1-${link}`, "master identified a server");
      expect(indicated).toBeGreaterThanOrEqual(0);
      expect(identified).toBeGreaterThan(indicated);
      expect(lines[indicated]?.by).toBe("m1");
      expect(master.stats()).toMatchObject({ assign: "indicate", indicated: 1 });
    });

    it("grant: the slave learns the server first and announces the ticket itself", async () => {
      const { logger, lines } = capture();
      const { client } = await cluster({ assign: "grant", links: ["proxy"], apps: 1, logger });
      const r = await client.submit({ app: "echo", payload: 1 });
      const at = (node: string, msg: string): number => lines.findIndex((l) => l.node === node && l.msg === msg && l.task === r.taskId);
      expect(at("s1-proxy", "master identified a server")).toBeLessThan(at("app1", "ticket announced"));
      expect(lines[at("app1", "ticket announced")]?.by).toBe("s1-proxy");
    });

    it("a task's expected cost sends it to a server with that much idle power", async () => {
      const master = await track(startNode({ ...common, role: "master" }));
      const weak = await rawMember(master.url, "app", "weak", { load: 0, capacity: 4, power: 1 });
      const strong = await rawMember(master.url, "app", "strong", { load: 2, capacity: 4, power: 16 });
      const slave = await rawMember(master.url, "slave", "sl", {});
      const ask = async (id: string, cost?: number): Promise<string> => {
        const m = await slave.call("server.request", { task: task(id, "echo", cost === undefined ? {} : { cost }), client: { id: "c", addr: "" }, metrics: { queue: 1, version: [1, 100], ...(cost === undefined ? {} : { cost }) } });
        if (m.type !== "task.placed") throw new Error(`server.request answered ${m.type}`);
        return m.body.serverId;
      };
      try {
        expect(await ask("cheap")).toBe("weak");
        expect(await ask("costly", 5)).toBe("strong");
      } finally {
        await Promise.all([weak, strong, slave].map((r) => r.close()));
      }
    });
  });

  describe("more than one master", () => {
    it("masters share server and slave entries, so a server registered with one is used through the other", async () => {
      const m1 = await track(startNode({ ...common, role: "master", id: "m1" }));
      const m2 = await track(startNode({ ...common, role: "master", id: "m2", peers: [m1.url] }));
      await track(startNode({ ...common, role: "app", id: "only-m1", apps: ["echo"], capacity: 4, power: 1, join: [m1.url], mode: "registered" }));
      await track(startNode({ ...common, role: "slave", id: "sl", masters: [m2.url], link: "proxy", report: { event: true, periodicMs: 0 } }));
      await eventually(() => rowOf(m2, "servers", "only-m1")?.status === "alive" && rowOf(m1, "slaves", "sl") !== undefined, 5000, "each master to learn the other's member");
      const client = await track(startNode({ ...common, role: "client", entries: [m2.url] }));
      expect(await client.submit({ app: "echo", payload: "shared" })).toMatchObject({ serverId: "only-m1", result: "shared", slaveId: "sl" });
    });

    it("lets go of every pick and every grant once the tasks are done, at each master", async () => {
      // Picks from either master; a server that reports to m1 only, so m2 hears of it by sync.
      const m1 = await track(startNode({ ...common, role: "master", id: "m1" }));
      const m2 = await track(startNode({ ...common, role: "master", id: "m2", peers: [m1.url] }));
      await track(startNode({ ...common, role: "app", id: "app1", apps: ["echo"], capacity: 64, power: 1, join: [m1.url], mode: "registered" }));
      await track(startNode({ ...common, role: "slave", id: "sl", masters: [m1.url, m2.url], link: "proxy" }));
      await eventually(() => [m1, m2].every((m) => alive(m, "servers") === 1 && alive(m, "slaves") === 1), 5000, "both masters to know the server and the slave");
      const client = await track(startNode({ ...common, role: "client", entries: [m1.url, m2.url] }));
      await Promise.all(Array.from({ length: 40 }, (_, i) => client.submit({ app: "echo", payload: i })));
      const held = (m: RunningNode): number[] => [m.stats().heldPicks as number, (m.stats().slaves as Array<{ reserved: number }>)[0]?.reserved ?? -1, (m.stats().servers as Array<{ reserved: number }>)[0]?.reserved ?? -1];
      await eventually(() => [m1, m2].every((m) => held(m).every((n) => n === 0)), 5000, `no pick or grant left held (m1 ${held(m1).join("/")}, m2 ${held(m2).join("/")})`);
    });

    it("a master that stops answering but keeps its connections is skipped by clients and slaves after their timeouts", async () => {
      const hung = await hungMaster();
      try {
        const master = await track(startNode({ ...common, role: "master", id: "m-ok" }));
        await track(startNode({ ...common, role: "app", id: "app1", apps: ["echo"], capacity: 8, power: 1, join: [master.url] }));
        const slave = await track(startNode({ ...common, role: "slave", id: "sl", masters: [hung.url, master.url], link: "proxy", masterTimeoutMs: 300 }));
        await eventually(() => alive(master, "servers") === 1 && alive(master, "slaves") === 1 && hung.hellos() >= 1, 5000, "registration");
        const client = await track(startNode({ ...common, role: "client", entries: [hung.url, master.url], entryTimeoutMs: 300 }));
        const results = await within(Promise.all(Array.from({ length: 6 }, (_, i) => client.submit({ app: "echo", payload: i, timeoutMs: 10_000 }))), 10_000, "every task");
        expect(results.map((r) => r.result)).toEqual([0, 1, 2, 3, 4, 5]);
        expect(hung.requests()).toBeGreaterThan(0);
        // A pick made by the hung master: the slave asks it first, then, after its timeout, the other.
        const raw = await RawClient.open(slave.url, "raw-client");
        try {
          await raw.hello("client");
          const answer = await raw.call("task.submit", { task: { ...task("via-hung"), payload: "late but done" }, pick: "sl/via-hung/hung/nonce" }, 5000);
          expect(answer).toMatchObject({ type: "task.result", body: { result: "late but done" } });
        } finally {
          await raw.close();
        }
        expect(slave.stats().failovers).toBeGreaterThanOrEqual(1);
      } finally {
        await hung.close();
      }
    });

    it("a master that stops is failed over by clients and slaves, and no task is lost", async () => {
      const { masters, client } = await cluster({ masters: 2, links: ["proxy", "direct"], apps: 2 });
      const total = 60;
      let done = 0;
      const runs = Array.from({ length: total }, (_, i) => client.submit({ app: "sleep", payload: { ms: 10 + (i % 5) }, timeoutMs: 20_000 }).then((r) => (done++, r)));
      await eventually(() => done >= 10, 10_000, "the first tasks to complete");
      await (masters[0] as RunningNode).stop();
      const results = await within(Promise.all(runs), 20_000, "every task to complete");
      expect(results).toHaveLength(total);
      expect(new Set(results.map((r) => r.slaveId)).size).toBe(2);
    });
  });

  describe("bad input", () => {
    it("refuses a server request from a slave not registered with the master, and keeps serving", async () => {
      const { master, client } = await cluster({ links: ["proxy"], apps: 1 });
      const stranger = await RawClient.open(master.url, "stranger");
      try {
        await stranger.hello("slave");
        const id = stranger.request("server.request", { task: task("t1"), client: { id: "c", addr: "" }, metrics: { queue: 0, version: [1, 1] } });
        const err = await stranger.waitForError(id, 5000);
        expect(err).toMatchObject({ code: ErrorCode.UNAUTHORIZED, retryable: false });
        expect(err.message).toMatch(/not a slave registered/);
      } finally {
        await stranger.close();
      }
      expect((await client.submit({ app: "echo", payload: 2 })).result).toBe(2);
    });

    it("answers a task for an application nobody offers with NO_SERVER, without retrying", async () => {
      const { client, master } = await cluster({ links: ["proxy"], apps: 1 });
      const err = await client.submit({ app: "nobody-runs-this", timeoutMs: 5000 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AllotError);
      expect(err).toMatchObject({ code: ErrorCode.NO_SERVER, retryable: false });
      expect(master.stats().picked).toBe(0);
    });

    it("answers a client at a slave the master did not pick with a retryable UNAUTHORIZED, and the slave keeps serving", async () => {
      const { slaves, client } = await cluster({ links: ["proxy"], apps: 1 });
      const slave = slaves[0] as RunningNode;
      const raw = await RawClient.open(slave.url, "lost-client");
      try {
        await raw.hello("client");
        const id = raw.request("task.submit", { task: task("t9"), pick: "some-other-slave/t9/xyz" });
        expect(await raw.waitForError(id, 5000)).toMatchObject({ code: ErrorCode.UNAUTHORIZED, retryable: true });
        const wrongTask = raw.request("task.submit", { task: task("t10"), pick: `${slave.id}/t9/xyz` });
        expect((await raw.waitForError(wrongTask, 5000)).code).toBe(ErrorCode.UNAUTHORIZED);
      } finally {
        await raw.close();
      }
      expect(slave.stats().misdirected).toBe(2);
      expect((await client.submit({ app: "echo", payload: 3 })).result).toBe(3);
    });

    it.each(["proxy", "direct"] as const)("a server that dies with the task: the client is told (retryable) and the task completes on another server (%s link)", async (link) => {
      const { client, apps } = await cluster({ links: [link], apps: 2 });
      const run = client.submit({ app: "sleep", payload: { ms: 400 }, timeoutMs: 15_000 });
      await eventually(() => apps.some((a) => (a.stats().running as number) === 1), 5000, "the task to start");
      const victim = apps.find((a) => (a.stats().running as number) === 1) as RunningApp;
      await victim.stop();
      const r: Awaited<typeof run> = await within(run, 15_000, "the task to complete elsewhere");
      expect(r.serverId).not.toBe(victim.id);
      expect(r.attempts).toBeGreaterThanOrEqual(2);
    });
  });
});


