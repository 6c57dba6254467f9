import { connect } from "node:net";
import { WebSocket } from "ws";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode, createWsTransport, startNode } from "../../src/index.js";
import { Channel } from "../../src/transport/channel.js";
import type { TrafficCounters } from "../../src/transport/channel.js";
import type { RunningNode } from "../../src/index.js";
import { NonReader, nilBomb } from "../helpers/attacks.js";
import { captureLog } from "../helpers/log-capture.js";
import { RawClient, eventually, within } from "../helpers/raw-client.js";
import { trackNodes } from "../helpers/nodes.js";

const track = trackNodes();
const raws: RawClient[] = [];
afterEach(async () => {
  for (const r of raws.splice(0)) await r.close();
});

async function raw(url: string, node = "raw"): Promise<RawClient> {
  const r = await RawClient.open(url, node);
  raws.push(r);
  return r;
}

const capture = (): ReturnType<typeof captureLog> => captureLog("warn");

async function statusOf(r: RawClient): Promise<string> {
  const m = await r.call("status.get", {}, 10_000);
  return m.type;
}

describe("limits", () => {
  describe("frame cost", () => {
    it("answers the 4,000,000-nil wedge frame with one BAD_FRAME and still answers a valid request", async () => {
      const tier2: RunningNode = await track(startNode({ role: "tier2", id: "t2-wedge", logLevel: "silent" }));
      const r = await raw(tier2.url);
      await r.hello("client");
      const since = r.mark();
      r.sendRaw(nilBomb(4_000_000));
      expect(await within(statusOf(r), 10_000, "status after the wedge")).toBe("status");
      const errors = r.received.slice(since).filter((m) => m.type === "error");
      expect(errors).toHaveLength(1);
      expect(errors[0]?.type === "error" && errors[0].body.code).toBe(ErrorCode.BAD_FRAME);
      expect(r.closed).toBeUndefined();
    });

    it("logs a flood of bad envelopes from one peer at most a few lines a second, with a count of the rest", async () => {
      const { logger, lines } = capture();
      const tier2 = await track(startNode({ role: "tier2", id: "t2-flood", logger }));
      const r = await raw(tier2.url, "flooder");
      await r.hello("client");
      const started = Date.now();
      // 40 frames of 256 invalid envelopes each (10,240 rejections) and 3 wedge frames.
      for (let i = 0; i < 40; i++) r.sendRaw(nilBomb(256));
      for (let i = 0; i < 3; i++) r.sendRaw(nilBomb(4_000_000));
      expect(await within(statusOf(r), 20_000, "status after the flood")).toBe("status");
      const seconds = (Date.now() - started) / 1000;
      const about = lines.filter((l) => l.peer === "flooder");
      // 5 lines per second-long window (generous: two windows more than the time taken).
      expect(about.length).toBeLessThanOrEqual(5 * (Math.ceil(seconds) + 2));
      expect(about.length).toBeGreaterThan(0);
      // What was dropped is counted on the next line that gets through (one tiny bad frame at a time, to reach the next window).
      const counted = (): number => about.length && lines.filter((l) => l.peer === "flooder" && typeof l.suppressed === "number").reduce((n, l) => n + (l.suppressed as number), 0);
      await eventually(() => (r.sendRaw(nilBomb(1)), counted() > 0), 15_000, "a line with the suppressed count");
      const more = counted();
      expect(more).toBeGreaterThan(10_000);
    });
  });
});

/** The HTTP status an upgrade to `url` is refused with, or "open" if it opens (then it is closed). */
function upgradeStatus(url: string): Promise<number | "open"> {
  return within(
    new Promise<number | "open">((resolve) => {
      const ws = new WebSocket(url, { perMessageDeflate: false });
      ws.on("error", () => {});
      ws.once("unexpected-response", (_req, res) => {
        resolve(res.statusCode ?? 0);
        ws.terminate();
      });
      ws.once("open", () => {
        resolve("open");
        ws.terminate();
      });
    }),
    5000,
    `an answer to an upgrade to ${url}`,
  );
}

/** Sends `head` on a plain TCP connection to `url`'s port; resolves with the first line of the answer ("" if none) once the server closes. */
function rawHttp(url: string, head: string): Promise<string> {
  const port = Number(/:(\d+)$/.exec(url)?.[1]);
  return within(
    new Promise<string>((resolve) => {
      let got = "";
      const s = connect(port, "127.0.0.1", () => s.write(head));
      s.setEncoding("utf8").on("data", (d: string) => (got += d));
      s.on("error", () => {});
      s.once("close", () => resolve(got.split("\r\n")[0] ?? ""));
    }),
    10_000,
    "the server to answer and close",
  );
}

const refusedOf = (n: RunningNode): Record<string, number> => n.stats().refusedConnections as Record<string, number>;

describe("limits at the HTTP upgrade", () => {
  it("refuses the connection past maxConnectionsPerAddress with HTTP 429, counts it, keeps serving the others and frees the slot on close", async () => {
    const tier2 = await track(startNode({ role: "tier2", id: "t2-peraddr", logLevel: "silent", maxConnectionsPerAddress: 3 }));
    const open = [await raw(tier2.url), await raw(tier2.url), await raw(tier2.url)];
    expect(await upgradeStatus(tier2.url)).toBe(429);
    expect(refusedOf(tier2)).toEqual({ notWebSocket: 0, tooMany: 0, tooManyFromAddress: 1, tlsHandshakeFailed: 0 });
    for (const r of open) {
      await r.hello("client");
      expect(await statusOf(r)).toBe("status");
    }
    await open[0]?.close();
    await eventually(() => tier2.stats().connections === 2, 5000, "the closed connection to be gone");
    expect(await upgradeStatus(tier2.url)).toBe("open");
  });

  it("refuses the connection past maxConnections with HTTP 503 and counts it", async () => {
    const tier2 = await track(startNode({ role: "tier2", id: "t2-total", logLevel: "silent", maxConnections: 2 }));
    await raw(tier2.url);
    await raw(tier2.url);
    expect(await upgradeStatus(tier2.url)).toBe(503);
    expect(refusedOf(tier2).tooMany).toBe(1);
  });

  it("answers an HTTP upgrade to anything but WebSocket with 400 and counts it", async () => {
    const tier2 = await track(startNode({ role: "tier2", id: "t2-h2c", logLevel: "silent" }));
    const line = await rawHttp(tier2.url, "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n");
    expect(line).toMatch(/^HTTP\/1\.1 400 /);
    expect(refusedOf(tier2).notWebSocket).toBe(1);
  });

  it("times out a request whose headers never end (408 and closed)", async () => {
    const listener = await createWsTransport().listen("127.0.0.1:0", () => {}, { headersTimeoutMs: 300 });
    try {
      const line = await rawHttp(listener.url, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n");
      expect(line).toMatch(/^HTTP\/1\.1 408 /);
    } finally {
      await listener.close();
    }
  });

  it("refuses listen options that are not positive integers, naming the option", async () => {
    await expect(createWsTransport().listen("127.0.0.1:0", () => {}, { maxConnectionsPerAddress: 0 })).rejects.toThrow(/maxConnectionsPerAddress must be an integer >= 1/);
  });
});

describe("limits before the handshake", () => {
  it("closes an accepted socket whose first frame, before hello, is 64 KB (1009), and counts it", async () => {
    const tier2 = await track(startNode({ role: "tier2", id: "t2-prehello", logLevel: "silent" }));
    const r = await raw(tier2.url);
    r.sendRaw(Buffer.alloc(64 * 1024, 0xc0));
    const closed = await r.waitClosed(5000);
    expect(closed.code).toBe(1009);
    expect(trafficOf(tier2).closedOversizeBeforeHello).toBe(1);
    // After hello the same frame is only a bad frame: one error, and the connection stays.
    const ok = await raw(tier2.url);
    await ok.hello("client");
    const since = ok.mark();
    ok.sendRaw(Buffer.alloc(64 * 1024, 0xc0));
    expect((await ok.waitForError(0, 5000, since)).code).toBe(ErrorCode.BAD_FRAME);
    expect(await statusOf(ok)).toBe("status");
  });

  it("lets a dialer send a 64 KB request in the same turn as its hello (hello leaves in a frame of its own)", async () => {
    const tier2 = await track(startNode({ role: "tier2", id: "t2-eager", logLevel: "silent" }));
    const t = createWsTransport();
    const ch = new Channel(await t.connect(tier2.url), {
      node: "eager",
      role: "client",
      dialer: true,
      maxFrameBytes: 4 * 1024 * 1024,
      maxInFlight: 16,
      requestTimeoutMs: 5000,
      handshakeMs: 5000,
      heartbeatMs: 0,
      now: Date.now,
      log: { warn() {}, debug() {} },
      onMessage: () => {},
    });
    try {
      // An attrs.set with a 64 KB value: the tier-2 reads it after hello and answers it.
      const answer = await within(ch.request("attrs.set", { table: "task-type", id: "echo", attrs: { big: "x".repeat(64 * 1024) } }).then((m) => m.type, (e: unknown) => String(e)), 10_000, "an answer");
      expect(ch.closed).toBe(false);
      expect(answer).not.toMatch(/UNREACHABLE|closed/);
    } finally {
      ch.close();
    }
  });
});

const trafficOf = (n: RunningNode): TrafficCounters => n.stats().traffic as TrafficCounters;

/** A tier-2 whose status answer is about 16 KB (a 16 KB attribute in its task-type table). */
async function bigStatusTier2(id: string, caps: { pauseBufferedBytes: number; closeBufferedBytes: number }): Promise<{ tier2: RunningNode; control: RawClient }> {
  const tier2 = await track(startNode({ role: "tier2", id, logLevel: "silent", heartbeatMs: 60_000, ...caps }));
  const control = await raw(tier2.url, "control");
  await control.hello("client");
  const set = await control.call("attrs.set", { table: "task-type", id: "echo", attrs: { blob: "x".repeat(16 * 1024) } });
  expect(set.type).toBe("ack");
  return { tier2, control };
}

describe("backpressure", () => {
  it("stops reading a peer that does not read its answers, reads it again once it has drained, and answers every request", async () => {
    const { tier2, control } = await bigStatusTier2("t2-pause", { pauseBufferedBytes: 256 * 1024, closeBufferedBytes: 1024 * 1024 * 1024 });
    const r = await NonReader.open(tier2.url);
    try {
      r.flood(2000); // 2000 answers of 16 KB: 32 MB, far more than the kernel's socket buffers hold
      await eventually(() => trafficOf(tier2).readsPaused >= 1, 20_000, "the tier-2 to stop reading the non-reader");
      expect(await statusOf(control)).toBe("status"); // everyone else is still served
      r.resume();
      await r.until(() => r.answers === 2000 || r.closed, 30_000, "all 2000 answers");
      expect(r.answers).toBe(2000);
      expect(trafficOf(tier2).closedNotReading).toBe(0);
    } finally {
      r.close();
    }
  });

  it("closes a peer that leaves more than closeBufferedBytes unread, drops what was queued for it, and keeps serving the others", async () => {
    const { tier2, control } = await bigStatusTier2("t2-close", { pauseBufferedBytes: 64 * 1024, closeBufferedBytes: 1024 * 1024 });
    const r = await NonReader.open(tier2.url);
    try {
      r.flood(3000); // 95 KB of requests asking for 48 MB of answers
      await eventually(() => trafficOf(tier2).closedNotReading === 1, 20_000, "the tier-2 to drop the non-reader");
      await eventually(() => tier2.stats().connections === 1, 5000, "only the control connection to remain");
      expect(await statusOf(control)).toBe("status");
      r.resume();
      await r.until(() => r.closed, 10_000, "the non-reader to see its socket closed");
      expect(r.answers).toBeLessThan(3000);
    } finally {
      r.close();
    }
  });

  it("refuses a pause cap at or above the close cap when the node starts", async () => {
    await expect(startNode({ role: "tier2", logLevel: "silent", pauseBufferedBytes: 1024, closeBufferedBytes: 1024 })).rejects.toThrow(RangeError);
  });
});
