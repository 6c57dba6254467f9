import { describe, expect, it } from "vitest";
import { startNode } from "../../src/index.js";
import type { RunningNode } from "../../src/index.js";
import { eventually } from "../helpers/raw-client.js";
import { trackNodes } from "../helpers/nodes.js";

const track = trackNodes();
const common = { logLevel: "silent" as const };
const placed = (n: RunningNode): number => n.stats().placed as number;

async function twoTier2s(): Promise<RunningNode[]> {
  const t2 = [await track(startNode({ ...common, role: "tier2", id: "t2-a" })), await track(startNode({ ...common, role: "tier2", id: "t2-b" }))];
  await track(startNode({ ...common, role: "app", apps: ["echo", "sleep"], capacity: 64, power: 1, join: t2.map((n) => n.url) }));
  await eventually(() => t2.every((n) => (n.stats().servers as unknown[]).length === 1), 5000, "the server to join both");
  return t2;
}

describe("tier-1 with a selection policy", () => {
  it("chooses among its tier-2s by the policy, with each one's requests in flight as its load", async () => {
    const t2 = await twoTier2s();
    const t1 = await track(startNode({ ...common, role: "tier1", to: t2.map((n) => n.url), policy: "least-loaded" }));
    const client = await track(startNode({ ...common, role: "client", entries: [t1.url] }));
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => client.submit({ app: "sleep", payload: { ms: 5 + (i % 3) } })));
    expect(results).toHaveLength(40);
    expect(t1.stats()).toMatchObject({ policy: "least-loaded", redirected: 40 });
    for (const n of t2) expect(placed(n)).toBeGreaterThan(0);
  });

  it("moves on from a tier-2 that is gone, losing no task", async () => {
    const t2 = await twoTier2s();
    const t1 = await track(startNode({ ...common, role: "tier1", to: t2.map((n) => n.url), policy: "p2c" }));
    const client = await track(startNode({ ...common, role: "client", entries: [t1.url] }));
    await client.submit({ app: "echo", payload: 0 });
    await (t2[0] as RunningNode).stop();
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => client.submit({ app: "echo", payload: i })));
    expect(results.map((r) => r.result)).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it("refuses to start with a policy option it does not know", async () => {
    await expect(startNode({ ...common, role: "tier1", to: ["ws://127.0.0.1:1"], policy: "p2c:q=1" })).rejects.toThrow(/p2c: unknown option q/);
  });
});
