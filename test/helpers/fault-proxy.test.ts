import { once } from "node:events";
import { createConnection, createServer } from "node:net";
import type { Server, Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { queryStatus, startNode } from "../../src/index.js";
import { createFaultProxy, hostPortOf } from "./fault-proxy.js";
import type { FaultProxy } from "./fault-proxy.js";

// Real sockets on loopback. Timings are asserted only as lower bounds (a delay adds at least
// itself); everything else waits for the bytes or the close it expects, bounded by the test timeout.

interface Echo {
  server: Server;
  port: number;
  /** Server-side sockets, to watch what the listener sees. */
  sockets: Socket[];
}

/** An echo server on an ephemeral loopback port. */
async function echoServer(): Promise<Echo> {
  const sockets: Socket[] = [];
  const server = createServer((s) => {
    sockets.push(s);
    s.on("error", () => {});
    s.pipe(s);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const a = server.address();
  if (a === null || typeof a === "string") throw new Error("no address");
  return { server, port: a.port, sockets };
}

/** Collects what a socket reads until it holds `n` bytes. */
function readBytes(s: Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let got = 0;
    const onData = (b: Buffer): void => {
      parts.push(b);
      got += b.length;
      if (got >= n) {
        s.off("data", onData);
        resolve(Buffer.concat(parts));
      }
    };
    s.on("data", onData);
    s.once("close", () => reject(new Error(`closed after ${got} of ${n} bytes`)));
  });
}

async function dial(port: number): Promise<Socket> {
  const s = createConnection({ host: "127.0.0.1", port });
  s.on("error", () => {});
  await once(s, "connect");
  return s;
}

/** The socket's close (events.once would reject on the 'error' a reset brings first). */
const closeOf = (s: Socket): Promise<void> => new Promise((resolve) => s.once("close", () => resolve()));

/** Resolves once the proxy has `n` links open (it accepts before it dials the target). */
async function links(p: FaultProxy, n: number): Promise<void> {
  for (let i = 0; i < 200 && p.connections() !== n; i++) await new Promise((r) => setTimeout(r, 5));
  expect(p.connections()).toBe(n);
}

const started: Array<{ stop(): Promise<void> | void }> = [];
afterEach(async () => {
  for (const s of started.splice(0).reverse()) await s.stop();
});

async function setup(): Promise<{ echo: Echo; proxy: FaultProxy; sock: Socket }> {
  const echo = await echoServer();
  started.push({ stop: () => new Promise<void>((r) => echo.server.close(() => r())) }, { stop: () => echo.sockets.forEach((s) => s.destroy()) });
  const proxy = await createFaultProxy({ target: `ws://127.0.0.1:${echo.port}` });
  started.push(proxy);
  const sock = await dial(proxy.port);
  started.push({ stop: () => void sock.destroy() });
  return { echo, proxy, sock };
}

describe("fault-proxy", () => {
  describe("hostPortOf", () => {
    it("reads ws:// URLs and host:port", () => {
      expect(hostPortOf("ws://127.0.0.1:4000")).toEqual({ host: "127.0.0.1", port: 4000 });
      expect(hostPortOf("127.0.0.1:5")).toEqual({ host: "127.0.0.1", port: 5 });
      expect(() => hostPortOf("nonsense")).toThrow(/host:port/);
    });
  });

  describe("createFaultProxy", () => {
    it("passes bytes both ways unchanged when healthy", async () => {
      const { proxy, sock } = await setup();
      expect(proxy.url).toBe(`ws://127.0.0.1:${proxy.port}`);
      const data = Buffer.from(Array.from({ length: 200_000 }, (_, i) => i % 251));
      const back = readBytes(sock, data.length);
      sock.write(data);
      expect((await back).equals(data)).toBe(true);
      expect(proxy.counts.forwarded).toEqual({ up: data.length, down: data.length });
    });

    it("adds at least the delay and keeps the order of chunks under jitter", async () => {
      const { proxy, sock } = await setup();
      proxy.delay(150, 100, "up");
      const t0 = performance.now();
      const back = readBytes(sock, 50 * 4);
      // Fifty writes, each its own chunk: jitter must not reorder them.
      for (let i = 0; i < 50; i++) {
        const b = Buffer.alloc(4);
        b.writeUInt32BE(i);
        sock.write(b);
        await new Promise((r) => setImmediate(r));
      }
      const got = await back;
      // performance.now() and setTimeout may disagree by a millisecond.
      expect(performance.now() - t0).toBeGreaterThanOrEqual(149);
      expect(Array.from({ length: 50 }, (_, i) => got.readUInt32BE(i * 4))).toEqual(Array.from({ length: 50 }, (_, i) => i));
    });

    it("takes jitter from the injected random source", async () => {
      const echo = await echoServer();
      started.push({ stop: () => new Promise<void>((r) => echo.server.close(() => r())) }, { stop: () => echo.sockets.forEach((s) => s.destroy()) });
      let draws = 0;
      const proxy = await createFaultProxy({ target: `127.0.0.1:${echo.port}`, random: () => (draws++, 0.5) });
      started.push(proxy);
      proxy.delay(10, 10);
      const sock = await dial(proxy.port);
      started.push({ stop: () => void sock.destroy() });
      const back = readBytes(sock, 3);
      sock.write("abc");
      expect((await back).toString()).toBe("abc");
      expect(draws).toBeGreaterThanOrEqual(2);
    });

    it("blackholes one way: the bytes are dropped, the sockets stay open, and heal lets new bytes through", async () => {
      const { echo, proxy, sock } = await setup();
      await links(proxy, 1);
      proxy.blackhole("down");
      sock.write("lost");
      // The listener got the bytes (they went up) and echoed them; the answer was dropped coming down.
      for (let i = 0; i < 200 && proxy.counts.dropped.down < 4; i++) await new Promise((r) => setTimeout(r, 5));
      expect(proxy.counts.dropped.down).toBe(4);
      expect(proxy.counts.forwarded.up).toBe(4);
      expect(sock.destroyed).toBe(false);
      expect(echo.sockets[0]?.destroyed).toBe(false);
      proxy.heal();
      const back = readBytes(sock, 5);
      sock.write("found");
      expect((await back).toString()).toBe("found");
    });

    it("partitions: nothing passes either way, and a close on one side does not reach the other", async () => {
      const { echo, proxy, sock } = await setup();
      await links(proxy, 1);
      proxy.partition();
      sock.write("xyz");
      for (let i = 0; i < 200 && proxy.counts.dropped.up < 3; i++) await new Promise((r) => setTimeout(r, 5));
      expect(proxy.counts.dropped.up).toBe(3);
      expect(proxy.counts.forwarded.up).toBe(0);
      // The listener's side goes away; the dialer is not told, as across a real partition.
      echo.sockets[0]?.destroy();
      await new Promise((r) => setTimeout(r, 50));
      expect(sock.destroyed).toBe(false);
      expect(sock.readableEnded).toBe(false);
    });

    it("cuts every connection, with a FIN or with a reset", async () => {
      const { proxy, sock } = await setup();
      await links(proxy, 1);
      const closed = closeOf(sock);
      proxy.cut();
      await closed;
      expect(proxy.connections()).toBe(0);
      const again = await dial(proxy.port);
      started.push({ stop: () => void again.destroy() });
      await links(proxy, 1);
      const reset = new Promise<string | undefined>((resolve) => again.once("error", (e: NodeJS.ErrnoException) => resolve(e.code)));
      proxy.cut({ reset: true });
      expect(await reset).toBe("ECONNRESET");
    });

    it("refuses new connections while told to, and accepts them again after heal", async () => {
      const { proxy } = await setup();
      proxy.refuse();
      const s = createConnection({ host: "127.0.0.1", port: proxy.port });
      s.on("error", () => {});
      await closeOf(s);
      expect(proxy.counts.refused).toBe(1);
      proxy.heal();
      const ok = await dial(proxy.port);
      started.push({ stop: () => void ok.destroy() });
      const back = readBytes(ok, 2);
      ok.write("ok");
      expect((await back).toString()).toBe("ok");
    });

    it("throttles: bytes take at least size / rate, and all arrive in order", async () => {
      const { proxy, sock } = await setup();
      proxy.throttle(100_000, "down");
      const data = Buffer.from(Array.from({ length: 50_000 }, (_, i) => i % 253));
      const t0 = performance.now();
      const back = readBytes(sock, data.length);
      sock.write(data);
      const got = await back;
      // 50 000 bytes at 100 000 B/s: at least 0.5 s less the first slice, which goes at once.
      expect(performance.now() - t0).toBeGreaterThanOrEqual(440);
      expect(got.equals(data)).toBe(true);
    });

    it("resets the dialer when the target refuses", async () => {
      const echo = await echoServer();
      const port = echo.port;
      await new Promise<void>((r) => echo.server.close(() => r()));
      const proxy = await createFaultProxy({ target: `127.0.0.1:${port}` });
      started.push(proxy);
      const s = createConnection({ host: "127.0.0.1", port: proxy.port });
      s.on("error", () => {});
      await closeOf(s);
      expect(proxy.connections()).toBe(0);
    });

    it("stops cleanly: every connection closed, the port released", async () => {
      const { proxy, sock } = await setup();
      await links(proxy, 1);
      const closed = closeOf(sock);
      await proxy.stop();
      await closed;
      expect(proxy.connections()).toBe(0);
      const s = createConnection({ host: "127.0.0.1", port: proxy.port });
      const code = await new Promise<string | undefined>((resolve) => s.once("error", (e: NodeJS.ErrnoException) => resolve(e.code)));
      expect(code).toBe("ECONNREFUSED");
    });

    it("carries a node's WebSocket traffic, and a partition silences it", async () => {
      const node = await startNode({ role: "tier2", logLevel: "silent" });
      started.push(node);
      const proxy = await createFaultProxy({ target: node.url });
      started.push(proxy);
      await expect(queryStatus(proxy.url, { timeoutMs: 5000 })).resolves.toMatchObject({ role: "tier2", node: node.id });
      proxy.partition();
      await expect(queryStatus(proxy.url, { timeoutMs: 300 })).rejects.toThrow();
      proxy.heal();
      await expect(queryStatus(proxy.url, { timeoutMs: 5000 })).resolves.toMatchObject({ role: "tier2" });
    });
  });
});
