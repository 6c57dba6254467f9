import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { queryStatus, startNode } from "../../src/index.js";
import type { RunningApp, RunningClient, RunningNode, StatusBody } from "../../src/index.js";
import { eventually } from "../helpers/raw-client.js";

const common = { logLevel: "silent" as const };

/** The answer of one role, narrowed: a test that gets another role's fails naming it. */
async function statusOf<R extends StatusBody["role"]>(url: string, role: R): Promise<StatusBody & { role: R }> {
  const s = await queryStatus(url);
  if (s.role !== role) throw new Error(`${url} answered status as a ${s.role}, not a ${role}`);
  return s as StatusBody & { role: R };
}

type Row = { id: string; status: string };

describe("status.get on every role", () => {
  const nodes: RunningNode[] = [];
  let tier2: RunningNode, vip: RunningNode, tier1: RunningNode, app: RunningApp, master: RunningNode, slave: RunningNode, client: RunningClient;

  beforeAll(async () => {
    const track = async <T extends RunningNode>(p: Promise<T>): Promise<T> => {
      const n = await p;
      nodes.push(n);
      return n;
    };
    // The tiered path: vip → tier-1 → tier-2, and an app server joined to the tier-2 and a master.
    tier2 = await track(startNode({ ...common, role: "tier2", id: "t2" }));
    master = await track(startNode({ ...common, role: "master", id: "m1" }));
    app = await track(startNode({ ...common, role: "app", id: "app-1", apps: ["echo"], capacity: 3, power: 2, attrs: { region: "eu" }, join: [tier2.url, master.url] }));
    tier1 = await track(startNode({ ...common, role: "tier1", id: "t1", to: [tier2.url] }));
    vip = await track(startNode({ ...common, role: "vip", id: "v1", to: [tier1.url] }));
    slave = await track(startNode({ ...common, role: "slave", id: "sl-1", masters: [master.url], link: "direct" }));
    client = await track(startNode({ ...common, role: "client", entries: [vip.url] }));
    const alive = (rows: unknown, id: string): boolean => (rows as Row[]).some((r) => r.id === id && r.status === "alive");
    await eventually(() => alive(tier2.stats().servers, "app-1") && alive(master.stats().servers, "app-1") && alive(master.stats().slaves, "sl-1"), 5000, "the app server and the slave to register");
    // One task through the vip and the tier-1, so their counters move.
    await client.submit({ app: "echo", payload: 1 });
  });

  afterAll(async () => {
    for (const n of nodes.reverse()) await n.stop();
  });

  it("a tier-2 answers with its database and tables", async () => {
    const s = await statusOf(tier2.url, "tier2");
    expect(s.node).toBe("t2");
    expect(s.servers).toEqual([expect.objectContaining({ id: "app-1", status: "alive", capacity: 3, power: 2, attrs: { region: "eu" } })]);
    expect(s.tables).toEqual({ client: [], user: [], "task-type": [] });
  });

  it("a master answers with its servers and its slaves", async () => {
    const s = await statusOf(master.url, "master");
    expect(s.servers.map((r) => r.id)).toEqual(["app-1"]);
    expect(s.slaves).toEqual([expect.objectContaining({ id: "sl-1", status: "alive", apps: ["slave"], attrs: { link: "direct" } })]);
  });

  it("a vip answers itself, with its members, instead of passing status.get on", async () => {
    const s = await statusOf(vip.url, "vip");
    expect(s.node).toBe("v1");
    expect(s.forwarded).toBeGreaterThanOrEqual(1);
    expect(s.members).toEqual([{ url: tier1.url, id: "t1", state: "open", inFlight: 0, forwarded: s.forwarded }]);
  });

  it("a tier-1 answers itself, with its members and how it chooses among them", async () => {
    const s = await statusOf(tier1.url, "tier1");
    expect(s).toMatchObject({ node: "t1", policy: "sequence", forwarded: 1 });
    expect(s.members).toEqual([{ url: tier2.url, id: "t2", state: "open", inFlight: 0, forwarded: 1 }]);
  });

  it("a slave answers with its link mode, its queue and its masters", async () => {
    const s = await statusOf(slave.url, "slave");
    expect(s).toMatchObject({ node: "sl-1", link: "direct", held: 0, capacity: 1024, received: 0, answered: 0, failovers: 0, servers: [] });
    expect(s.masters).toEqual([{ url: master.url, id: "m1", state: "open", inFlight: expect.any(Number) }]);
  });

  it("an app server answers with its figures, its registrations and its running tasks", async () => {
    const s = await statusOf(app.url, "app");
    expect(s).toMatchObject({ node: "app-1", url: app.url, apps: ["echo"], capacity: 3, power: 2, load: 0, runningCount: 0, expected: 0, completed: 1, attrs: { region: "eu" }, running: [] });
    expect(s.registrations.map((r) => [r.url, r.id, r.state])).toEqual([
      [tier2.url, "t2", "open"],
      [master.url, "m1", "open"],
    ]);
  });
});
