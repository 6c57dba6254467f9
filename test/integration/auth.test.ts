import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode, createWsTransport, credentialFingerprint, queryStatus, setAttrs, startNode } from "../../src/index.js";
import type { CommonConfig, RunningNode } from "../../src/index.js";
import { PROTOCOL_VERSION } from "../../src/transport/codec.js";
import { RawClient, eventually } from "../helpers/raw-client.js";
import { trackNodes } from "../helpers/nodes.js";
import { rawHandshake, testCluster } from "../helpers/credentials.js";

const track = trackNodes();
const raws: RawClient[] = [];
afterEach(async () => {
  for (const r of raws.splice(0)) await r.close();
});
const open = async (url: string, node: string): Promise<RawClient> => {
  const r = await RawClient.open(url, node);
  raws.push(r);
  return r;
};

const common = (): Omit<CommonConfig, "id"> => ({ logLevel: "silent", transport: createWsTransport() });
const cluster = testCluster();

function servers(n: RunningNode): Array<{ id: string; url: string; status: string; power: number }> {
  const s = n.stats().servers;
  return Array.isArray(s) ? (s as Array<{ id: string; url: string; status: string; power: number }>) : [];
}

async function authedTier2(id = "tier2-a"): Promise<RunningNode> {
  return track(startNode({ ...common(), ...cluster.auth(cluster.issue(["tier2"], id)), role: "tier2" }));
}

const report = (id: string, version: [number, number]) => ({ server: { id, url: "ws://127.0.0.1:9", apps: ["echo"], capacity: 4, power: 1000, load: 0, attrs: {}, version } });

describe("authentication", () => {
  describe("the handshake", () => {
    it("runs a task end to end when every node proves itself with a credential", async () => {
      const tier2 = await authedTier2();
      await track(startNode({ ...common(), ...cluster.auth(cluster.issue(["app"], "app1")), role: "app", apps: ["echo"], capacity: 4, power: 1, join: [tier2.url] }));
      const client = await track(startNode({ ...common(), ...cluster.auth(cluster.issue(["client"], { idPrefix: "client-" })), role: "client", entries: [tier2.url] }));
      expect(client.id).toMatch(/^client-[0-9a-f]{6}$/);
      await eventually(() => servers(tier2).some((s) => s.id === "app1" && s.status === "alive"), 10_000, "app1 to register");
      await expect(client.submit({ app: "echo", payload: { n: 1 } })).resolves.toMatchObject({ result: { n: 1 }, serverId: "app1" });
    });

    it("keeps a connection whose first requests, queued during the handshake, fill a frame past the limit before hello", async () => {
      // 300 placements queued before the connection is up left in one frame behind the proof:
      // 20 KB before the acceptor had read the proof, so it closed the connection every time.
      const tier2 = await authedTier2();
      await track(startNode({ ...common(), ...cluster.auth(cluster.issue(["app"], "app1")), role: "app", apps: ["echo"], capacity: 1000, power: 1, join: [tier2.url] }));
      await eventually(() => servers(tier2).some((s) => s.id === "app1" && s.status === "alive"), 10_000, "app1 to register");
      const client = await track(startNode({ ...common(), ...cluster.auth(cluster.issue(["client"], "client-burst")), role: "client", entries: [tier2.url], timeoutMs: 20_000 }));
      const results = await Promise.all(Array.from({ length: 300 }, (_, i) => client.submit({ app: "echo", payload: { i, pad: "x".repeat(40) } })));
      expect(results.map((r) => (r.result as { i: number }).i)).toEqual(Array.from({ length: 300 }, (_, i) => i));
      expect(results.every((r) => r.attempts === 1)).toBe(true);
    });

    it("refuses a peer without a credential UNAUTHORIZED and closes it: a fake app server gets no task", async () => {
      const tier2 = await authedTier2();
      const fake = await open(tier2.url, "app1");
      const answer = await fake.call("hello", { node: "app1", role: "app" });
      expect(answer).toMatchObject({ type: "error", body: { code: ErrorCode.UNAUTHORIZED } });
      await fake.waitClosed(5000);
      expect(servers(tier2)).toEqual([]);
    });

    it("refuses a credential another cluster key signed, an expired one, and one for another id or role", async () => {
      const tier2 = await authedTier2();
      const foreign = testCluster();
      const cases = [
        { node: "app1", role: "app" as const, c: foreign.issue(["app"], "app1"), why: /not signed by a trusted cluster key/ },
        { node: "app1", role: "app" as const, c: cluster.issue(["app"], "app1", Date.now() - 3_600_000), why: /expired/ },
        { node: "app1", role: "app" as const, c: cluster.issue(["app"], "app2"), why: /covers app2, not app1/ },
        { node: "tier2-x", role: "tier2" as const, c: cluster.issue(["app"], "tier2-x"), why: /grants app, not tier2/ },
      ];
      for (const k of cases) {
        const raw = await open(tier2.url, k.node);
        const { answer } = await rawHandshake(raw, k.role, k.c, cluster.pub);
        expect(answer.type).toBe("error");
        expect(answer.body).toMatchObject({ code: ErrorCode.UNAUTHORIZED, message: expect.stringMatching(k.why) });
        await raw.waitClosed(5000);
      }
      expect(tier2.stats().traffic).toMatchObject({ unauthorized: cases.length });
    });

    it("refuses a captured handshake replayed on a new connection", async () => {
      const tier2 = await authedTier2();
      const c = cluster.issue(["app"], "app1");
      const first = await open(tier2.url, "app1");
      const { answer, transcript, proof } = await rawHandshake(first, "app", c, cluster.pub);
      expect(answer.type).toBe("ack");
      await first.close();
      // The attacker has the whole first conversation, but not the node's key.
      const replay = await open(tier2.url, "app1");
      const welcome = await replay.call("hello", { node: "app1", role: "app", nonce: transcript.dialerNonce });
      expect(welcome.type).toBe("welcome");
      const again = await replay.call("auth", { proof });
      expect(again).toMatchObject({ type: "error", body: { code: ErrorCode.UNAUTHORIZED, message: expect.stringMatching(/signature/) } });
      await replay.waitClosed(5000);
    });

    it("refuses a second hello on an open connection, with credentials or without", async () => {
      const tier2 = await authedTier2();
      const raw = await open(tier2.url, "app1");
      expect((await rawHandshake(raw, "app", cluster.issue(["app"], "app1"), cluster.pub)).answer.type).toBe("ack");
      expect(await raw.call("hello", { node: "app2", role: "tier2" })).toMatchObject({ type: "error", body: { code: ErrorCode.UNAUTHORIZED } });
      await raw.waitClosed(5000);

      const plain = await track(startNode({ ...common(), role: "tier2" }));
      const raw2 = await open(plain.url, "app1");
      await raw2.hello("app");
      expect(await raw2.call("hello", { node: "tier2-z", role: "tier2" })).toMatchObject({ type: "error", body: { code: ErrorCode.UNAUTHORIZED } });
      await raw2.waitClosed(5000);
    });

    it("refuses anything but the handshake before it completes", async () => {
      const tier2 = await authedTier2();
      const raw = await open(tier2.url, "app1");
      const err = await raw.call("status.get", {});
      expect(err).toMatchObject({ type: "error", body: { code: ErrorCode.UNAUTHORIZED } });
    });
  });

  describe("revocation", () => {
    it("refuses a revoked id or key fingerprint at the next handshake, re-reading the list when it changes", async () => {
      const dir = mkdtempSync(join(tmpdir(), "allot-revoked-"));
      try {
        const list = join(dir, "revoked");
        writeFileSync(list, "# nobody yet\n");
        const tier2 = await track(startNode({ ...common(), ...cluster.auth(cluster.issue(["tier2"], "tier2-r")), revoked: list, role: "tier2" }));
        const a = cluster.issue(["app"], "app1");
        const b = cluster.issue(["app"], { idPrefix: "pool-" });
        const handshake = async (node: string, c: typeof a) => (await rawHandshake(await open(tier2.url, node), "app", c, cluster.pub)).answer;
        expect((await handshake("app1", a)).type).toBe("ack");
        expect((await handshake("pool-1", b)).type).toBe("ack");
        writeFileSync(list, `app1\n${credentialFingerprint(b)}  # lost laptop\n`);
        expect(await handshake("app1", a)).toMatchObject({ type: "error", body: { code: ErrorCode.UNAUTHORIZED, message: expect.stringMatching(/revoked/) } });
        expect(await handshake("pool-2", b)).toMatchObject({ type: "error", body: { code: ErrorCode.UNAUTHORIZED, message: expect.stringMatching(/revoked/) } });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe("what a principal may send", () => {
    it("refuses a report for an id the credential does not cover: app1's entry cannot be hijacked", async () => {
      const tier2 = await authedTier2();
      await track(startNode({ ...common(), ...cluster.auth(cluster.issue(["app"], "app1")), role: "app", apps: ["echo"], capacity: 4, power: 1, join: [tier2.url] }));
      await eventually(() => servers(tier2).some((s) => s.id === "app1" && s.status === "alive"), 10_000, "app1 to register");
      const evil = await open(tier2.url, "evil");
      expect((await rawHandshake(evil, "app", cluster.issue(["app"], "evil"), cluster.pub)).answer.type).toBe("ack");
      const refused = await evil.call("server.report", report("app1", [9e15, 0]));
      expect(refused).toMatchObject({ type: "error", body: { code: ErrorCode.UNAUTHORIZED, message: expect.stringMatching(/may not report for app1/) } });
      expect(servers(tier2).find((s) => s.id === "app1")).toMatchObject({ url: expect.not.stringContaining(":9"), power: 1, status: "alive" });
    });

    it("refuses a stranger saying hello as tier2, and never applies its peer.sync", async () => {
      const tier2 = await authedTier2();
      // A real credential, but for an app: it may not speak as a tier-2.
      const app = await open(tier2.url, "tier2-b");
      const { answer } = await rawHandshake(app, "tier2", cluster.issue(["app"], "tier2-b"), cluster.pub);
      expect(answer).toMatchObject({ type: "error", body: { code: ErrorCode.UNAUTHORIZED } });
      // Proven as an app, it may not sync a table either.
      const app2 = await open(tier2.url, "app9");
      expect((await rawHandshake(app2, "app", cluster.issue(["app"], "app9"), cluster.pub)).answer.type).toBe("ack");
      const sync = await app2.call("peer.sync", { servers: [report("fake-1", [1, 0]).server] });
      expect(sync).toMatchObject({ type: "error", body: { code: ErrorCode.UNAUTHORIZED } });
      expect(servers(tier2).map((s) => s.id)).not.toContain("fake-1");
    });

    it("refuses attrs.set from a client that is not an admin, and without a credential; an admin's goes through", async () => {
      const tier2 = await authedTier2();
      await expect(setAttrs(tier2.url, "task-type", "echo", { minPower: 1e6 })).rejects.toMatchObject({ code: ErrorCode.UNAUTHORIZED });
      const user = cluster.issue(["client"], "user1");
      await expect(setAttrs(tier2.url, "task-type", "echo", { minPower: 1e6 }, { credentials: user, clusterPub: [cluster.pub] })).rejects.toMatchObject({ code: ErrorCode.UNAUTHORIZED });
      const admin = cluster.issue(["admin"], "ops");
      await setAttrs(tier2.url, "task-type", "echo", { region: "eu" }, { credentials: admin, clusterPub: [cluster.pub] });
      const st = await queryStatus(tier2.url, { credentials: admin, clusterPub: [cluster.pub] });
      expect(st).toMatchObject({ role: "tier2", tables: { "task-type": [expect.objectContaining({ id: "echo", attrs: { region: "eu" } })] } });
    });

    it("names the verified client in a placement, whatever client id the request declares", async () => {
      const tier2 = await authedTier2();
      const app = await open(tier2.url, "app1");
      expect((await rawHandshake(app, "app", cluster.issue(["app"], "app1"), cluster.pub)).answer.type).toBe("ack");
      expect((await app.call("server.report", report("app1", [1, 0]))).type).toBe("ack");
      const client = await open(tier2.url, "c1");
      expect((await rawHandshake(client, "client", cluster.issue(["client"], "c1"), cluster.pub)).answer.type).toBe("ack");
      const task = { id: "t1", key: "k1", app: "echo", deadline: Date.now() + 10_000, require: [], clientAttrs: {}, prefs: {}, payload: null };
      client.request("task.place", { task, client: { id: "victim", addr: "1.2.3.4:5" } });
      const expect_ = await app.waitForType("task.expect", () => true, 5000, "the ticket announcement");
      expect(expect_.body.client.id).toBe("c1");
      expect(expect_.body.client.addr).not.toBe("1.2.3.4:5");
    });
  });

  describe("logging refusals", () => {
    it("logs refused messages with the peer's address at most 5 a second, counting the rest", async () => {
      const lines: Array<{ msg: string; time: number; addr?: string; unlogged?: number }> = [];
      const sink = new Writable({
        write(chunk: Buffer, _enc, done) {
          for (const l of chunk.toString().split("\n")) if (l !== "") lines.push(JSON.parse(l) as (typeof lines)[number]);
          done();
        },
      });
      const tier2 = await track(startNode({ ...common(), ...cluster.auth(cluster.issue(["tier2"], "tier2-l")), logger: pino({ level: "warn" }, sink), role: "tier2" }));
      const raw = await open(tier2.url, "app1");
      expect((await rawHandshake(raw, "app", cluster.issue(["app"], "app1"), cluster.pub)).answer.type).toBe("ack");
      // 40 refused requests in one frame, then one more request to know they were all handled.
      raw.send(Array.from({ length: 40 }, (_, i) => [PROTOCOL_VERSION, "attrs.set", 100 + i, 0, "app1", { table: "client", id: "x", attrs: {} }] as [number, string, number, number, string, unknown]));
      const last = await raw.call("attrs.set", { table: "client", id: "x", attrs: {} });
      expect(last.type).toBe("error");
      expect(tier2.stats().traffic).toMatchObject({ unauthorized: 41 });
      const refused = lines.filter((l) => l.msg === "message refused");
      const perSecond = new Map<number, number>();
      for (const l of refused) perSecond.set(Math.floor(l.time / 1000), (perSecond.get(Math.floor(l.time / 1000)) ?? 0) + 1);
      for (const n of perSecond.values()) expect(n).toBeLessThanOrEqual(5);
      expect(refused.length).toBeLessThan(41);
      expect(refused[0]?.addr).toMatch(/^127\.0\.0\.1:\d+$/);
    });
  });

  describe("without credentials", () => {
    it("believes every peer on loopback, and refuses to listen beyond it unless insecure", async () => {
      await expect(startNode({ ...common(), role: "tier2", listen: "0.0.0.0:0" })).rejects.toThrow(/beyond loopback, needs credentials/);
      const n = await track(startNode({ ...common(), role: "tier2", listen: "0.0.0.0:0", insecure: true }));
      expect(n.url).toMatch(/^ws:/);
    });
  });
});
