import { describe, expect, it } from "vitest";
import { ErrorCode, startNode } from "../../src/index.js";
import type { AllotError, RunningApp, RunningClient, RunningNode } from "../../src/index.js";
import { eventually } from "../helpers/raw-client.js";
import { trackNodes } from "../helpers/nodes.js";

const track = trackNodes();
const common = { logLevel: "silent" as const };

interface LeaseStats {
  granted: number;
  slots: number;
  runs: number;
  fallbacks: number;
  expired: number;
}

const leaseStats = (c: RunningClient): LeaseStats => c.stats().leases as LeaseStats;

/** The tiered path with leases: client → vip → tier-1 → vip → tier-2, and two app servers of capacity 8. */
async function cluster(): Promise<{ tier2: RunningNode; apps: RunningApp[]; client: RunningClient }> {
  const tier2 = await track(startNode({ ...common, role: "tier2" }));
  const apps: RunningApp[] = [];
  for (const id of ["lease-a", "lease-b"]) apps.push(await track(startNode({ ...common, role: "app", id, apps: ["echo", "sleep"], capacity: 8, power: 1, attrs: { zone: "eu" }, join: [tier2.url] })));
  await eventually(() => (tier2.stats().servers as unknown[]).length === 2, 5000, "both app servers to join");
  const vip2 = await track(startNode({ ...common, role: "vip", to: [tier2.url] }));
  const tier1 = await track(startNode({ ...common, role: "tier1", to: [vip2.url] }));
  const vip1 = await track(startNode({ ...common, role: "vip", to: [tier1.url] }));
  const client = await track(startNode({ ...common, role: "client", entries: [vip1.url] }));
  return { tier2, apps, client };
}

describe("the client's leases", () => {
  it("runs a class's tasks under one lease once it is granted, each with its own result, never past a server's capacity", async () => {
    const { tier2, apps, client } = await cluster();
    // The first task of the class asks for the lease and is placed on its own meanwhile.
    const first = await client.submit({ app: "echo", payload: "first", lease: 12 });
    expect(first.result).toBe("first");
    await eventually(() => leaseStats(client).slots > 0, 5000, "the lease to be granted");
    expect(leaseStats(client).slots).toBeLessThanOrEqual(12);
    expect(tier2.stats().leasesActive as number).toBeGreaterThanOrEqual(1);
    let most = 0;
    const watch = setInterval(() => {
      for (const a of apps) most = Math.max(most, a.stats().load as number);
    }, 1);
    const n = 400;
    const results = await Promise.all(Array.from({ length: n }, (_, i) => client.submit({ app: "echo", payload: { i }, lease: 12 })));
    clearInterval(watch);
    expect(results.map((r) => r.result)).toEqual(Array.from({ length: n }, (_, i) => ({ i })));
    const s = leaseStats(client);
    // 12 of the 400 at a time go under the lease; the others are placed on their own.
    expect(s.runs).toBeGreaterThan(0);
    expect(s.runs + s.fallbacks).toBeGreaterThanOrEqual(n);
    expect(most).toBeLessThanOrEqual(8);
    // One at a time, every task after the grant runs under the lease.
    const before = leaseStats(client).runs;
    for (let i = 0; i < 20; i++) await client.submit({ app: "echo", payload: i, lease: 12 });
    expect(leaseStats(client).runs - before).toBe(20);
  });

  it("places a task on its own when the lease's server no longer holds it (LEASE_EXPIRED), and leases again where the class still fits", async () => {
    const { tier2, apps, client } = await cluster();
    const eu = [{ key: "zone", op: "=" as const, value: "eu" }];
    await client.submit({ app: "echo", lease: 4, require: eu });
    await eventually(() => leaseStats(client).slots > 0, 5000, "the lease to be granted");
    const held = apps.filter((a) => (a.stats().leases as number) > 0);
    expect(held).toHaveLength(1);
    const other = apps.find((a) => a !== held[0]) as RunningApp;
    // The leased server leaves the class: its tier-2 revokes the lease there; the client does not know yet.
    held[0]?.setAttrs({ zone: "us" });
    await eventually(() => held[0]?.stats().leases === 0, 5000, "the server to let the lease go");
    expect(tier2.stats().leasesRevoked).toBe(1);
    const r = await client.submit({ app: "echo", payload: "after", lease: 4, require: eu });
    expect(r.result).toBe("after");
    expect(r.serverId).toBe(other.id);
    expect(r.attempts).toBe(1);
    expect(leaseStats(client).expired).toBe(1);
    // Asked again: the new lease is on the server that still fits, and the class's tasks run under it.
    await eventually(() => (other.stats().leases as number) > 0 && leaseStats(client).slots > 0, 5000, "a new lease on the other server");
    const runs = leaseStats(client).runs;
    const again = await client.submit({ app: "echo", payload: 2, lease: 4, require: eu });
    expect(again.serverId).toBe(other.id);
    expect(leaseStats(client).runs).toBe(runs + 1);
  });

  it("gives back its leases' slots when it stops, and never runs a task with a key of its own under a lease", async () => {
    const { tier2, client } = await cluster();
    await client.submit({ app: "echo", lease: 6 });
    await eventually(() => (tier2.stats().leaseSlotsHeld as number) > 0, 5000, "the lease to be granted");
    const runs = leaseStats(client).runs;
    const keyed = await client.submit({ app: "echo", key: "mine", payload: 1, lease: 6 });
    expect(keyed.result).toBe(1);
    expect(leaseStats(client).runs).toBe(runs);
    const bad = await client.submit({ app: "echo", lease: 0 }).catch((e: AllotError) => e);
    expect((bad as AllotError).code).toBe(ErrorCode.INVALID);
    await client.stop();
    await eventually(() => tier2.stats().leaseSlotsHeld === 0, 5000, "the tier-2 to take the slots back");
  });
});
