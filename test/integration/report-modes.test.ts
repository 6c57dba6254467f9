import { describe, expect, it } from "vitest";
import { startNode } from "../../src/index.js";
import type { RunningNode } from "../../src/index.js";
import { ErrorCode, PROTOCOL_VERSION } from "../../src/protocol/index.js";
import { RawClient, eventually } from "../helpers/raw-client.js";
import { trackNodes } from "../helpers/nodes.js";

const track = trackNodes();
const common = { logLevel: "silent" as const };
const reportsAt = (n: RunningNode): number => n.stats().reports as number;
const loadAt = (n: RunningNode, id: string): number | undefined => (n.stats().servers as Array<{ id: string; load: number }>).find((s) => s.id === id)?.load;

describe("report modes", () => {
  it("event mode reports a load change at once", async () => {
    const tier2 = await track(startNode({ ...common, role: "tier2" }));
    const app = await track(startNode({ ...common, role: "app", id: "ev", apps: ["sleep"], capacity: 4, power: 1, join: [tier2.url], report: { event: true, periodicMs: 0 } }));
    await eventually(() => loadAt(tier2, "ev") === 0, 5000, "registration");
    const client = await track(startNode({ ...common, role: "client", entries: [tier2.url] }));
    const run = client.submit({ app: "sleep", payload: { ms: 300 } });
    await eventually(() => loadAt(tier2, "ev") === 1, 2000, "the running task to show as load 1");
    await run;
    await eventually(() => loadAt(tier2, "ev") === 0, 2000, "the finished task to show as load 0");
    expect(app.stats().completed).toBe(1);
  });

  it("periodic mode alone refreshes the entry without any task", async () => {
    const tier2 = await track(startNode({ ...common, role: "tier2" }));
    await track(startNode({ ...common, role: "app", id: "tick", apps: ["echo"], capacity: 4, power: 1, join: [tier2.url], report: { event: false, periodicMs: 50 } }));
    await eventually(() => reportsAt(tier2) >= 1, 5000, "registration");
    const first = reportsAt(tier2);
    await eventually(() => reportsAt(tier2) >= first + 3, 5000, "three periodic reports");
  });

  it("periodic reports are notices: the allocator applies them and writes nothing back", async () => {
    const tier2 = await track(startNode({ ...common, role: "tier2" }));
    const app = await track(startNode({ ...common, role: "app", id: "quiet", apps: ["echo"], capacity: 4, power: 1, join: [tier2.url], report: { event: false, periodicMs: 40 } }));
    // Registration is a request: it is acknowledged.
    await eventually(() => reportsAt(tier2) >= 1 && (app.stats().traffic as { envelopesIn: number }).envelopesIn >= 2, 5000, "registration and its ack");
    const [reports0, in0] = [reportsAt(tier2), (app.stats().traffic as { envelopesIn: number }).envelopesIn];
    await eventually(() => reportsAt(tier2) >= reports0 + 5, 5000, "five periodic reports");
    expect((app.stats().traffic as { envelopesIn: number }).envelopesIn).toBe(in0);
  });

  it("a notice report for another server is refused with an error notice, and the link keeps working", async () => {
    const tier2 = await track(startNode({ ...common, role: "tier2" }));
    const raw = await RawClient.open(tier2.url, "srv-a");
    try {
      await raw.hello("app");
      const server = { id: "srv-b", url: "ws://127.0.0.1:1", apps: ["echo"], capacity: 1, power: 1, load: 0, attrs: {}, version: [1, 1], periodMs: 1000 };
      raw.send([[PROTOCOL_VERSION, "server.report", 0, 0, "srv-a", { server }]]);
      expect((await raw.waitForError(0, 5000)).code).toBe(ErrorCode.UNAUTHORIZED);
      raw.send([[PROTOCOL_VERSION, "server.report", 0, 0, "srv-a", { server: { ...server, id: "srv-a" } }]]);
      await eventually(() => loadAt(tier2, "srv-a") === 0, 5000, "the valid notice to be applied");
      expect(loadAt(tier2, "srv-b")).toBeUndefined();
    } finally {
      await raw.close();
    }
  });

  it("periodic reports after an acknowledged full one carry the load alone, and keep the entry current", async () => {
    const tier2 = await track(startNode({ ...common, role: "tier2" }));
    await track(startNode({ ...common, role: "app", id: "lean", apps: ["sleep"], capacity: 4, power: 1, join: [tier2.url], report: { event: false, periodicMs: 40 } }));
    await eventually(() => loadAt(tier2, "lean") === 0, 5000, "registration");
    await eventually(() => (tier2.stats().loadReports as number) >= 3, 5000, "three load-only reports");
    // With event reports off, only a periodic report can tell the allocator of the running task.
    const client = await track(startNode({ ...common, role: "client", entries: [tier2.url] }));
    const run = client.submit({ app: "sleep", payload: { ms: 400 } });
    await eventually(() => loadAt(tier2, "lean") === 1, 5000, "the running task, from a load-only report");
    await run;
    await eventually(() => loadAt(tier2, "lean") === 0, 5000, "the finished task");
    expect(tier2.stats().refusedReports).toBe(0);
  });

  it("a load-only report is refused, with an error notice, unless its server registered in full on that connection", async () => {
    const tier2 = await track(startNode({ ...common, role: "tier2" }));
    const raw = await RawClient.open(tier2.url, "srv-a");
    try {
      await raw.hello("app");
      const load = (id: string, n: number, version: [number, number]) => raw.send([[PROTOCOL_VERSION, "server.load", 0, 0, "srv-a", { id, load: n, version }]]);
      let since = raw.mark();
      load("srv-a", 1, [1, 2]);
      expect((await raw.waitForError(0, 5000, since)).code).toBe(ErrorCode.INVALID);
      const server = { id: "srv-a", url: "ws://127.0.0.1:1", apps: ["echo"], capacity: 4, power: 1, load: 0, attrs: { region: "eu" }, version: [1, 3], periodMs: 1000 };
      raw.send([[PROTOCOL_VERSION, "server.report", 0, 0, "srv-a", { server }]]);
      await eventually(() => loadAt(tier2, "srv-a") === 0, 5000, "the full report");
      load("srv-a", 2, [1, 4]);
      await eventually(() => loadAt(tier2, "srv-a") === 2, 5000, "the load-only report");
      since = raw.mark();
      load("srv-a", 3, [2, 1]); // another incarnation: only a full report can say what it offers
      expect((await raw.waitForError(0, 5000, since)).code).toBe(ErrorCode.INVALID);
      since = raw.mark();
      load("srv-b", 3, [1, 9]);
      expect((await raw.waitForError(0, 5000, since)).code).toBe(ErrorCode.UNAUTHORIZED);
      // The entry kept its last good state, and the link still works.
      load("srv-a", 1, [1, 5]);
      await eventually(() => loadAt(tier2, "srv-a") === 1, 5000, "a later load-only report");
      const row = (tier2.stats().servers as Array<{ id: string; attrs: unknown; version: unknown }>).find((s) => s.id === "srv-a");
      expect(row).toMatchObject({ attrs: { region: "eu" }, version: [1, 5] });
      // The report for another id was refused by the channel, before the registry saw it.
      expect(tier2.stats()).toMatchObject({ refusedReports: 2, loadReports: 2, traffic: { unauthorized: 1 } });
    } finally {
      await raw.close();
    }
  });

  it("a minimum interval and a threshold keep a busy server from flooding its distributor", async () => {
    const tier2 = await track(startNode({ ...common, role: "tier2" }));
    const flood = await track(startNode({ ...common, role: "tier2" }));
    await track(startNode({ ...common, role: "app", id: "calm", apps: ["echo"], capacity: 64, power: 1, join: [tier2.url], report: { event: true, periodicMs: 0, eventMinMs: 10_000, eventThreshold: 1000 } }));
    await track(startNode({ ...common, role: "app", id: "chatty", apps: ["echo"], capacity: 64, power: 1, join: [flood.url], report: { event: true, periodicMs: 0 } }));
    await eventually(() => reportsAt(tier2) >= 1 && reportsAt(flood) >= 1, 5000, "registration");
    const [calm0, chatty0] = [reportsAt(tier2), reportsAt(flood)];
    const calmClient = await track(startNode({ ...common, role: "client", entries: [tier2.url] }));
    const chattyClient = await track(startNode({ ...common, role: "client", entries: [flood.url] }));
    for (let i = 0; i < 20; i++) await Promise.all([calmClient.submit({ app: "echo" }), chattyClient.submit({ app: "echo" })]);
    expect(reportsAt(flood) - chatty0).toBeGreaterThanOrEqual(10);
    expect(reportsAt(tier2) - calm0).toBe(0);
  });
});
