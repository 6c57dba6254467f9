import { describe, expect, it } from "vitest";
import { startNode } from "../../src/index.js";
import type { Handler } from "../../src/index.js";
import { trackNodes } from "../helpers/nodes.js";

const track = trackNodes();

describe("app server capacity", () => {
  it("never runs more tasks at once than its capacity, even when two distributors with separate views place on it", async () => {
    let running = 0;
    let most = 0;
    // Holds each task until a later one arrives or a short while passes, so runs overlap.
    const slow: Handler = async () => {
      running++;
      most = Math.max(most, running);
      await new Promise((r) => setTimeout(r, 15));
      running--;
      return { ok: true };
    };
    const common = { logLevel: "silent" as const };
    const t2a = await track(startNode({ ...common, role: "tier2" }));
    const t2b = await track(startNode({ ...common, role: "tier2" }));
    const app = await track(startNode({ ...common, role: "app", apps: ["slow"], handlers: { slow }, capacity: 2, power: 1, join: [t2a.url, t2b.url] }));
    // Both distributors know the server before tasks flow.
    for (let i = 0; i < 200 && [t2a, t2b].some((t) => (t.stats().servers as unknown[]).length === 0); i++) await new Promise((r) => setTimeout(r, 10));
    const client = await track(startNode({ ...common, role: "client", entries: [t2a.url, t2b.url], backoffMinMs: 5, backoffMaxMs: 50 }));
    const results = await Promise.all(Array.from({ length: 24 }, () => client.submit({ app: "slow", timeoutMs: 20_000 })));
    expect(results).toHaveLength(24);
    expect(results.every((r) => r.serverId === app.id)).toBe(true);
    expect(most).toBeGreaterThan(0);
    expect(most).toBeLessThanOrEqual(2);
    // The distributors' reservations on the server are all settled once the work is done.
    expect(app.stats()).toMatchObject({ running: 0, expected: 0, load: 0 });
  });
});
