import { describe, expect, it } from "vitest";
import { ErrorCode, startNode } from "../../src/index.js";
import type { RunningNode } from "../../src/index.js";
import { drainServer } from "../../src/node/query.js";
import { leaseClassOf } from "../../src/actors/runtime/client-leases.js";
import type { LeaseGrant, Message, PlacedOne, RefusedOne, ServerStatusRow, Task, TaskClass } from "../../src/protocol/index.js";
import { rawHandshake } from "../helpers/credentials.js";
import { authedProbe } from "../helpers/authed-probe.js";
import { RawClient, eventually } from "../helpers/raw-client.js";

// Hostile probes of leases and batches over real WebSockets: a tier-2 and two app servers, every
// node with a credential; clients are raw connections proven as "alice" or "mallory", straight to
// the tier-2 (their first hop, which stamps the verified client) and to the app servers.

const { track, raws, keys, authed } = authedProbe();

interface Cluster {
  tier2: RunningNode;
  apps: Map<string, RunningNode>;
}

const rows = (n: RunningNode): ServerStatusRow[] => n.stats().servers as ServerStatusRow[];

async function cluster(capacity: number, tier2: { maxLeaseSlotsPerClient?: number } = {}): Promise<Cluster> {
  const t2 = await track(startNode({ ...authed("tier2", "probe-t2"), role: "tier2", policy: "round-robin", ...tier2 }));
  const apps = new Map<string, RunningNode>();
  for (const id of ["probe-a", "probe-b"]) {
    apps.set(id, await track(startNode({ ...authed("app", id), role: "app", apps: ["echo"], capacity, power: 1, attrs: { region: "eu" }, join: [t2.url] })));
  }
  await eventually(() => rows(t2).filter((r) => r.status === "alive").length === 2, 10_000, "both app servers to register");
  return { tier2: t2, apps };
}

/** A raw connection proven as `id` with a credential for `role`. */
async function rawAs(url: string, id: string, role: "client" | "app" = "client"): Promise<RawClient> {
  const r = await RawClient.open(url, id);
  raws.push(r);
  const { answer } = await rawHandshake(r, role, keys.issue([role], id), keys.pub);
  if (answer.type !== "ack") throw new Error(`handshake as ${id} answered ${answer.type}`);
  return r;
}

const eu: TaskClass = leaseClassOf({ app: "echo", require: [{ key: "region", op: "=", value: "eu" }] });

function granted(m: Message): LeaseGrant[] {
  if (m.type !== "lease.granted") throw new Error(`expected lease.granted, got ${m.type}: ${JSON.stringify(m.body)}`);
  return m.body.leases;
}

function errorOf(m: Message): { code: string; retryable: boolean; message: string } {
  if (m.type !== "error") throw new Error(`expected an error, got ${m.type}: ${JSON.stringify(m.body)}`);
  return m.body;
}

let seq = 0;
/** Runs one task on `server` with `ticket`: the result, or the error code it was refused with. */
async function run(server: RawClient, ticket: string): Promise<unknown> {
  const n = ++seq;
  const m = await server.call("task.run", { taskId: `p${n}`, key: `pk${n}`, app: "echo", ticket, payload: n, deadline: Date.now() + 10_000 }, 10_000);
  if (m.type === "task.result") return m.body.result;
  return m.type === "error" ? m.body.code : m.type;
}

const task = (i: number): Task => ({ id: `b${i}`, key: `bk${i}`, app: "echo", deadline: Date.now() + 60_000, require: [], clientAttrs: {}, prefs: {}, payload: i });

describe("probe: one client against another's leases", () => {
  it("lets no client release, renew or run under another client's lease, even naming that client in the body", async () => {
    const c = await cluster(1);
    const alice = await rawAs(c.tier2.url, "alice");
    const mallory = await rawAs(c.tier2.url, "mallory");
    const [lease] = granted(await alice.call("lease.request", { class: eu, slots: 1, ttlMs: 30_000, client: { id: "alice", addr: "" } }));
    if (lease === undefined) throw new Error("no lease");
    // Release by id, the body naming alice: acknowledged (it tells nothing), but the lease stands.
    expect((await mallory.call("lease.release", { leases: [lease.leaseId], client: { id: "alice", addr: "" } })).type).toBe("ack");
    expect(c.tier2.stats()).toMatchObject({ leasesActive: 1, leasesReleased: 0 });
    // A "renewal" of alice's lease is a fresh lease for mallory, on the other server.
    const [own] = granted(await mallory.call("lease.request", { class: eu, slots: 1, ttlMs: 30_000, client: { id: "alice", addr: "" }, renew: [lease.leaseId] }));
    expect(own?.leaseId).not.toBe(lease.leaseId);
    expect(own?.serverId).not.toBe(lease.serverId);
    expect(c.tier2.stats()).toMatchObject({ leasesActive: 2, leasesRenewed: 0 });
    // Alice's ticket on her server: refused to mallory, not a retry (it will never be hers), and alice still runs under it.
    const url = c.apps.get(lease.serverId)?.url as string;
    const mAtServer = await rawAs(url, "mallory");
    const refused = await mAtServer.call("task.run", { taskId: "steal", key: "steal", app: "echo", ticket: lease.ticket, payload: 0, deadline: Date.now() + 10_000 });
    expect(errorOf(refused)).toMatchObject({ code: ErrorCode.UNAUTHORIZED, retryable: false });
    const aAtServer = await rawAs(url, "alice");
    expect(await run(aAtServer, lease.ticket)).toBe(seq);
  });

  it("refuses lease.revoke, lease.grant and task.expectBatch from a client or another app server UNAUTHORIZED, and the lease holds", async () => {
    const c = await cluster(2);
    const alice = await rawAs(c.tier2.url, "alice");
    const [lease] = granted(await alice.call("lease.request", { class: eu, slots: 1, ttlMs: 30_000, client: { id: "alice", addr: "" } }));
    if (lease === undefined) throw new Error("no lease");
    const server = c.apps.get(lease.serverId) as RunningNode;
    const expect1 = { taskId: "x", key: "x", ticket: "t1~forged", client: { id: "mallory", addr: "" }, expiresAt: Date.now() + 10_000 };
    for (const [who, role] of [["mallory", "client"], ["probe-rogue", "app"]] as const) {
      const r = await rawAs(server.url, who, role);
      for (const [type, body] of [
        ["lease.revoke", { leaseId: lease.leaseId }],
        ["lease.grant", { leaseId: "l9-rogue", client: { id: who, addr: "" }, slots: 2, ticket: lease.ticket, expiresAt: Date.now() + 10_000 }],
        ["task.expectBatch", { expects: [expect1, { ...expect1, taskId: "y" }] }],
      ] as const) {
        expect(errorOf(await r.call(type, body)), `${type} from ${role}`).toMatchObject({ code: ErrorCode.UNAUTHORIZED });
      }
    }
    expect(server.stats()).toMatchObject({ leases: 1, load: 1 });
    expect(await run(await rawAs(server.url, "alice"), lease.ticket)).toBe(seq);
  });
});

describe("probe: what one client may cost", () => {
  it("bounds the lease slots one client holds across many classes, and answers every request of a flood in one frame", async () => {
    const c = await cluster(8, { maxLeaseSlotsPerClient: 3 });
    const alice = await rawAs(c.tier2.url, "alice");
    // 40 requests, each its own class (a preference apart), sent in one frame.
    const n = 40;
    const since = alice.mark();
    const ids: number[] = [];
    for (let i = 0; i < n; i++) ids.push(alice.request("lease.request", { class: { ...eu, prefs: { probe: `c${i}` } }, slots: 1, ttlMs: 30_000, client: { id: "alice", addr: "" } }));
    await eventually(() => ids.every((id) => alice.received.slice(since).some((m) => m.re === id)), 10_000, "every lease request to be answered");
    const answers = ids.map((id) => alice.received.slice(since).find((m) => m.re === id) as Message);
    const ok = answers.filter((m) => m.type === "lease.granted");
    expect(ok).toHaveLength(3);
    for (const m of answers.filter((x) => x.type !== "lease.granted")) expect(errorOf(m)).toMatchObject({ code: ErrorCode.OVERLOADED, retryable: false });
    expect(c.tier2.stats()).toMatchObject({ leaseSlotsHeld: 3 });
    // The cap is the client's own: another client still gets slots.
    const bob = await rawAs(c.tier2.url, "bob");
    expect(granted(await bob.call("lease.request", { class: eu, slots: 2, ttlMs: 30_000, client: { id: "bob", addr: "" } })).reduce((s, l) => s + l.slots, 0)).toBe(2);
  });
});

describe("probe: capacity with leases, placements and batches together", () => {
  it("never places past a server's capacity: leased slots, then a batch, then single placements", async () => {
    const c = await cluster(2);
    const alice = await rawAs(c.tier2.url, "alice");
    const leases = granted(await alice.call("lease.request", { class: eu, slots: 3, ttlMs: 30_000, client: { id: "alice", addr: "" } }));
    expect(leases.reduce((s, l) => s + l.slots, 0)).toBe(3);
    const m = await alice.call("task.placeBatch", { tasks: [1, 2, 3, 4].map((i) => ({ task: task(i) })), client: { id: "alice", addr: "" } }, 10_000);
    if (m.type !== "task.placedBatch") throw new Error(`expected task.placedBatch, got ${m.type}`);
    const results: Array<PlacedOne | RefusedOne> = m.body.results;
    expect(results.filter((r) => !("error" in r))).toHaveLength(1);
    for (const r of results.filter((x): x is RefusedOne => "error" in x)) expect(r.error).toMatchObject({ code: ErrorCode.NO_SERVER, retryable: true });
    const one = await alice.call("task.place", { task: task(9), client: { id: "alice", addr: "" } });
    expect(errorOf(one).code).toBe(ErrorCode.NO_SERVER);
    // The servers agree: three leased slots and one expected task, none past its capacity.
    await eventually(() => [...c.apps.values()].reduce((s, a) => s + (a.stats().load as number), 0) === 4, 5000, "the servers to hold 4 slots");
    for (const a of c.apps.values()) expect(a.stats().load as number).toBeLessThanOrEqual(2);
    await eventually(() => rows(c.tier2).every((r) => r.load + r.reserved <= 2), 5000, "the table to settle");
  });

  it("grants no lease on a draining server: the slots come from the servers still taking work", async () => {
    const c = await cluster(1);
    await drainServer(c.tier2.url, "probe-a", { credentials: keys.issue(["admin"], "ops"), clusterPub: [keys.pub] });
    await eventually(() => rows(c.tier2).find((r) => r.id === "probe-a")?.status !== "alive", 5000, "probe-a to stop taking work");
    const alice = await rawAs(c.tier2.url, "alice");
    const leases = granted(await alice.call("lease.request", { class: eu, slots: 2, ttlMs: 30_000, client: { id: "alice", addr: "" } }));
    expect(leases.map((l) => [l.serverId, l.slots])).toEqual([["probe-b", 1]]);
    expect(c.apps.get("probe-a")?.stats()).toMatchObject({ leases: 0 });
  });
});

describe("lease requests found wrong by probing", () => {
  it("lists a lease once, and renews it once, when a renewal names it twice", async () => {
    const c = await cluster(2);
    const alice = await rawAs(c.tier2.url, "alice");
    const [lease] = granted(await alice.call("lease.request", { class: eu, slots: 1, ttlMs: 30_000, client: { id: "alice", addr: "" } }));
    if (lease === undefined) throw new Error("no lease");
    const again = granted(await alice.call("lease.request", { class: eu, slots: 4, ttlMs: 30_000, client: { id: "alice", addr: "" }, renew: [lease.leaseId, lease.leaseId, lease.leaseId, lease.leaseId] }));
    expect(again.filter((l) => l.leaseId === lease.leaseId)).toHaveLength(1);
    // The slots asked for and not renewed are leased afresh: 4 in all, over distinct leases.
    expect(new Set(again.map((l) => l.leaseId)).size).toBe(again.length);
    expect(c.tier2.stats().leasesRenewed).toBe(1);
  });

  it("keeps the ticket a client holds good when a request that renews it is refused past the client's cap", async () => {
    const c = await cluster(2, { maxLeaseSlotsPerClient: 1 });
    const alice = await rawAs(c.tier2.url, "alice");
    const [lease] = granted(await alice.call("lease.request", { class: eu, slots: 1, ttlMs: 30_000, client: { id: "alice", addr: "" } }));
    if (lease === undefined) throw new Error("no lease");
    let held = lease.ticket;
    for (let i = 0; i < 2; i++) {
      const m = await alice.call("lease.request", { class: eu, slots: 2, ttlMs: 30_000, client: { id: "alice", addr: "" }, renew: [lease.leaseId] });
      // Whatever the answer, the client holds what it was told: a grant of this lease, or the ticket it had.
      if (m.type === "lease.granted") held = m.body.leases.find((l) => l.leaseId === lease.leaseId)?.ticket ?? held;
      else expect(errorOf(m).code).toBe(ErrorCode.OVERLOADED);
    }
    // Both renewals the tier-2 sent have been answered by the server.
    await eventually(() => (c.tier2.stats().leasesRenewed as number) >= 2, 5000, "the renewals to reach the server");
    const server = await rawAs(c.apps.get(lease.serverId)?.url as string, "alice");
    expect(await run(server, held)).toBe(seq);
  });
});
