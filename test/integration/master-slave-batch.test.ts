import { once } from "node:events";
import { WebSocketServer } from "ws";
import { describe, expect, it } from "vitest";
import { ErrorCode, startNode } from "../../src/index.js";
import type { RunningApp, RunningNode } from "../../src/index.js";
import { PROTOCOL_VERSION, isRejected } from "../../src/protocol/index.js";
import type { ServerReport } from "../../src/protocol/index.js";
import type { WireEnvelope } from "../../src/transport/codec.js";
import { decodeFrame, encodeFrame } from "../../src/transport/codec.js";
import { RawClient, eventually } from "../helpers/raw-client.js";
import { trackNodes } from "../helpers/nodes.js";

// The server requests of one slave turn travel to a master as one server.requestBatch.

const track = trackNodes();
const common = { logLevel: "silent" as const };
const task = (id: string, app = "echo") => ({ id, key: id, app, deadline: Date.now() + 10_000, require: [], clientAttrs: {}, prefs: {}, payload: { id } });
const request = (id: string, app = "echo", queue = 1) => ({ task: { ...task(id, app), payload: null }, client: { id: "c", addr: "" }, metrics: { queue, version: [1, 100 + queue] } });

interface Row {
  id: string;
  load: number;
  status: string;
}
const rows = (n: RunningNode, key: "servers" | "slaves"): Row[] => n.stats()[key] as Row[];

/** A raw connection registered with `url` as slave `id`. */
async function rawSlave(url: string, id: string): Promise<RawClient> {
  const raw = await RawClient.open(url, id);
  await raw.hello("slave");
  const server: ServerReport = { id, url: `ws://127.0.0.1:1/${id}`, apps: ["slave"], capacity: 8, power: 1, load: 0, attrs: {}, version: [1, 1] };
  const ack = await raw.call("server.report", { server });
  if (ack.type !== "ack") throw new Error(`report answered ${ack.type}`);
  return raw;
}

async function masterWithApps(apps: number): Promise<{ master: RunningNode; apps: RunningApp[] }> {
  const master = await track(startNode({ ...common, role: "master", id: "m1" }));
  const list: RunningApp[] = [];
  for (let i = 0; i < apps; i++) list.push(await track(startNode({ ...common, role: "app", id: `app${i + 1}`, apps: ["echo"], capacity: 64, power: 1, join: [master.url] })));
  await eventually(() => rows(master, "servers").filter((r) => r.status === "alive").length === apps, 5000, "every server to register");
  return { master, apps: list };
}

/** A "master" that welcomes and registers a slave, then answers every server request DRAINING. */
async function drainingMaster(): Promise<{ url: string; batches(): number; reports(): number; close(): Promise<void> }> {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await once(wss, "listening");
  let batches = 0;
  let reports = 0;
  let next = 1;
  wss.on("connection", (ws) => {
    ws.on("error", () => {});
    ws.on("message", (data: Buffer) => {
      const out: WireEnvelope[] = [];
      for (const m of decodeFrame(new Uint8Array(data))) {
        if (isRejected(m)) continue;
        if (m.type === "hello") out.push([PROTOCOL_VERSION, "welcome", next++, m.id, "drainer", { node: "drainer", role: "master" }]);
        else if (m.type === "server.report" && m.id !== 0) {
          reports++;
          out.push([PROTOCOL_VERSION, "ack", next++, m.id, "drainer", {}]);
        }
        else if (m.type === "server.requestBatch" || m.type === "server.request") {
          if (m.type === "server.requestBatch") batches++;
          out.push([PROTOCOL_VERSION, "error", next++, m.id, "drainer", { code: ErrorCode.DRAINING, message: "draining", retryable: true }]);
        }
      }
      if (out.length > 0) ws.send(encodeFrame(out, Date.now()));
    });
  });
  const { port } = wss.address() as { port: number };
  return {
    url: `ws://127.0.0.1:${port}`,
    batches: () => batches,
    reports: () => reports,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  };
}

describe("master/slave server request batches", () => {
  describe("master: server.requestBatch", () => {
    it("decides each request on its own and answers them in order, a refusal in its place, the slave's queue counted", async () => {
      const { master } = await masterWithApps(2);
      const slave = await rawSlave(master.url, "sl");
      const m = await slave.call("server.requestBatch", { requests: [request("a"), request("b", "nope", 2), request("c", "echo", 3)] });
      if (m.type !== "server.placedBatch") throw new Error(`answered ${m.type}: ${JSON.stringify(m.body)}`);
      const [a, b, c] = m.body.results;
      expect(a).toMatchObject({ taskId: "a", announce: true });
      expect(b).toMatchObject({ taskId: "b", error: { code: ErrorCode.NO_SERVER } });
      expect(c).toMatchObject({ taskId: "c", announce: true });
      // Least loaded: the two placements went to different servers.
      expect(a && "serverId" in a && c && "serverId" in c && a.serverId !== c.serverId).toBe(true);
      expect(rows(master, "slaves").find((r) => r.id === "sl")?.load).toBe(3);
      expect(master.stats()).toMatchObject({ placed: 2 });
      await slave.close();
    });

    it("refuses a batch from a slave not registered with it, and keeps serving", async () => {
      const { master } = await masterWithApps(1);
      const stranger = await RawClient.open(master.url, "stranger");
      await stranger.hello("slave");
      const id = stranger.request("server.requestBatch", { requests: [request("a"), request("b")] });
      expect(await stranger.waitForError(id, 5000)).toMatchObject({ code: ErrorCode.UNAUTHORIZED });
      const slave = await rawSlave(master.url, "sl");
      expect((await slave.call("server.requestBatch", { requests: [request("x"), request("y")] })).type).toBe("server.placedBatch");
      await stranger.close();
      await slave.close();
    });

    it("refuses a batch of one request or of a bad request as INVALID", async () => {
      const { master } = await masterWithApps(1);
      const slave = await rawSlave(master.url, "sl");
      const one = slave.request("server.requestBatch", { requests: [request("a")] });
      expect(await slave.waitForError(one, 5000)).toMatchObject({ code: ErrorCode.INVALID });
      const bad = slave.request("server.requestBatch", { requests: [request("a"), { task: task("b") }] });
      const err = await slave.waitForError(bad, 5000);
      expect(err.code).toBe(ErrorCode.INVALID);
      expect(err.message).toMatch(/requests\[1\]\.client/);
      await slave.close();
    });
  });

  describe("slave", () => {
    it("sends the server requests of one turn as one batch, and every task gets its own result", async () => {
      const { master } = await masterWithApps(2);
      const slave = await track(startNode({ ...common, role: "slave", id: "sl", masters: [master.url], link: "proxy" }));
      await eventually(() => rows(master, "slaves").some((r) => r.status === "alive"), 5000, "the slave to register");
      const client = await track(startNode({ ...common, role: "client", entries: [master.url] }));
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => client.submit({ app: "echo", payload: i })));
      expect(results.map((r) => r.result)).toEqual(Array.from({ length: 20 }, (_, i) => i));
      const s = slave.stats() as { requestBatches: number; batchedRequests: number; answered: number };
      expect(s.requestBatches).toBeGreaterThanOrEqual(1);
      expect(s.batchedRequests).toBeGreaterThanOrEqual(2);
      expect(s.answered).toBe(20);
    });

    it("fails each request of a batch over to the next master when the batch's master refuses it as DRAINING", async () => {
      const drainer = await drainingMaster();
      try {
        const { master } = await masterWithApps(1);
        const slave = await track(startNode({ ...common, role: "slave", id: "sl", masters: [drainer.url, master.url], link: "proxy" }));
        await eventually(() => rows(master, "slaves").some((r) => r.status === "alive"), 5000, "the slave to register");
        await eventually(() => drainer.reports() > 0, 5000, "the slave to register with the draining master");
        // Picks that name the draining master: the slave asks it first, in one batch.
        const client = await RawClient.open(slave.url, "c");
        await client.hello("client");
        const ids = ["t1", "t2", "t3"];
        const sent = ids.map((id, i) => [PROTOCOL_VERSION, "task.submit", 10 + i, 0, "c", { task: task(id), pick: `sl/${id}/drainer/n${i}` }] as WireEnvelope);
        client.send(sent);
        const answers = await Promise.all(ids.map((_, i) => client.waitFor((m) => m.re === 10 + i, 5000, `the answer to ${ids[i]}`)));
        expect(answers.map((a) => [a.type, a.type === "error" ? a.body.message : ""])).toEqual(ids.map(() => ["task.result", ""]));
        expect(answers.map((a) => (a.type === "task.result" ? a.body.result : undefined))).toEqual(ids.map((id) => ({ id })));
        expect(drainer.batches()).toBe(1);
        expect((slave.stats() as { failovers: number }).failovers).toBe(3);
        await client.close();
      } finally {
        await drainer.close();
      }
    });
  });
});
