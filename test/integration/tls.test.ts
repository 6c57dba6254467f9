import { readFileSync } from "node:fs";
import { connect as tlsConnect } from "node:tls";
import type { ConnectionOptions } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode, createWsTransport, queryStatus, startNode } from "../../src/index.js";
import type { CommonConfig, RunningNode, TlsConfig } from "../../src/index.js";
import { waitFor } from "../../src/node/cluster.js";
import { DEFAULT_LIMITS } from "../../src/transport/index.js";
import { makeTestPki } from "../helpers/certs.js";
import type { TestPki } from "../helpers/certs.js";
import { trackNodes } from "../helpers/nodes.js";

let pki: TestPki;
beforeAll(() => {
  pki = makeTestPki();
});
afterAll(() => pki.remove());

const track = trackNodes();
const quiet: Omit<CommonConfig, "id"> = { logLevel: "silent" };
const mtls = (): TlsConfig => ({ cert: pki.cert, key: pki.key, ca: pki.ca });

/** A tier-2 and an app server joined to it, both with `tls`; waits until the tier-2 knows the server. */
async function cluster(tls: TlsConfig): Promise<{ tier2: RunningNode; app: RunningNode }> {
  const tier2 = await track(startNode({ ...quiet, role: "tier2", id: "t2", tls }));
  const app = await track(startNode({ ...quiet, role: "app", id: "app-1", join: [tier2.url], apps: ["echo"], capacity: 4, power: 1, attrs: {}, tls }));
  await waitFor(() => {
    const servers = tier2.stats().servers;
    return Array.isArray(servers) && servers.some((s: { status?: unknown }) => s.status === "alive");
  }, 10_000, "the app server to register over wss");
  return { tier2, app };
}

const portOf = (url: string): number => Number(new URL(url).port);

/** How a bare TLS connection to `url` ends: the error code the TLS layer reports, or "open" once it could write and read. */
function tlsOutcome(url: string, options: ConnectionOptions): Promise<string> {
  return new Promise((resolve) => {
    const s = tlsConnect({ host: "127.0.0.1", port: portOf(url), ...options });
    s.once("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    // Under TLS 1.3 a refused client certificate arrives as an alert after the client's side of
    // the handshake, so the outcome is the first answer to a request, not secureConnect.
    s.once("secureConnect", () => s.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    s.once("data", () => {
      s.destroy();
      resolve("open");
    });
    s.once("close", () => resolve("closed"));
  });
}

describe("TLS", () => {
  describe("a wss:// cluster", () => {
    it("serves wss:// and runs a client's tasks over it, every link verified against the CA", async () => {
      const { tier2, app } = await cluster(mtls());
      expect(tier2.url).toMatch(/^wss:\/\/127\.0\.0\.1:\d+$/);
      expect(app.url).toMatch(/^wss:\/\/127\.0\.0\.1:\d+$/);
      const client = await track(startNode({ ...quiet, role: "client", entries: [tier2.url], tls: mtls() }));
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => client.submit({ app: "echo", payload: { i } })));
      expect(results.map((r) => r.result)).toEqual(Array.from({ length: 20 }, (_, i) => ({ i })));
      expect(new Set(results.map((r) => r.serverId))).toEqual(new Set(["app-1"]));
    });

    it("gives a plain ws:// dialer nothing: the same port does not speak WebSocket in the clear", async () => {
      const { tier2 } = await cluster(mtls());
      const plain = tier2.url.replace(/^wss:/, "ws:");
      await expect(createWsTransport().connect(plain)).rejects.toThrow();
      await expect(queryStatus(plain, { timeoutMs: 2000 })).rejects.toMatchObject({ code: ErrorCode.UNREACHABLE });
    });

    it("never dials ws:// in the clear once configured for TLS", async () => {
      const plain = await track(startNode({ ...quiet, role: "tier2", id: "plain" }));
      expect(plain.url).toMatch(/^ws:\/\//);
      await expect(createWsTransport(DEFAULT_LIMITS, { ca: readFileSync(pki.ca, "utf8") }).connect(plain.url)).rejects.toThrow(/in the clear/);
    });
  });

  describe("mutual TLS (a listener given a CA)", () => {
    it("refuses, at the TLS layer, a dialer without a client certificate", async () => {
      const { tier2 } = await cluster(mtls());
      const code = await tlsOutcome(tier2.url, { ca: readFileSync(pki.ca) });
      expect(code).toMatch(/CERTIFICATE_REQUIRED/);
      // The dialer is told why, in one line.
      await expect(queryStatus(tier2.url, { timeoutMs: 2000, tls: { ca: pki.ca } })).rejects.toMatchObject({ code: ErrorCode.UNREACHABLE, message: expect.stringMatching(/: TLS: tlsv13 alert certificate required$/) });
    });

    it("refuses a dialer whose certificate another CA signed", async () => {
      const { tier2 } = await cluster(mtls());
      const code = await tlsOutcome(tier2.url, { ca: readFileSync(pki.ca), cert: readFileSync(pki.otherCert), key: readFileSync(pki.otherKey) });
      // The listener drops the connection once the handshake fails verification: no HTTP answer, no WebSocket.
      expect(code).toMatch(/^(closed|ECONNRESET)$/);
      await expect(queryStatus(tier2.url, { timeoutMs: 2000, tls: { ca: pki.ca, cert: pki.otherCert, key: pki.otherKey } })).rejects.toMatchObject({ code: ErrorCode.UNREACHABLE });
      // Both refusals are counted where status shows them.
      const refused = tier2.stats().refusedConnections as { tlsHandshakeFailed: number };
      expect(refused.tlsHandshakeFailed).toBeGreaterThanOrEqual(2);
    });

    it("serves a dialer with a certificate the CA signed", async () => {
      const { tier2 } = await cluster(mtls());
      expect(await tlsOutcome(tier2.url, { ca: readFileSync(pki.ca), cert: readFileSync(pki.cert), key: readFileSync(pki.key) })).toBe("open");
      const s = await queryStatus(tier2.url, { timeoutMs: 5000, tls: mtls() });
      expect(s).toMatchObject({ role: "tier2", node: "t2" });
    });

    it("takes PEM text as well as file paths", async () => {
      const pem = (f: string): string => readFileSync(f, "utf8");
      const { tier2 } = await cluster({ cert: pem(pki.cert), key: pem(pki.key), ca: pem(pki.ca) });
      expect((await queryStatus(tier2.url, { timeoutMs: 5000, tls: mtls() })).role).toBe("tier2");
    });
  });

  describe("server-only TLS (no CA on the listener)", () => {
    it("serves a client that verifies it against the CA, refuses to be trusted by one that trusts another CA or the system store", async () => {
      const tier2 = await track(startNode({ ...quiet, role: "tier2", id: "t2", tls: { cert: pki.cert, key: pki.key } }));
      expect((await queryStatus(tier2.url, { timeoutMs: 5000, tls: { ca: pki.ca } })).role).toBe("tier2");
      await expect(queryStatus(tier2.url, { timeoutMs: 2000, tls: { ca: pki.otherCa } })).rejects.toMatchObject({ code: ErrorCode.UNREACHABLE, message: expect.stringContaining("certificate") });
      await expect(createWsTransport().connect(tier2.url)).rejects.toThrow(/certificate/);
    });
  });

  describe("configuration", () => {
    it("refuses tls beside a transport of one's own, and a ws:// advertise URL", async () => {
      await expect(startNode({ ...quiet, role: "tier2", tls: mtls(), transport: createWsTransport() })).rejects.toThrow(/not both/);
      await expect(startNode({ ...quiet, role: "tier2", tls: mtls(), advertise: "ws://10.0.0.1:7000" })).rejects.toThrow(/wss/);
    });

    it("refuses a ws:// URL to dial when configured for TLS, naming the field", async () => {
      await expect(startNode({ ...quiet, role: "tier2", tls: mtls(), peers: ["wss://127.0.0.1:1", "ws://127.0.0.1:2"] })).rejects.toThrow(/^peers: "ws:\/\/127\.0\.0\.1:2" is not a wss:\/\/ URL/);
      await expect(startNode({ ...quiet, role: "client", tls: { ca: pki.ca }, entries: ["ws://127.0.0.1:1"] })).rejects.toThrow(/^entries: /);
      await expect(queryStatus("ws://127.0.0.1:1", { tls: { ca: pki.ca } })).rejects.toThrow(/never dials in the clear/);
    });

    it("refuses a bad file with a TlsConfigError naming the field, before anything listens", async () => {
      await expect(startNode({ ...quiet, role: "tier2", tls: { cert: pki.cert, key: pki.otherKey } })).rejects.toMatchObject({ name: "TlsConfigError", field: "key" });
      await expect(queryStatus("wss://127.0.0.1:1", { tls: { ca: `${pki.dir}/absent.pem` } })).rejects.toMatchObject({ name: "TlsConfigError", field: "ca" });
    });
  });
});

