import { randomBytes } from "node:crypto";
import { connect } from "node:net";
import type { Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { AllotError, ErrorCode, createWsTransport, startNode } from "../../src/index.js";
import type { CommonConfig, RunningClient, RunningNode } from "../../src/index.js";
import { PROTOCOL_VERSION, encodeFrame } from "../../src/transport/codec.js";
import { RawClient, eventually, within } from "../helpers/raw-client.js";

const MAX_FRAME = 64 * 1024;

const started: RunningNode[] = [];
const raws: RawClient[] = [];
const loops: Array<{ stop(): Promise<void> }> = [];
const fatal: unknown[] = [];
const cleanupSockets: Socket[] = [];

afterEach(async () => {
  for (const l of loops.splice(0)) await l.stop();
  for (const sock of cleanupSockets.splice(0)) sock.destroy();
  for (const r of raws.splice(0)) await r.close();
  for (const n of started.splice(0).reverse()) await n.stop();
  expect(fatal.splice(0)).toEqual([]);
});

const common = (): Omit<CommonConfig, "id"> => ({
  logLevel: "silent",
  transport: createWsTransport({ maxFrameBytes: MAX_FRAME }),
  onFatal: (err) => fatal.push(err),
});

async function track<T extends RunningNode>(n: Promise<T>): Promise<T> {
  const node = await n;
  started.push(node);
  return node;
}

interface Setup {
  tier2: RunningNode;
  app: RunningNode;
  client: RunningClient;
}

/** A tier-2 distributor, one app server joined to it (park window 50 ms) and a well-behaved client. */
async function start(): Promise<Setup> {
  const tier2 = await track(startNode({ ...common(), role: "tier2", id: "tier2-1" }));
  const app = await track(startNode({ ...common(), role: "app", id: "app-1", apps: ["echo"], capacity: 32, power: 1, join: [tier2.url] }));
  const client = await track(startNode({ ...common(), role: "client", id: "good-client", entries: [tier2.url], timeoutMs: 10_000 }));
  await eventually(() => servers(tier2).some((s) => s.id === "app-1" && s.status === "alive"), 10_000, "app-1 to register");
  return { tier2, app, client };
}

function servers(n: RunningNode): Array<{ id: string; url: string; status: string }> {
  const s = n.stats().servers;
  return Array.isArray(s) ? (s as Array<{ id: string; url: string; status: string }>) : [];
}

/**
 * Keeps a well-behaved client's tasks flowing, in batches of five, while a test feeds a node bad
 * input. `settle` waits for one more whole batch after the bad input and checks every result.
 */
function keepServing(client: RunningClient): { settle(): Promise<number> } {
  let stopped = false;
  let done = 0;
  let error: unknown;
  const loop = (async () => {
    for (let round = 0; !stopped; round++) {
      const payloads = [0, 1, 2, 3, 4].map((i) => ({ round, i }));
      const results = await Promise.all(payloads.map((payload) => client.submit({ app: "echo", payload })));
      if (JSON.stringify(results.map((r) => r.result)) !== JSON.stringify(payloads)) throw new Error(`wrong results in round ${round}`);
      done += results.length;
    }
  })().catch((err: unknown) => {
    error = err;
  });
  const stop = async (): Promise<void> => {
    stopped = true;
    await within(loop, 15_000, "the well-behaved client's last batch");
  };
  loops.push({ stop });
  return {
    async settle() {
      const target = done + 5;
      await eventually(() => done >= target || error !== undefined, 15_000, "the well-behaved client to complete another batch");
      await stop();
      if (error !== undefined) throw error;
      return done;
    },
  };
}

async function openRaw(url: string, node = "raw"): Promise<RawClient> {
  const r = await RawClient.open(url, node);
  raws.push(r);
  return r;
}

/** A raw client past its hello. */
async function greeted(url: string, node = "raw", role: "client" | "app" = "client"): Promise<RawClient> {
  const r = await openRaw(url, node);
  await r.hello(role);
  return r;
}

let taskSeq = 0;
function placeBody(app = "echo", over: Record<string, unknown> = {}) {
  const id = `raw-task-${++taskSeq}`;
  return {
    task: { id, key: id, app, deadline: Date.now() + 5000, require: [], clientAttrs: {}, prefs: {}, payload: { n: taskSeq }, ...over },
    client: { id: "raw", addr: "" },
  };
}

/** The connection still answers a well-formed request. */
async function stillServes(raw: RawClient): Promise<void> {
  const placed = await raw.call("task.place", placeBody());
  expect(placed.type).toBe("task.placed");
  expect(raw.closed).toBeUndefined();
}

describe("bad input to a running tier-2 distributor and app server", () => {
  describe("frames that do not decode", () => {
    const envelope = encodeFrame([[PROTOCOL_VERSION, "task.place", 9, 0, "raw", placeBody()]]);
    const junk: Array<[string, () => Uint8Array]> = [
      // 0xc1 is the one byte msgpack never uses, so the frame cannot be valid by chance.
      ["random bytes", () => Buffer.concat([Buffer.from([0xc1]), randomBytes(255)])],
      ["a truncated frame", () => envelope.subarray(0, envelope.length - 10)],
      ["a msgpack value that is not an array", () => Buffer.from([0xa3, 0x61, 0x62, 0x63])],
      ["an array holding something other than an envelope", () => Buffer.from([0x91, 0x01])],
      ["60 KB of nested array headers", () => Buffer.alloc(60_000, 0x91)],
      ["an array header claiming 4 billion elements", () => Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff, 0x01])],
      ["an empty array followed by trailing bytes", () => Buffer.from([0x90, 0x01, 0x02])],
    ];

    it.each(junk)("answers %s with a BAD_FRAME error and keeps the connection", async (_name, bytes) => {
      const s = await start();
      const serving = keepServing(s.client);
      const raw = await greeted(s.tier2.url);
      const since = raw.mark();
      raw.sendRaw(bytes());
      const err = await raw.waitForError(0, 5000, since);
      expect(err.code).toBe(ErrorCode.BAD_FRAME);
      await stillServes(raw);
      expect(await serving.settle()).toBeGreaterThan(0);
    });

    it("answers a text frame with a BAD_FRAME error and keeps the connection", async () => {
      const s = await start();
      const serving = keepServing(s.client);
      const raw = await greeted(s.tier2.url);
      const since = raw.mark();
      raw.sendRaw("hello, is this thing on?");
      const err = await raw.waitForError(0, 5000, since);
      expect(err.code).toBe(ErrorCode.BAD_FRAME);
      await stillServes(raw);
      await serving.settle();
    });

    it("closes a connection that sends a frame over maxFrameBytes with close code 1009, and keeps serving the others", async () => {
      const s = await start();
      const serving = keepServing(s.client);
      const bystander = await greeted(s.tier2.url, "bystander");
      const raw = await greeted(s.tier2.url);
      raw.sendRaw(Buffer.alloc(MAX_FRAME + 1024, 7));
      const closed = await raw.waitClosed(5000);
      expect(closed.code).toBe(1009);
      await stillServes(bystander);
      await stillServes(await greeted(s.tier2.url, "newcomer"));
      await serving.settle();
    });
  });

  describe("envelopes that do not validate", () => {
    it("answers an unknown message type with UNKNOWN_TYPE on the request's id", async () => {
      const s = await start();
      const serving = keepServing(s.client);
      const raw = await greeted(s.tier2.url);
      const id = raw.request("task.frobnicate", { x: 1 });
      const err = await raw.waitForError(id, 5000);
      expect(err.code).toBe(ErrorCode.UNKNOWN_TYPE);
      expect(err.message).toContain("task.frobnicate");
      // A known type that this role does not serve.
      const run = raw.request("task.run", { taskId: "t", key: "t", app: "echo", ticket: "x", payload: null });
      const notMine = await raw.waitForError(run, 5000);
      expect(notMine.code).toBe(ErrorCode.UNKNOWN_TYPE);
      expect(notMine.message).toContain("task.run");
      await stillServes(raw);
      await serving.settle();
    });

    it("answers a missing or wrongly typed field with INVALID naming the field", async () => {
      const s = await start();
      const serving = keepServing(s.client);
      const raw = await greeted(s.tier2.url);
      const body = placeBody();
      const { app: _omitted, ...noApp } = body.task;
      const missing = raw.request("task.place", { ...body, task: noApp });
      const wrongType = raw.request("task.place", placeBody("echo", { deadline: "soon" }));
      const notObject = raw.request("task.place", 5);
      let deep: unknown = "bottom";
      for (let i = 0; i < 40; i++) deep = [deep];
      const tooDeep = raw.request("task.place", placeBody("echo", { payload: deep }));
      const e1 = await raw.waitForError(missing, 5000);
      expect(e1.code).toBe(ErrorCode.INVALID);
      expect(e1.message).toContain("task.app");
      const e2 = await raw.waitForError(wrongType, 5000);
      expect(e2.code).toBe(ErrorCode.INVALID);
      expect(e2.message).toContain("task.deadline");
      const e3 = await raw.waitForError(notObject, 5000);
      expect(e3.code).toBe(ErrorCode.INVALID);
      const e4 = await raw.waitForError(tooDeep, 5000);
      expect(e4.code).toBe(ErrorCode.INVALID);
      expect(e4.message).toContain("task.payload");
      await stillServes(raw);
      await serving.settle();
    });

    it("answers another protocol version with VERSION_MISMATCH on the request's id", async () => {
      const s = await start();
      const raw = await greeted(s.tier2.url);
      raw.send([[PROTOCOL_VERSION + 1, "task.place", 77, 0, "raw", placeBody()]]);
      const err = await raw.waitForError(77, 5000);
      expect(err.code).toBe(ErrorCode.VERSION_MISMATCH);
      await stillServes(raw);
    });

    it("answers a request sent before hello with UNAUTHORIZED", async () => {
      const s = await start();
      const raw = await openRaw(s.tier2.url);
      const id = raw.request("task.place", placeBody());
      const err = await raw.waitForError(id, 5000);
      expect(err.code).toBe(ErrorCode.UNAUTHORIZED);
      await raw.hello("client");
      await stillServes(raw);
    });
  });

  describe("tickets", () => {
    it("answers a task.run whose ticket no allocator signed UNAUTHORIZED at once, and one signed for another task or client too", async () => {
      const s = await start();
      const serving = keepServing(s.client);
      const raw = await greeted(s.app.url);
      const bogus = await raw.call("task.run", { taskId: "t-bogus", key: "t-bogus", app: "echo", ticket: "not-a-ticket", payload: null });
      expect(bogus).toMatchObject({ type: "error", body: { code: ErrorCode.UNAUTHORIZED, message: expect.stringContaining("ticket") } });
      // A real ticket, placed for the client "raw": another task, or another client, cannot use it.
      const placer = await greeted(s.tier2.url);
      const body = placeBody();
      const placed = await placer.call("task.place", body);
      if (placed.type !== "task.placed") throw new Error(`expected task.placed, got ${placed.type}`);
      const otherTask = await raw.call("task.run", { taskId: "t-other", key: body.task.key, app: "echo", ticket: placed.body.ticket, payload: null });
      expect(otherTask).toMatchObject({ type: "error", body: { code: ErrorCode.UNAUTHORIZED, message: expect.stringContaining("does not check") } });
      const thief = await greeted(s.app.url, "someone-else");
      const stolen = await thief.call("task.run", { taskId: body.task.id, key: body.task.key, app: "echo", ticket: placed.body.ticket, payload: null });
      expect(stolen).toMatchObject({ type: "error", body: { code: ErrorCode.UNAUTHORIZED, message: expect.stringContaining("does not check") } });
      // The client it was issued for runs it once.
      await expect(raw.call("task.run", { taskId: body.task.id, key: body.task.key, app: "echo", ticket: placed.body.ticket, payload: body.task.payload })).resolves.toMatchObject({ type: "task.result" });
      await serving.settle();
    });

    it("answers a second task.run with the same ticket with UNAUTHORIZED \"ticket already used\"", async () => {
      const s = await start();
      const serving = keepServing(s.client);
      const placer = await greeted(s.tier2.url);
      const body = placeBody();
      const placed = await placer.call("task.place", body);
      expect(placed.type).toBe("task.placed");
      if (placed.type !== "task.placed") return;
      expect(placed.body.serverUrl).toBe(s.app.url);
      // The ticket is for the client the placement named: the run comes from it.
      const runner = await greeted(placed.body.serverUrl, body.client.id);
      const run = { taskId: body.task.id, key: body.task.key, app: "echo", ticket: placed.body.ticket, payload: body.task.payload };
      const first = await runner.call("task.run", run);
      expect(first.type).toBe("task.result");
      if (first.type === "task.result") expect(first.body.result).toEqual(body.task.payload);
      const again = await runner.call("task.run", run);
      expect(again.type).toBe("error");
      if (again.type !== "error") return;
      expect(again.body.code).toBe(ErrorCode.UNAUTHORIZED);
      expect(again.body.message).toBe("ticket already used");
      await serving.settle();
    });
  });

  describe("placement", () => {
    it("answers a task for an application no server offers with NO_SERVER naming the application", async () => {
      const s = await start();
      const serving = keepServing(s.client);
      const raw = await greeted(s.tier2.url);
      const answer = await raw.call("task.place", placeBody("no-such-app"));
      expect(answer.type).toBe("error");
      if (answer.type !== "error") return;
      expect(answer.body.code).toBe(ErrorCode.NO_SERVER);
      expect(answer.body.message).toContain("no-such-app");
      expect(answer.body.retryable).toBe(false);
      // The library client gives up at once on the same answer.
      const err = await within(
        s.client.submit({ app: "no-such-app" }).then(
          () => undefined,
          (e: unknown) => e,
        ),
        10_000,
        "the client's refusal",
      );
      expect(err).toBeInstanceOf(AllotError);
      expect((err as AllotError).code).toBe(ErrorCode.NO_SERVER);
      expect((err as AllotError).message).toContain("no-such-app");
      await serving.settle();
    });

    it("refuses a server.report whose id differs from the sender's hello with UNAUTHORIZED", async () => {
      const s = await start();
      const serving = keepServing(s.client);
      const urlBefore = servers(s.tier2).find((e) => e.id === "app-1")?.url;
      expect(urlBefore).toBe(s.app.url);
      const hijack = { id: "app-1", url: "ws://127.0.0.1:9", apps: ["echo"], capacity: 1000, power: 1000, load: 0, attrs: {}, version: [Date.now() * 2, 1] };

      const impostor = await greeted(s.tier2.url, "impostor", "app");
      const e1 = await impostor.call("server.report", { server: hijack });
      expect(e1.type).toBe("error");
      if (e1.type === "error") expect(e1.body.code).toBe(ErrorCode.UNAUTHORIZED);

      // The right id but not an app server.
      const pretender = await greeted(s.tier2.url, "app-1", "client");
      const e2 = await pretender.call("server.report", { server: hijack });
      expect(e2.type).toBe("error");
      if (e2.type === "error") expect(e2.body.code).toBe(ErrorCode.UNAUTHORIZED);

      expect(servers(s.tier2).find((e) => e.id === "app-1")?.url).toBe(s.app.url);
      await serving.settle();
      expect(s.app.stats().completed).toBeGreaterThan(0);
    });
  });
});

/** One masked client WebSocket binary frame (RFC 6455 5.2), payload under 64 KiB. */
function wsFrame(payload: Uint8Array): Buffer {
  const mask = randomBytes(4);
  const head = payload.length < 126 ? Buffer.from([0x82, 0x80 | payload.length]) : Buffer.from([0x82, 0x80 | 126, payload.length >> 8, payload.length & 0xff]);
  const body = Buffer.from(payload.map((b, i) => b ^ (mask[i % 4] as number)));
  return Buffer.concat([head, mask, body]);
}

/** A raw TCP connection upgraded to WebSocket by hand, so a test can write any bytes, even half a frame. */
async function rawSocket(url: string): Promise<Socket> {
  const { hostname, port } = new URL(url);
  const sock = connect(Number(port), hostname);
  await new Promise<void>((resolve, reject) => sock.once("connect", resolve).once("error", reject));
  sock.on("error", () => {});
  const answered = new Promise<string>((resolve) => sock.once("data", (d: Buffer) => resolve(d.toString("latin1"))));
  sock.write(`GET / HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  expect(await within(answered, 5000, "the upgrade's answer")).toMatch(/^HTTP\/1\.1 101/);
  return sock;
}

describe("a peer that stalls", () => {
  it("closes a connection that sent half a frame and stalled, once it has been silent for the silence threshold, and keeps serving the others", async () => {
    const { tier2, client } = await start();
    const serving = keepServing(client);
    const sock = await rawSocket(tier2.url);
    cleanupSockets.push(sock);
    const closed = new Promise<void>((resolve) => sock.once("close", () => resolve()));
    sock.write(wsFrame(encodeFrame([[PROTOCOL_VERSION, "hello", 1, 0, "staller", { node: "staller", role: "client" }]])));
    // A frame header that promises 200 bytes, and 20 of them: the rest never comes.
    const half = wsFrame(encodeFrame([[PROTOCOL_VERSION, "status.get", 2, 0, "staller", { pad: "x".repeat(150) }]]));
    sock.write(half.subarray(0, 28));
    await within(closed, 10_000, "the tier-2 to close the stalled connection");
    expect((tier2.stats().traffic as { closedSilent: number }).closedSilent).toBeGreaterThanOrEqual(1);
    expect(await serving.settle()).toBeGreaterThan(0);
    expect(fatal).toEqual([]);
  });
});

describe("request ids", () => {
  it("answers a second request under an id still in flight INVALID, so the in-flight limit counts every request, and answers the first", async () => {
    const tier2 = await track(startNode({ ...common(), role: "tier2" }));
    const raw = await greeted(tier2.url, "dup");
    try {
      const since = raw.mark();
      // Two status.get under id 900 in one frame: the first is answered, the second refused.
      raw.send([
        [PROTOCOL_VERSION, "status.get", 900, 0, "dup", {}],
        [PROTOCOL_VERSION, "status.get", 900, 0, "dup", {}],
      ]);
      const first = await raw.waitFor((m) => m.re === 900 && m.type === "status", 5000, "the first answer", since);
      expect(first.type).toBe("status");
      const second = await raw.waitFor((m) => m.re === 900 && m.type === "error", 5000, "the refusal", since);
      expect(second).toMatchObject({ body: { code: ErrorCode.INVALID, message: expect.stringContaining("already in flight") } });
    } finally {
      raw.close();
    }
  });
});
