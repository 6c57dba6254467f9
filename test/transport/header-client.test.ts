import fc from "fast-check";
import { pack, unpack } from "msgpackr";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode, PROTOCOL_VERSION, isOpaque, isRejected } from "../../src/protocol/index.js";
import type { ClientRef, Inbound, Message, OpaqueMessage, Rejected, Role } from "../../src/protocol/index.js";
import { Channel } from "../../src/transport/channel.js";
import type { ChannelOptions } from "../../src/transport/channel.js";
import { FrameError, decodeFrame, encodeFrame, toWire } from "../../src/transport/codec.js";
import type { WireEnvelope } from "../../src/transport/codec.js";
import { CloseCode } from "../../src/transport/wire.js";
import { createWsTransport } from "../../src/transport/ws-wire.js";
import { RawClient, within } from "../helpers/raw-client.js";

const task = { id: "t1", key: "k1", app: "echo", deadline: 1_800_000_000_000, require: [], clientAttrs: {}, prefs: {}, payload: { n: 1 } };
const place = (client: ClientRef) => ({ task, client });

/** Decodes one frame of one envelope (opaque when `opaque`). */
function one(frame: Uint8Array, opaque = false): Message | OpaqueMessage | Rejected {
  const out = decodeFrame(frame, opaque ? () => true : undefined);
  expect(out).toHaveLength(1);
  return out[0] as Message | OpaqueMessage | Rejected;
}

describe("transport/codec: the header client", () => {
  describe("encodeFrame / decodeFrame", () => {
    it("carries a 7th header element [id, addr] through a frame, on a read message and on an opaque one", () => {
      const c = { id: "client-1", addr: "127.0.0.1:40000" };
      const frame = encodeFrame([[PROTOCOL_VERSION, "task.place", 3, 0, "vip-1", place({ id: "x", addr: "" }), c]]);
      expect((unpack(frame) as unknown[][])[0]?.[6]).toEqual(["client-1", "127.0.0.1:40000"]);
      const read = one(frame);
      expect(read).toMatchObject({ type: "task.place", id: 3, client: c, body: { client: { id: "x", addr: "" } } });
      const opaque = one(frame, true);
      expect(isRejected(opaque) || !isOpaque(opaque) ? undefined : opaque.client).toEqual(c);
    });

    it("leaves the header client out of a 6-element envelope, so a message without one has no client", () => {
      const m = one(encodeFrame([[PROTOCOL_VERSION, "ping", 1, 0, "n1", {}]]));
      expect(isRejected(m) ? m.error.message : "client" in m).toBe(false);
    });

    it("writes strings of every msgpack size class (fixstr, str8, str16) in UTF-8, as msgpack reads them", () => {
      for (const s of ["", "a", "x".repeat(31), "y".repeat(32), "z".repeat(255), "é".repeat(200), "☃".repeat(256)]) {
        const c = { id: s.length === 0 ? "i" : s, addr: s };
        const frame = encodeFrame([[PROTOCOL_VERSION, "task.place", 9, 0, "n", place(c), c]]);
        expect((unpack(frame) as unknown[][])[0]?.[6]).toEqual([c.id, c.addr]);
        expect(one(frame)).toMatchObject({ client: c });
      }
    });

    it("round-trips any valid header client, beside envelopes without one (property)", () => {
      const ref = fc.record({ id: fc.string({ unit: "binary", minLength: 1, maxLength: 256 }), addr: fc.string({ unit: "binary", maxLength: 256 }) });
      fc.assert(
        fc.property(fc.array(fc.option(ref, { nil: undefined }), { minLength: 1, maxLength: 8 }), (clients) => {
          const batch: WireEnvelope[] = clients.map((c, i) => (c === undefined ? [PROTOCOL_VERSION, "ack", 0, i + 1, "n", {}] : [PROTOCOL_VERSION, "task.place", i + 1, 0, "n", place(c), c]));
          const out = decodeFrame(encodeFrame(batch));
          out.forEach((m, i) => {
            expect(isRejected(m)).toBe(false);
            const c = clients[i];
            if (c === undefined) expect("client" in m).toBe(false);
            else expect((m as Message).client).toEqual(c);
          });
        }),
        { numRuns: 100 },
      );
    });

    it("toWire gives a message's header client back as the 7th element", () => {
      const m = one(encodeFrame([[PROTOCOL_VERSION, "task.place", 2, 0, "n", place({ id: "a", addr: "" }), { id: "c", addr: "h:1" }]])) as Message;
      expect(toWire(m)[6]).toEqual({ id: "c", addr: "h:1" });
    });
  });

  describe("checkHeader (through decodeFrame)", () => {
    const body = pack(place({ id: "c", addr: "" }));
    const frameWith = (seventh: unknown): Uint8Array => pack([[PROTOCOL_VERSION, "task.place", 5, 0, "n", body, seventh]]);

    it.each([
      ["nil", null],
      ["a string", "client-1"],
      ["an object", { id: "c", addr: "a" }],
      ["a 1-array", ["c"]],
      ["a 3-array", ["c", "a", "b"]],
      ["an empty id", ["", "a"]],
      ["an id of 257 chars", ["x".repeat(257), "a"]],
      ["an addr of 257 chars", ["c", "x".repeat(257)]],
      ["a number id", [7, "a"]],
      ["a nested array", [["c"], "a"]],
    ])("refuses a header client that is %s with INVALID, keeping the id to answer it", (_what, seventh) => {
      for (const opaque of [false, true]) {
        const r = one(frameWith(seventh), opaque);
        expect(isRejected(r) ? [r.error.code, r.id] : "accepted").toEqual([ErrorCode.INVALID, 5]);
      }
    });

    it("accepts the longest header client: a 256-char id and addr", () => {
      const r = one(frameWith(["x".repeat(256), "y".repeat(256)]));
      expect(isRejected(r) ? r.error.message : r.client).toEqual({ id: "x".repeat(256), addr: "y".repeat(256) });
    });

    it("never throws on any 7th element but a FrameError, and accepts only a valid [id, addr] (property)", () => {
      fc.assert(
        fc.property(fc.anything(), (seventh) => {
          let out: ReturnType<typeof decodeFrame>;
          try {
            out = decodeFrame(frameWith(seventh));
          } catch (err) {
            expect(err).toBeInstanceOf(FrameError);
            return;
          }
          const r = out[0];
          const valid = Array.isArray(seventh) && seventh.length === 2 && typeof seventh[0] === "string" && seventh[0].length > 0 && seventh[0].length <= 256 && typeof seventh[1] === "string" && seventh[1].length <= 256;
          expect(r !== undefined && !isRejected(r)).toBe(valid);
        }),
        { numRuns: 500 },
      );
    });
  });
});

// ---- the channel stamps the client ----------------------------------------------------------

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

/** A node of `role` that takes every request unread (`opaque`) or read, and records what it admits. */
interface Hop {
  url: string;
  got: Inbound[];
  /** Calls each time a message is admitted. */
  waiters: Set<() => void>;
}

async function node(role: Role, opaque: boolean): Promise<Hop> {
  const t = createWsTransport();
  const got: Inbound[] = [];
  const waiters = new Set<() => void>();
  const opts = (): ChannelOptions => ({
    node: "hop",
    role,
    dialer: false,
    maxFrameBytes: 1024 * 1024,
    maxInFlight: 64,
    requestTimeoutMs: 5000,
    handshakeMs: 5000,
    heartbeatMs: 0,
    now: Date.now,
    log: { warn() {}, debug() {} },
    onMessage: (m) => {
      got.push(m);
      for (const w of [...waiters]) w();
    },
    opaque: () => opaque,
  });
  const channels: Channel[] = [];
  const listener = await t.listen("127.0.0.1:0", (wire) => channels.push(new Channel(wire, opts())));
  cleanups.push(async () => {
    for (const ch of channels) ch.close(CloseCode.shutdown, "done");
    await listener.close();
  });
  return { url: listener.url, got, waiters };
}

async function raw(url: string, id: string, role: Role): Promise<RawClient> {
  const r = await RawClient.open(url, id);
  cleanups.push(() => r.close());
  await r.hello(role);
  return r;
}

/** Waits (event-driven, bounded) until `count` messages have been admitted at `n`. */
async function admitted(n: Hop, count: number): Promise<Inbound[]> {
  const done = new Promise<void>((resolve) => {
    const check = (): void => {
      if (n.got.length < count) return;
      n.waiters.delete(check);
      resolve();
    };
    n.waiters.add(check);
    check();
  });
  await within(done, 5000, `${count} messages admitted`);
  return n.got;
}

describe("transport/channel: the first hop stamps the client in the header", () => {
  it("stamps a client's own requests with its id and address, over what it put in the header and body, and leaves the body unread", async () => {
    const vip = await node("vip", true);
    const c = await raw(vip.url, "client-a", "client");
    const forged = { id: "client-b", addr: "10.0.0.1:1" };
    const types = ["task.place", "task.placeBatch", "lease.request", "lease.release"] as const;
    const bodies = [place(forged), { tasks: [{ task }], client: forged }, { class: { app: "echo", require: [], clientAttrs: {}, prefs: {} }, slots: 1, ttlMs: 1000, client: forged }, { leases: ["l1"], client: forged }];
    types.forEach((type, i) => c.send([[PROTOCOL_VERSION, type, i + 1, 0, "client-a", bodies[i], forged]]));
    const got = await admitted(vip, 4);
    const addr = `127.0.0.1:${c.localPort}`;
    expect(got.map((m) => [m.type, isOpaque(m), m.client])).toEqual(types.map((t) => [t, true, { id: "client-a", addr }]));
    // The body is still the bytes the client sent: the forged body client included, for the consumer to overwrite.
    const first = got[0] as OpaqueMessage;
    expect(unpack(first.raw)).toMatchObject({ client: forged });
  });

  it("makes a read body name the stamped client, so the consuming role reads one place", async () => {
    const tier2 = await node("tier2", false);
    const c = await raw(tier2.url, "client-a", "client");
    c.send([[PROTOCOL_VERSION, "task.place", 1, 0, "client-a", place({ id: "client-b", addr: "x" }), { id: "client-b", addr: "x" }]]);
    c.request("task.place", place({ id: "client-c", addr: "y" }));
    const got = await admitted(tier2, 2);
    const addr = `127.0.0.1:${c.localPort}`;
    for (const m of got) {
      expect(m.client).toEqual({ id: "client-a", addr });
      expect(!isOpaque(m) && m.type === "task.place" ? m.body.client : undefined).toEqual({ id: "client-a", addr });
    }
  });

  it("keeps the header client a forwarder carries, and without one the body's client", async () => {
    const tier2 = await node("tier2", false);
    const v = await raw(tier2.url, "vip-1", "vip");
    v.send([[PROTOCOL_VERSION, "task.place", 1, 0, "vip-1", place({ id: "body", addr: "b" }), { id: "client-a", addr: "1.2.3.4:5" }]]);
    v.request("task.place", place({ id: "client-z", addr: "9.9.9.9:9" }));
    const [withHeader, without] = await admitted(tier2, 2);
    expect(withHeader?.type === "task.place" && !isOpaque(withHeader) ? [withHeader.client, withHeader.body.client] : []).toEqual([
      { id: "client-a", addr: "1.2.3.4:5" },
      { id: "client-a", addr: "1.2.3.4:5" },
    ]);
    expect(without?.type === "task.place" && !isOpaque(without) ? [without.client, without.body.client] : []).toEqual([undefined, { id: "client-z", addr: "9.9.9.9:9" }]);
  });

  it("carries the header client on when a forwarder passes a request on (Channel.forward)", async () => {
    const tier2 = await node("tier2", false);
    const vip = await node("vip", true);
    const c = await raw(vip.url, "client-a", "client");
    c.request("task.place", place({ id: "client-a", addr: "" }));
    const [m] = await admitted(vip, 1);
    // The vip's side: dial the tier-2 as a vip and forward the opaque message as it came.
    const t = createWsTransport();
    const wire = await t.connect(tier2.url);
    let welcomed: () => void = () => {};
    const up = new Promise<void>((r) => (welcomed = r));
    const out = new Channel(wire, { node: "vip-1", role: "vip", dialer: true, maxFrameBytes: 1024 * 1024, maxInFlight: 64, requestTimeoutMs: 5000, handshakeMs: 5000, heartbeatMs: 0, now: Date.now, log: { warn() {}, debug() {} }, onMessage() {}, onHello: () => welcomed() });
    cleanups.push(() => out.close());
    await within(up, 5000, "welcome");
    out.forward(m as Inbound, 5000, () => {});
    const [at] = await admitted(tier2, 1);
    const addr = `127.0.0.1:${c.localPort}`;
    expect(at?.type === "task.place" && !isOpaque(at) ? [at.from, at.client, at.body.client] : []).toEqual(["vip-1", { id: "client-a", addr }, { id: "client-a", addr }]);
  });
});
