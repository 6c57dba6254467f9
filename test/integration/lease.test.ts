import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode, createWsTransport, startNode } from "../../src/index.js";
import type { Handler, RunningNode } from "../../src/index.js";
import { drainServer, setAttrs } from "../../src/node/query.js";
import { leaseClassOf } from "../../src/actors/runtime/client-leases.js";
import type { Bodies, LeaseGrant, Message, ServerStatusRow, TaskClass } from "../../src/protocol/index.js";
import { AllotError } from "../../src/protocol/index.js";
import { DEFAULT_PEER, Peer, createAuthenticator } from "../../src/transport/index.js";
import { testCluster } from "../helpers/credentials.js";
import type { TestCluster } from "../helpers/credentials.js";
import { trackNodes } from "../helpers/nodes.js";
import { eventually, within } from "../helpers/raw-client.js";

// Real nodes, credentials on: vip → tier-1 → vip → tier-2 → two app servers; the client is a raw
// Peer that asks for leases through its vip and runs tasks on the servers under them.

const track = trackNodes();
const quiet = { logLevel: "silent" as const };
const peers: Peer[] = [];
afterEach(() => {
  for (const p of peers.splice(0)) p.close();
});

/** A handler whose runs wait until the test lets them all go. */
function gated(): { handler: Handler; release(): void; started(): number } {
  let open: () => void = () => {};
  let gate = new Promise<void>((r) => (open = r));
  let started = 0;
  return {
    handler: async (payload) => {
      started++;
      await gate;
      return payload;
    },
    release: () => {
      open();
      gate = new Promise<void>((r) => (open = r));
    },
    started: () => started,
  };
}

interface Cluster {
  keys: TestCluster;
  tier2: RunningNode;
  apps: RunningNode[];
  entry: Peer;
  admin: { credentials: ReturnType<TestCluster["issue"]>; clusterPub: TestCluster["pub"][] };
  dial(url: string): Peer;
}

async function cluster(capacity: number, handler: Handler, tier2: { maxLeaseMs?: number; maxLeaseSlotsPerClient?: number } = {}): Promise<Cluster> {
  const keys = testCluster();
  const common = { ...quiet, transport: createWsTransport() };
  const node = (role: Parameters<TestCluster["issue"]>[0][number], id: string) => ({ ...common, id, ...keys.auth(keys.issue([role], id)) });
  const t2 = await track(startNode({ ...node("tier2", "lease-t2"), role: "tier2", ...tier2 }));
  const apps: RunningNode[] = [];
  for (const id of ["lease-a", "lease-b"]) {
    apps.push(await track(startNode({ ...node("app", id), role: "app", apps: ["waits"], capacity, power: 1, attrs: { region: "eu" }, join: [t2.url], handlers: { waits: handler }, workers: 0 })));
  }
  await eventually(() => (t2.stats().servers as ServerStatusRow[]).filter((r) => r.status === "alive").length === 2, 10_000, "both app servers to register");
  const vip2 = await track(startNode({ ...node("vip", "lease-vip2"), role: "vip", to: [t2.url] }));
  const tier1 = await track(startNode({ ...node("tier1", "lease-t1"), role: "tier1", to: [vip2.url] }));
  const vip1 = await track(startNode({ ...node("vip", "lease-vip1"), role: "vip", to: [tier1.url] }));
  const credential = keys.issue(["client"], "alice");
  const dial = (url: string): Peer => {
    const p = new Peer(
      url,
      common.transport,
      { node: "alice", role: "client", maxFrameBytes: 1 << 20, maxInFlight: 100, requestTimeoutMs: 5000, handshakeMs: 5000, heartbeatMs: 0, now: Date.now, log: { warn() {}, debug() {} }, onMessage: () => {}, auth: createAuthenticator({ credential, trusted: [keys.pub], now: Date.now }) },
      { ...DEFAULT_PEER, random: Math.random },
    );
    peers.push(p);
    return p;
  };
  return { keys, tier2: t2, apps, entry: dial(vip1.url), admin: { credentials: keys.issue(["admin"], "ops"), clusterPub: [keys.pub] }, dial };
}

const eu: TaskClass = leaseClassOf({ app: "waits", require: [{ key: "region", op: "=", value: "eu" }] });

async function ask(entry: Peer, body: Omit<Bodies["lease.request"], "client">): Promise<LeaseGrant[]> {
  const m = await entry.request("lease.request", { ...body, client: { id: "alice", addr: "" } });
  if (m.type !== "lease.granted") throw new Error(`lease.request answered ${m.type}`);
  return m.body.leases;
}

/** One connection per server URL and cluster: a connection per run would soon pass the server's cap per address (1,024). */
const toServer = new WeakMap<Cluster, Map<string, Peer>>();

/** Runs one task under a lease: its result, or the code it was refused with. */
function run(c: Cluster, l: LeaseGrant, n: number): Promise<unknown> {
  let byUrl = toServer.get(c);
  if (byUrl === undefined) toServer.set(c, (byUrl = new Map()));
  let p = byUrl.get(l.serverUrl);
  if (p === undefined) byUrl.set(l.serverUrl, (p = c.dial(l.serverUrl)));
  return p.request("task.run", { taskId: `t${n}`, key: `k${n}`, app: "waits", ticket: l.ticket, payload: n, deadline: Date.now() + 10_000 }).then(
    (m: Message) => (m.type === "task.result" ? m.body.result : m.type),
    (e: unknown) => (e instanceof AllotError ? e.code : String(e)),
  );
}

const row = (c: Cluster, id: string): ServerStatusRow | undefined => (c.tier2.stats().servers as ServerStatusRow[]).find((r) => r.id === id);
let seq = 0;

describe("leases", () => {
  it("grants k slots spread over servers, reserved in the tier-2's table, and runs at most k at once under them (OVERLOADED past k)", async () => {
    const g = gated();
    const c = await cluster(2, g.handler);
    const leases = await ask(c.entry, { class: eu, slots: 3, ttlMs: 30_000 });
    expect(leases.reduce((s, l) => s + l.slots, 0)).toBe(3);
    expect(new Set(leases.map((l) => l.serverId)).size).toBe(2);
    expect(c.tier2.stats()).toMatchObject({ leasesActive: 2, leaseSlotsHeld: 3 });
    // The servers count the lease's slots in their load, and the tier-2's table has them.
    await eventually(() => (row(c, "lease-a")?.load ?? 0) + (row(c, "lease-b")?.load ?? 0) === 3, 5000, "the table to show the leased slots");
    const two = leases.find((l) => l.slots === 2) as LeaseGrant;
    const one = leases.find((l) => l.slots === 1) as LeaseGrant;
    const server = c.apps.find((a) => a.id === two.serverId) as RunningNode;
    const running = [run(c, two, ++seq), run(c, two, ++seq), run(c, one, ++seq)];
    await eventually(() => g.started() === 3, 5000, "three runs to start");
    // Past its k, a lease refuses: retryable, so the client places the task on its own.
    expect(await run(c, two, ++seq)).toBe(ErrorCode.OVERLOADED);
    expect(await run(c, one, ++seq)).toBe(ErrorCode.OVERLOADED);
    // Runs under a lease take its slots: the server's load is the lease's 2, not 4.
    expect(server.stats()).toMatchObject({ running: 2, load: 2, leases: 1, leaseSlotsUnused: 0 });
    g.release();
    expect(await within(Promise.all(running), 5000, "the runs")).toEqual([seq - 4, seq - 3, seq - 2]);
    // More tasks than k, one after another: the slots come back to the lease.
    for (let i = 0; i < 4; i++) {
      const r = run(c, two, ++seq);
      await eventually(() => g.started() === 4 + i, 5000, "the run to start");
      g.release();
      expect(await r).toBe(seq);
    }
    expect(server.stats()).toMatchObject({ running: 0, load: 2, leaseSlotsUnused: 2 });
  });

  it("answers LEASE_EXPIRED once a lease's time is up, while a renewed one runs on past its first expiry", async () => {
    const c = await cluster(1, (p) => p, { maxLeaseMs: 2_500 });
    const asked = Date.now();
    const leases = await ask(c.entry, { class: eu, slots: 2, ttlMs: 60_000 });
    expect(leases).toHaveLength(2);
    // Clamped to the tier-2's longest lease (2.5 s, not the 60 s asked; the time left on the wire gains a hop's latency, never 58 s).
    for (const l of leases) expect(l.expiresAt - asked).toBeLessThan(30_000);
    const [kept, left] = leases as [LeaseGrant, LeaseGrant];
    expect(await run(c, kept, ++seq)).toBe(seq);
    const renewed = await ask(c.entry, { class: eu, slots: 1, ttlMs: 60_000, renew: [kept.leaseId] });
    expect(renewed).toHaveLength(1);
    expect(renewed[0]).toMatchObject({ leaseId: kept.leaseId, serverId: kept.serverId, slots: kept.slots });
    expect(renewed[0]?.ticket).not.toBe(kept.ticket);
    // The lease not renewed runs until its time is up, then is refused; the one renewed each
    // round meanwhile stays good past its first expiry.
    let current = renewed[0] as LeaseGrant;
    let last: unknown;
    // Bounded in time (well past the expiry and its allowance) and in count.
    const until = left.expiresAt + 20_000;
    for (let i = 0; i < 1_000_000 && Date.now() < until && last !== ErrorCode.LEASE_EXPIRED; i++) {
      last = await run(c, left, ++seq);
      const again = await ask(c.entry, { class: eu, slots: 1, ttlMs: 60_000, renew: [kept.leaseId] });
      expect(again[0]?.leaseId).toBe(kept.leaseId);
      current = again[0] as LeaseGrant;
    }
    expect(last).toBe(ErrorCode.LEASE_EXPIRED);
    expect(Date.now()).toBeGreaterThan(kept.expiresAt);
    expect(await run(c, current, ++seq)).toBe(seq);
    await eventually(() => (c.tier2.stats().leasesExpired as number) >= 1, 5000, "the tier-2 to count the expiry");
  });

  it("revokes a lease when its server no longer fits the class or drains: runs under it are answered LEASE_EXPIRED", async () => {
    const c = await cluster(1, (p) => p);
    const leases = await ask(c.entry, { class: eu, slots: 2, ttlMs: 30_000 });
    const a = leases.find((l) => l.serverId === "lease-a") as LeaseGrant;
    const b = leases.find((l) => l.serverId === "lease-b") as LeaseGrant;
    expect(await run(c, a, ++seq)).toBe(seq);
    // lease-a leaves the class (region=eu): the tier-2 revokes its lease there and frees its slot.
    await setAttrs(c.apps[0]?.url as string, "server", "lease-a", { region: "us" }, c.admin);
    await eventually(() => (c.tier2.stats().leasesRevoked as number) === 1, 5000, "the tier-2 to revoke the lease");
    await eventually(() => c.apps[0]?.stats().leases === 0, 5000, "lease-a to let the lease go");
    expect(await run(c, a, ++seq)).toBe(ErrorCode.LEASE_EXPIRED);
    expect(c.apps[0]?.stats().load).toBe(0);
    // lease-b drains: its lease goes with it.
    expect(await run(c, b, ++seq)).toBe(seq);
    await drainServer(c.tier2.url, "lease-b", c.admin);
    expect(await run(c, b, ++seq)).toBe(ErrorCode.LEASE_EXPIRED);
    await eventually(() => c.tier2.stats().leasesActive === 0, 5000, "the tier-2 to drop both leases");
  });

  it("refuses a class no server matches NO_SERVER with the reason, and past the client's cap OVERLOADED naming it; a release gives slots back", async () => {
    const c = await cluster(2, (p) => p, { maxLeaseSlotsPerClient: 3 });
    const mars = leaseClassOf({ app: "waits", require: [{ key: "region", op: "=", value: "mars" }] });
    await expect(ask(c.entry, { class: mars, slots: 1, ttlMs: 10_000 })).rejects.toMatchObject({ code: ErrorCode.NO_SERVER, message: expect.stringContaining("region=mars") });
    await ask(c.entry, { class: eu, slots: 2, ttlMs: 10_000 });
    await expect(ask(c.entry, { class: eu, slots: 2, ttlMs: 10_000 })).rejects.toMatchObject({ code: ErrorCode.OVERLOADED, retryable: false, message: expect.stringContaining("cap of 3") });
    expect(c.tier2.stats().leaseSlotsHeld).toBe(2);
    // A release gives the slots back: the same request now fits.
    const held = await ask(c.entry, { class: eu, slots: 1, ttlMs: 10_000 });
    const ack = await c.entry.request("lease.release", { leases: held.map((l) => l.leaseId), client: { id: "alice", addr: "" } });
    expect(ack.type).toBe("ack");
    expect(c.tier2.stats()).toMatchObject({ leaseSlotsHeld: 2, leasesReleased: held.length });
    await expect(ask(c.entry, { class: eu, slots: 1, ttlMs: 10_000 })).resolves.toHaveLength(1);
  });
});
