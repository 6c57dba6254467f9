import { describe, expect, it } from "vitest";
import { startNode } from "../../src/index.js";
import type { RunningApp } from "../../src/index.js";
import type { Message } from "../../src/protocol/index.js";
import { FakeAllocator } from "../helpers/fake-allocator.js";
import { trackNodes } from "../helpers/nodes.js";
import { RawClient, eventually } from "../helpers/raw-client.js";

// How an app server's load reaches its allocators: an answer to an expect carries it, a load-only
// change goes as a `server.load` notice, anything else as an acknowledged full report. Periodic
// reports are off throughout, so whatever the allocator hears came from an event.

const track = trackNodes();
const quiet = { logLevel: "silent" as const };
const eventsOnly = { event: true, periodicMs: 0 };

/** What the allocator heard since `mark`: each report's kind, with the load it gave. */
const heardSince = (a: FakeAllocator, mark: number): Array<[string, number]> =>
  a.heard.slice(mark).flatMap((m: Message): Array<[string, number]> => {
    if (m.type === "server.report") return [[m.id === 0 ? "report notice" : "report", m.body.server.load]];
    if (m.type === "server.load") return [["load", m.body.load]];
    return [];
  });

/** An expect that cannot hold a slot (its ticket is nobody's): its answer marks that the server handled every earlier turn. */
const barrier = (a: FakeAllocator, n: number): Promise<unknown> => a.announce(n, "not-a-ticket").then(
  () => "accepted",
  (e: unknown) => e,
);

async function appWithFake(mode: "broadcast" | "registered" = "broadcast"): Promise<{ app: RunningApp; fake: FakeAllocator }> {
  const fake = await FakeAllocator.start();
  const app = await track(startNode({ ...quiet, role: "app", id: "lr", apps: ["echo", "sleep"], capacity: 4, power: 1, join: [fake.url], mode, report: eventsOnly }));
  await eventually(() => fake.report?.ticketKey !== undefined, 5000, "the app server's registration");
  return { app, fake };
}

describe("load reports", () => {
  it("sends no event report to an allocator whose task.expected answer already carried the current version", async () => {
    const { app, fake } = await appWithFake();
    try {
      const mark = fake.heard.length;
      const answer = await fake.expect(1);
      expect(answer).toMatchObject({ type: "task.expected", body: { load: 1, version: app.stats().version } });
      await barrier(fake, 2);
      expect(heardSince(fake, mark)).toEqual([]);
    } finally {
      await fake.close();
    }
  });

  it("sends a load-only change as a server.load notice, once, and the run taking its expect's slot as nothing", async () => {
    const { app, fake } = await appWithFake();
    const client = await RawClient.open(app.url, "c");
    try {
      await client.hello("client");
      const ticket = fake.sign(1);
      await fake.announce(1, ticket);
      const mark = fake.heard.length;
      // A run that outlasts its start's turn: the start moves no load (its expect held the slot), the end does.
      expect(await client.call("task.run", { taskId: "t1", key: "k1", app: "sleep", ticket, payload: { ms: 20 } })).toMatchObject({ type: "task.result" });
      await barrier(fake, 2);
      expect(heardSince(fake, mark)).toEqual([["load", 0]]);
      const last = fake.heard.at(-1);
      expect(last?.type === "server.load" && last.body.version).toEqual(app.stats().version);
    } finally {
      await client.close();
      await fake.close();
    }
  });

  it("still sends a change of attributes as an acknowledged full report, and load alone after it", async () => {
    const { app, fake } = await appWithFake();
    const client = await RawClient.open(app.url, "c");
    try {
      await client.hello("client");
      let mark = fake.heard.length;
      app.setAttrs({ region: "us" });
      await eventually(() => fake.report?.attrs.region === "us", 5000, "the new attributes");
      expect(heardSince(fake, mark)).toEqual([["report", 0]]);
      // A run with no expect first: its slot is news, and only the load changed since the report.
      mark = fake.heard.length;
      expect(await client.call("task.run", { taskId: "t1", key: "k1", app: "echo", ticket: fake.sign(1), payload: "x" })).toMatchObject({ type: "task.result" });
      await barrier(fake, 2);
      // Echo ends in the turn it starts: the load is back to 0 by the time the report would go.
      expect(heardSince(fake, mark)).toEqual([["load", 0]]);
    } finally {
      await client.close();
      await fake.close();
    }
  });

  it("registers again with a full, acknowledged report on a reconnection, then carries load as before", async () => {
    const { app, fake } = await appWithFake();
    try {
      await fake.expect(1);
      const before = fake.report?.version[1] ?? 0;
      const mark = fake.heard.length;
      fake.dropLink();
      await eventually(() => (fake.report?.version[1] ?? 0) > before, 5000, "the registration on the new link");
      expect(heardSince(fake, mark)).toEqual([["report", 1]]);
      const again = fake.heard.length;
      expect(await fake.expect(2)).toMatchObject({ type: "task.expected", body: { load: 2 } });
      await barrier(fake, 3);
      expect(heardSince(fake, again)).toEqual([]);
    } finally {
      await fake.close();
    }
  });

  it("keeps a tier-2's entry at the server's load after every change, with no full report and no periodic one", async () => {
    // Runs that end when the test says so: each release is one load change, with no expect beside it.
    const holds: Array<() => void> = [];
    const hold = (): Promise<string> => new Promise((resolve) => holds.push(() => resolve("done")));
    const tier2 = await track(startNode({ ...quiet, role: "tier2" }));
    const app = await track(startNode({ ...quiet, role: "app", id: "held", apps: ["hold"], handlers: { hold }, workers: 0, capacity: 8, power: 1, join: [tier2.url], report: eventsOnly }));
    const row = (): { load: number; version: [number, number] } | undefined => (tier2.stats().servers as Array<{ id: string; load: number; version: [number, number] }>).find((r) => r.id === "held");
    const full = (): number => (tier2.stats().reports as number) - (tier2.stats().loadReports as number);
    await eventually(() => row() !== undefined, 5000, "the registration");
    const client = await track(startNode({ ...quiet, role: "client", entries: [tier2.url] }));
    const fullBefore = full();
    const runs = Array.from({ length: 4 }, () => client.submit({ app: "hold", timeoutMs: 20_000 }));
    await eventually(() => app.stats().running === 4, 5000, "four runs started");
    // Their expects' answers (or a notice, where a run overtook its expect) told the tier-2.
    await eventually(() => row()?.load === 4, 5000, "the tier-2 to show load 4");
    for (let left = 3; left >= 0; left--) {
      const loads = tier2.stats().loadReports as number;
      holds.shift()?.();
      await eventually(() => app.stats().running === left, 5000, `the run to end, ${left} left`);
      await eventually(() => row()?.load === left, 5000, `the tier-2 to show load ${left}`);
      // One change, with no expect to carry it: exactly one load-only notice.
      expect(tier2.stats().loadReports).toBe(loads + 1);
      expect(row()?.version).toEqual(app.stats().version);
    }
    await Promise.all(runs);
    expect(full()).toBe(fullBefore);
  });

  it("in the registered mode still sends the relayed load notice: the answer reached one allocator, not its peers", async () => {
    const { fake } = await appWithFake("registered");
    try {
      const mark = fake.heard.length;
      await fake.expect(1);
      await barrier(fake, 2);
      expect(heardSince(fake, mark)).toEqual([["load", 1]]);
      expect(fake.heard.at(-1)).toMatchObject({ type: "server.load", body: { relay: true } });
    } finally {
      await fake.close();
    }
  });
});
