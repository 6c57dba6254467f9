import { afterEach, describe, expect, it } from "vitest";
import { AllotError, ErrorCode, isOpaque } from "../../src/protocol/index.js";
import type { Bodies, Message } from "../../src/protocol/index.js";
import { Channel, createCounters } from "../../src/transport/channel.js";
import type { ChannelOptions } from "../../src/transport/channel.js";
import { createMemoryTransport } from "../../src/transport/memory-wire.js";
import { Peer } from "../../src/transport/peer.js";
import { CloseCode } from "../../src/transport/wire.js";
import type { Transport, WireLimits } from "../../src/transport/wire.js";
import { createWsTransport } from "../../src/transport/ws-wire.js";
import { RawClient, eventually, within } from "../helpers/raw-client.js";

type Run = Extract<Message, { type: "task.run" }>;

const silent = { warn() {}, debug() {} };
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
const run = (i: number, payload: unknown = i): Bodies["task.run"] => ({ taskId: `t${i}`, key: `k${i}`, app: "echo", ticket: "tk", payload });
const resultOf = (m: Message): unknown => (m.type === "task.result" ? m.body.result : `unexpected ${m.type}`);
const answer = (m: Run, ch: Channel, result: unknown = m.body.payload): void =>
  ch.reply(m, "task.result", { taskId: m.body.taskId, serverId: "server", result, cached: false });
/** Answers every task.run with its payload. */
const echo = (m: Message, ch: Channel): void => {
  if (m.type === "task.run") answer(m, ch);
};

/** The AllotError `p` rejects with (fails the test if it resolves or rejects with anything else). */
async function failure(p: Promise<unknown>, timeoutMs = 5000): Promise<AllotError> {
  const err = await within(
    p.then(
      (v) => {
        throw new Error(`expected a rejection, got ${JSON.stringify(v)}`);
      },
      (e: unknown) => e,
    ),
    timeoutMs,
    "a rejection",
  );
  expect(err).toBeInstanceOf(AllotError);
  return err as AllotError;
}

/** Channel options as these tests give them: no role here forwards, so every message is read. */
type Over = Partial<Omit<ChannelOptions, "onMessage">> & { onMessage?: (m: Message, ch: Channel) => void };

function options(over: Over): ChannelOptions {
  const { onMessage, ...rest } = over;
  return {
    node: "server",
    role: "tier2",
    dialer: false,
    maxFrameBytes: 4 * 1024 * 1024,
    maxInFlight: 4096,
    requestTimeoutMs: 5000,
    handshakeMs: 5000,
    heartbeatMs: 0,
    now: Date.now,
    log: silent,
    ...rest,
    onMessage: (m, ch) => {
      if (!isOpaque(m)) onMessage?.(m, ch);
    },
  };
}

interface Kind {
  name: string;
  make(limits?: WireLimits): Transport;
  /** A hand-driven connection to `url`. */
  raw(t: Transport, url: string): Promise<RawClient>;
  /** What a frame over the limit gets: the channel's BAD_FRAME notice, or ws closing the socket first. */
  oversizeIn: "notice" | "close";
}

const kinds: Kind[] = [
  {
    name: "in-memory",
    make: (limits) => createMemoryTransport(limits ? { limits } : {}),
    raw: async (t, url) => RawClient.overWire(await t.connect(url)),
    oversizeIn: "notice",
  },
  {
    name: "WebSocket",
    make: (limits) => createWsTransport(limits),
    raw: (_t, url) => RawClient.open(url),
    oversizeIn: "close",
  },
];

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

interface Server {
  url: string;
  port: number;
  /** Accepted channels, in order of arrival. */
  channels: Channel[];
  /** Closes every accepted channel and the listener. */
  stop(): Promise<void>;
}

async function serve(t: Transport, over: Over = {}, hostPort = "127.0.0.1:0"): Promise<Server> {
  const channels: Channel[] = [];
  const listener = await t.listen(hostPort, (wire) => channels.push(new Channel(wire, options({ ...over, dialer: false }))));
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    for (const ch of channels) ch.close(CloseCode.shutdown, "server stopping");
    await listener.close();
  };
  cleanups.push(stop);
  return { url: listener.url, port: Number(/:(\d+)$/.exec(listener.url)?.[1]), channels, stop };
}

/** Dials `url` and resolves once the peer has answered hello with welcome. */
async function dial(t: Transport, url: string, over: Over = {}): Promise<Channel> {
  const wire = await t.connect(url);
  let welcomed: () => void = () => {};
  const ok = new Promise<void>((r) => (welcomed = r));
  const ch = new Channel(wire, options({ node: "client", role: "client", ...over, dialer: true, onHello: () => welcomed() }));
  cleanups.push(() => ch.close());
  await within(ok, 5000, "welcome");
  return ch;
}

/** A listening server and one client connected to it, both past the handshake. */
async function pair(t: Transport, serverOver: Over = {}, clientOver: Over = {}) {
  let greet: (ch: Channel) => void = () => {};
  const greeted = new Promise<Channel>((r) => (greet = r));
  const srv = await serve(t, { ...serverOver, onHello: (ch) => greet(ch) });
  const client = await dial(t, srv.url, clientOver);
  const server = await within(greeted, 5000, "the server to see hello");
  return { srv, client, server };
}


describe.each(kinds)("Channel over $name", (kind) => {
  describe("write", () => {
    it("answers a reply whose body cannot be encoded INTERNAL, and still sends the other replies of its batch", async () => {
      // A BigInt past int64 fails inside msgpackr's encode, in the turn's flush, where a throw would end the process.
      const { client } = await pair(kind.make(), {
        onMessage: (m, ch) => {
          if (m.type === "task.run") answer(m, ch, m.body.payload === "bad" ? { n: 2n ** 70n } : m.body.payload);
        },
      });
      const sent = ["a", "bad", "c"].map((p, i) => client.request("task.run", run(i, p)));
      // Settled together, so that the rejection is handled as soon as it comes.
      const [a, bad, c] = await Promise.allSettled(sent);
      const value = (r: PromiseSettledResult<Message> | undefined): unknown => (r?.status === "fulfilled" ? resultOf(r.value) : r?.reason);
      expect(value(a)).toBe("a");
      expect(value(c)).toBe("c");
      expect(bad?.status).toBe("rejected");
      expect(value(bad)).toMatchObject({ code: ErrorCode.INTERNAL, message: expect.stringMatching(/task\.result could not be encoded/) });
      // The connection is still good.
      expect(resultOf(await client.request("task.run", run(9, "after")))).toBe("after");
    });
  });

  describe("request", () => {
    it("matches 500 concurrent requests to their answers when the answers come in reverse order", async () => {
      const N = 500;
      const held: Run[] = [];
      const { client } = await pair(kind.make(), {
        onMessage: (m, ch) => {
          if (m.type !== "task.run") return;
          held.push(m);
          if (held.length === N) for (const h of [...held].reverse()) answer(h, ch);
        },
      });
      const order: number[] = [];
      const all = range(N).map((i) =>
        client.request("task.run", run(i)).then((m) => {
          order.push(i);
          return resultOf(m);
        }),
      );
      expect(await within(Promise.all(all), 10_000, `${N} answers`)).toEqual(range(N));
      expect(order).toEqual(range(N).reverse());
      expect(client.inFlight).toBe(0);
    });

    it("rejects with TIMEOUT when no answer comes before the deadline, and ignores the late answer (counted, logged once)", async () => {
      const held: Array<[Run, Channel]> = [];
      const counters = createCounters();
      const warned: string[] = [];
      const { client } = await pair(
        kind.make(),
        {
          onMessage: (m, ch) => {
            if (m.type !== "task.run") return;
            if (m.body.taskId === "t1") held.push([m, ch]);
            else answer(m, ch);
          },
        },
        { counters, log: { warn: (_o: object, msg: string) => warned.push(msg), debug() {} } },
      );
      const err = await failure(client.request("task.run", run(1), 50));
      expect(err.code).toBe(ErrorCode.TIMEOUT);
      expect(err.retryable).toBe(true);
      expect(client.inFlight).toBe(0);
      // The answer arriving after the deadline settles nothing and breaks nothing.
      expect(held).toHaveLength(1);
      for (const [m, ch] of held) answer(m, ch, "late");
      expect(resultOf(await within(client.request("task.run", run(2)), 5000, "a later answer"))).toBe(2);
      expect(client.closed).toBe(false);
      expect(counters.lateAnswers).toBe(1);
      expect(warned.filter((w) => w.startsWith("answer to a request no longer waited for"))).toHaveLength(1);
    });

    it("rejects a request on a closed channel with UNREACHABLE at once", async () => {
      const { client } = await pair(kind.make(), { onMessage: echo });
      client.close();
      const err = await failure(client.request("task.run", run(1)));
      expect(err.code).toBe(ErrorCode.UNREACHABLE);
    });
  });

  describe("batching", () => {
    it("sends the envelopes of one turn as one frame, and the answers of one turn as one frame", async () => {
      const { client, server } = await pair(kind.make(), { onMessage: echo });
      const before = { cOut: client.framesOut, cIn: client.framesIn, sOut: server.framesOut, sIn: server.framesIn };
      const all = range(20).map((i) => client.request("task.run", run(i)));
      expect((await within(Promise.all(all), 5000, "20 answers")).map(resultOf)).toEqual(range(20));
      expect(client.framesOut - before.cOut).toBe(1);
      expect(server.framesIn - before.sIn).toBe(1);
      expect(server.framesOut - before.sOut).toBe(1);
      expect(client.framesIn - before.cIn).toBe(1);
    });
  });

  describe("handshake", () => {
    it("closes an accepted connection that says no hello within handshakeMs", async () => {
      const t = kind.make();
      let reason: AllotError | undefined;
      const srv = await serve(t, { handshakeMs: 100, onClose: (_ch, r) => (reason = r) });
      const raw = await kind.raw(t, srv.url);
      cleanups.push(() => raw.close());
      const closed = await raw.waitClosed(5000);
      expect(closed.code).toBe(CloseCode.handshakeTimeout);
      expect(srv.channels).toHaveLength(1);
      expect(srv.channels[0]?.closed).toBe(true);
      expect(reason?.code).toBe(ErrorCode.UNREACHABLE);
    });

    it("answers a request sent before hello with UNAUTHORIZED and serves it after hello", async () => {
      const t = kind.make();
      const seen: Message[] = [];
      const srv = await serve(t, {
        onMessage: (m, ch) => {
          seen.push(m);
          echo(m, ch);
        },
      });
      const raw = await kind.raw(t, srv.url);
      cleanups.push(() => raw.close());
      const early = raw.request("task.run", run(1));
      const err = await raw.waitForError(early, 5000);
      expect(err.code).toBe(ErrorCode.UNAUTHORIZED);
      expect(seen).toHaveLength(0);
      await raw.hello("client");
      const answered = await raw.call("task.run", run(2));
      expect(resultOf(answered)).toBe(2);
      expect(seen).toHaveLength(1);
    });
  });

  describe("maxInFlight", () => {
    it("answers a request beyond maxInFlight with OVERLOADED while the earlier ones still complete", async () => {
      const held: Array<[Run, Channel]> = [];
      const { client } = await pair(kind.make(), {
        maxInFlight: 2,
        onMessage: (m, ch) => {
          if (m.type === "task.run") held.push([m, ch]);
        },
      });
      const first = client.request("task.run", run(1));
      const second = client.request("task.run", run(2));
      const third = client.request("task.run", run(3));
      const err = await failure(third);
      expect(err.code).toBe(ErrorCode.OVERLOADED);
      expect(err.retryable).toBe(true);
      // The three left in one frame, so the first two were taken before the third was refused.
      expect(held.map(([m]) => m.body.taskId)).toEqual(["t1", "t2"]);
      for (const [m, ch] of held.splice(0)) answer(m, ch);
      expect((await within(Promise.all([first, second]), 5000, "the first two answers")).map(resultOf)).toEqual([1, 2]);
      // Answering freed the slots.
      const fourth = client.request("task.run", run(4));
      await eventually(() => held.length === 1, 5000, "the fourth request to be taken");
      for (const [m, ch] of held.splice(0)) answer(m, ch);
      expect(resultOf(await within(fourth, 5000, "the fourth answer"))).toBe(4);
    });
  });

  describe("heartbeat", () => {
    it("closes the channel of a peer that stops answering pings and rejects its pending requests with UNREACHABLE", async () => {
      const t = kind.make();
      let pending: Promise<AllotError> | undefined;
      let reason: AllotError | undefined;
      const srv = await serve(t, {
        heartbeatMs: 50,
        onHello: (ch) => {
          pending = failure(ch.request("task.expect", { taskId: "t", key: "k", ticket: "x", client: { id: "c", addr: "" }, expiresAt: 0 }, 30_000), 30_000);
        },
        onClose: (_ch, r) => (reason = r),
      });
      // Completes the hello by hand, then answers nothing, pings included.
      const raw = await kind.raw(t, srv.url);
      cleanups.push(() => raw.close());
      await raw.hello("client");
      const closed = await raw.waitClosed(5000);
      expect(closed.code).toBe(CloseCode.heartbeatTimeout);
      expect(raw.received.some((m) => m.type === "ping")).toBe(true);
      expect(raw.received.some((m) => m.type === "task.expect")).toBe(true);
      expect(pending).toBeDefined();
      const err = await (pending as Promise<AllotError>);
      expect(err.code).toBe(ErrorCode.UNREACHABLE);
      expect(reason?.code).toBe(ErrorCode.UNREACHABLE);
      expect(srv.channels[0]?.closed).toBe(true);
    });

    it("counts only its own work in flight, not the heartbeat's pings (status and metrics read inFlight)", async () => {
      const t = kind.make();
      let ch: Channel | undefined;
      const srv = await serve(t, {
        heartbeatMs: 50,
        onHello: (c) => {
          ch = c;
          c.request("task.expect", { taskId: "t", key: "k", ticket: "x", client: { id: "c", addr: "" }, expiresAt: 0 }, 30_000).catch(() => {});
        },
      });
      // Completes the hello by hand, then answers nothing: a ping waits beside the expect.
      const raw = await kind.raw(t, srv.url);
      cleanups.push(() => raw.close());
      await raw.hello("client");
      await eventually(() => raw.received.some((m) => m.type === "ping"), 5000, "a ping");
      expect(ch?.closed).toBe(false);
      expect(ch?.inFlight).toBe(1);
      await raw.waitClosed(5000);
      expect(ch?.inFlight).toBe(0);
    });

    it("keeps the channel open while the peer answers its pings", async () => {
      // Generous: a pong later than twice this would close the channel on a loaded machine.
      const { client, server } = await pair(kind.make(), { heartbeatMs: 100, onMessage: echo }, { heartbeatMs: 100 });
      const s0 = server.framesIn;
      const c0 = client.framesIn;
      await eventually(() => server.framesIn >= s0 + 3 && client.framesIn >= c0 + 3, 5000, "several heartbeat rounds");
      expect(client.closed).toBe(false);
      expect(server.closed).toBe(false);
      expect(resultOf(await within(client.request("task.run", run(1)), 5000, "an answer"))).toBe(1);
    });
  });

  describe("close", () => {
    it("rejects every pending request with UNREACHABLE when this side closes", async () => {
      const held: Run[] = [];
      const { client } = await pair(kind.make(), {
        onMessage: (m) => {
          if (m.type === "task.run") held.push(m);
        },
      });
      const all = range(100).map((i) => failure(client.request("task.run", run(i))));
      await eventually(() => held.length === 100, 5000, "the server to hold 100 requests");
      client.close();
      const errs = await within(Promise.all(all), 5000, "100 rejections");
      expect(errs.every((e) => e.code === ErrorCode.UNREACHABLE)).toBe(true);
      expect(client.inFlight).toBe(0);
    });

    it("rejects every pending request with UNREACHABLE when the other side closes", async () => {
      const held: Run[] = [];
      let reason: AllotError | undefined;
      const { client, server } = await pair(
        kind.make(),
        {
          onMessage: (m) => {
            if (m.type === "task.run") held.push(m);
          },
        },
        { onClose: (_ch, r) => (reason = r) },
      );
      const all = range(100).map((i) => failure(client.request("task.run", run(i))));
      await eventually(() => held.length === 100, 5000, "the server to hold 100 requests");
      server.close(CloseCode.shutdown, "going away");
      const errs = await within(Promise.all(all), 5000, "100 rejections");
      expect(errs.every((e) => e.code === ErrorCode.UNREACHABLE)).toBe(true);
      expect(client.closed).toBe(true);
      expect(reason?.code).toBe(ErrorCode.UNREACHABLE);
    });
  });

  describe("frame limit", () => {
    const limit = 64 * 1024;
    const limited = { maxFrameBytes: limit };

    it("rejects an outgoing envelope larger than maxFrameBytes with BAD_FRAME while the others of its turn get through", async () => {
      const { client } = await pair(kind.make(limited), { ...limited, onMessage: echo }, limited);
      const before = client.framesOut;
      const small1 = client.request("task.run", run(1));
      const big = client.request("task.run", run(2, new Uint8Array(limit + 1000)));
      const small2 = client.request("task.run", run(3));
      const err = await failure(big);
      expect(err.code).toBe(ErrorCode.BAD_FRAME);
      expect(err.retryable).toBe(false);
      expect((await within(Promise.all([small1, small2]), 5000, "the small answers")).map(resultOf)).toEqual([1, 3]);
      expect(client.framesOut - before).toBe(2);
      expect(resultOf(await within(client.request("task.run", run(4)), 5000, "a later answer"))).toBe(4);
      expect(client.closed).toBe(false);
    });

    it("splits a turn whose envelopes together exceed maxFrameBytes into several frames", async () => {
      const { client } = await pair(kind.make(limited), { ...limited, onMessage: echo }, limited);
      const before = client.framesOut;
      const chunk = (i: number): Uint8Array => new Uint8Array(30_000).fill(i);
      const all = range(3).map((i) => client.request("task.run", run(i, chunk(i))));
      const results = await within(Promise.all(all), 5000, "three answers");
      // Bytes come back as Buffers: compare contents.
      expect(results.map((m) => Buffer.from(resultOf(m) as Uint8Array))).toEqual(range(3).map((i) => Buffer.from(chunk(i))));
      expect(client.framesOut - before).toBeGreaterThan(1);
    });

    it("refuses an incoming frame larger than maxFrameBytes without decoding it", async () => {
      const t = kind.make(limited);
      const seen: Message[] = [];
      const srv = await serve(t, { ...limited, onMessage: (m, ch) => (seen.push(m), echo(m, ch)) });
      const raw = await kind.raw(t, srv.url);
      cleanups.push(() => raw.close());
      await raw.hello("client");
      const since = raw.mark();
      raw.send([[1, "task.run", 50, 0, "raw", run(1, new Uint8Array(limit + 1000))]]);
      if (kind.oversizeIn === "close") {
        expect((await raw.waitClosed(5000)).code).toBe(CloseCode.tooBig);
      } else {
        expect((await raw.waitForError(0, 5000, since)).code).toBe(ErrorCode.BAD_FRAME);
        expect(resultOf(await raw.call("task.run", run(2)))).toBe(2);
      }
      expect(seen.map((m) => m.type === "task.run" && m.body.taskId)).not.toContain("t1");
    });

    it("answers a request whose reply would exceed maxFrameBytes with BAD_FRAME", async () => {
      const { client } = await pair(kind.make(limited), {
        ...limited,
        onMessage: (m, ch) => {
          if (m.type === "task.run") answer(m, ch, m.body.payload === "big" ? new Uint8Array(limit + 1000) : m.body.payload);
        },
      }, limited);
      const err = await failure(client.request("task.run", run(1, "big")));
      expect(err.code).toBe(ErrorCode.BAD_FRAME);
      expect(resultOf(await within(client.request("task.run", run(2)), 5000, "a later answer"))).toBe(2);
    });
  });
});

describe.each(kinds)("Peer over $name", (kind) => {
  it("fails fast while the server is down, reconnects with backoff when it is back on the same address, and calls onOpen again", async () => {
    const t = kind.make();
    const srv = await serve(t, { onMessage: echo });
    const opened: Channel[] = [];
    let lost: () => void = () => {};
    const down = new Promise<void>((r) => (lost = r));
    const peer = new Peer(
      srv.url,
      t,
      options({ node: "client", role: "client", onClose: () => lost() }),
      { backoffMinMs: 20, backoffMaxMs: 100, random: () => 0.5, onOpen: (ch) => opened.push(ch) },
    );
    cleanups.push(() => peer.close());
    expect(resultOf(await within(peer.request("task.run", run(1)), 5000, "a first answer"))).toBe(1);
    expect(opened).toHaveLength(1);

    await srv.stop();
    await within(down, 5000, "the peer to see its connection drop");
    expect(peer.state).toBe("down");
    expect(peer.current).toBeUndefined();
    // Fails now with UNREACHABLE (a caller can try another member), not after the 10 s deadline with TIMEOUT.
    const err = await failure(peer.request("task.run", run(2), 10_000));
    expect(err.code).toBe(ErrorCode.UNREACHABLE);
    expect(err.retryable).toBe(true);

    const back = await serve(t, { onMessage: echo }, `127.0.0.1:${srv.port}`);
    expect(back.url).toBe(srv.url);
    await eventually(() => opened.length === 2, 5000, "the peer to reconnect");
    expect(opened[1]).not.toBe(opened[0]);
    expect(resultOf(await within(peer.request("task.run", run(3)), 5000, "an answer after reconnecting"))).toBe(3);
    expect(peer.current).toBe(opened[1]);
  });

  it("rejects requests waiting for a connection with UNREACHABLE when the peer is closed", async () => {
    const t = kind.make();
    const srv = await serve(t, { onMessage: echo });
    const peer = new Peer(srv.url, t, options({ node: "client", role: "client" }), { backoffMinMs: 20, backoffMaxMs: 100, random: () => 0.5 });
    cleanups.push(() => peer.close());
    const waiting = failure(peer.request("task.run", run(1), 10_000));
    peer.close();
    expect((await waiting).code).toBe(ErrorCode.UNREACHABLE);
    expect(peer.state).toBe("closed");
  });
});
