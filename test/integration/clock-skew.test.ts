import { describe, expect, it } from "vitest";
import { createWsTransport, startNode } from "../../src/index.js";
import type { CommonConfig, RunningNode } from "../../src/index.js";
import { eventually } from "../helpers/raw-client.js";
import { trackNodes } from "../helpers/nodes.js";

const track = trackNodes();
const common = (): Omit<CommonConfig, "id"> => ({ logLevel: "silent", transport: createWsTransport() });
/** A clock `offsetMs` ahead of this host's (behind when negative). */
const skewed = (offsetMs: number): (() => number) => () => Date.now() + offsetMs;

function running(app: RunningNode): number {
  return Number(app.stats().running ?? 0);
}

async function cluster(clocks: { tier2: number; app: number; client: number }) {
  const tier2 = await track(startNode({ ...common(), role: "tier2", id: "t2", now: skewed(clocks.tier2) }));
  const app = await track(startNode({ ...common(), role: "app", id: "app-1", apps: ["echo", "sleep"], capacity: 8, power: 1, join: [tier2.url], now: skewed(clocks.app) }));
  await eventually(() => Array.isArray(tier2.stats().servers) && (tier2.stats().servers as Array<{ status: string }>).some((s) => s.status === "alive"), 10_000, "the app server to register");
  const client = await track(startNode({ ...common(), role: "client", id: "c", entries: [tier2.url], now: skewed(clocks.client) }));
  return { tier2, app, client };
}

describe("time across hosts whose clocks differ", () => {
  it("runs tasks with a few seconds' deadline when the client is 20 s behind the allocator and the server 20 s ahead", async () => {
    // Deadlines as clock readings: the allocator saw every task 15 s past its deadline.
    const { client } = await cluster({ tier2: 0, app: 20_000, client: -20_000 });
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => client.submit({ app: "echo", payload: { i }, timeoutMs: 5000 })));
    expect(results.map((r) => r.result)).toEqual(Array.from({ length: 10 }, (_, i) => ({ i })));
  });

  it("stops a run at the task's deadline on a server whose clock is 20 s behind, not 20 s later", async () => {
    const { client, app } = await cluster({ tier2: 0, app: -20_000, client: 0 });
    await expect(client.submit({ app: "sleep", payload: { ms: 15_000 }, timeoutMs: 1000 })).rejects.toMatchObject({ code: "TIMEOUT" });
    // The handler's signal fires at the deadline in the server's own time: the slot is free again soon.
    await eventually(() => running(app) === 0, 4000, "the run to end at its deadline");
  });
});
