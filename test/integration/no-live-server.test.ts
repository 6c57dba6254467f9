import { describe, expect, it } from "vitest";
import { createWsTransport, startNode } from "../../src/index.js";
import type { CommonConfig, RunningNode } from "../../src/index.js";
import { eventually } from "../helpers/raw-client.js";
import { trackNodes } from "../helpers/nodes.js";

const track = trackNodes();
const common = (): Omit<CommonConfig, "id"> => ({ logLevel: "silent", transport: createWsTransport() });
const statusOf = (n: RunningNode, id: string): string | undefined => ((n.stats().servers ?? []) as Array<{ id: string; status: string }>).find((s) => s.id === id)?.status;

describe("an allocator whose servers for an application are all down", () => {
  it("answers NO_SERVER retryable, so the task waits for a server to come back instead of failing at once", async () => {
    // Every server down (a partition, a restart of the whole fleet) made the task fail at once:
    // "no live server offers application" was as final as an application nobody offers.
    const tier2 = await track(startNode({ ...common(), role: "tier2", id: "t2", slowStartMs: 0 }));
    const app = await startNode({ ...common(), role: "app", id: "app-1", apps: ["echo"], capacity: 4, power: 1, join: [tier2.url] });
    await eventually(() => statusOf(tier2, "app-1") === "alive", 10_000, "app-1 to register");
    await app.stop();
    await eventually(() => statusOf(tier2, "app-1") === "dead", 10_000, "app-1 to be marked dead");
    const client = await track(startNode({ ...common(), role: "client", id: "c", entries: [tier2.url], timeoutMs: 15_000 }));
    const submitted = client.submit({ app: "echo", payload: "back" });
    await track(startNode({ ...common(), role: "app", id: "app-1", apps: ["echo"], capacity: 4, power: 1, join: [tier2.url] }));
    await expect(submitted).resolves.toMatchObject({ result: "back", serverId: "app-1" });
  });

  it("still fails at once, not retryable, for an application no server offers", async () => {
    const tier2 = await track(startNode({ ...common(), role: "tier2", id: "t2" }));
    await track(startNode({ ...common(), role: "app", id: "app-1", apps: ["echo"], capacity: 4, power: 1, join: [tier2.url] }));
    await eventually(() => statusOf(tier2, "app-1") === "alive", 10_000, "app-1 to register");
    const client = await track(startNode({ ...common(), role: "client", id: "c", entries: [tier2.url], timeoutMs: 15_000 }));
    await expect(client.submit({ app: "nobody-runs-this" })).rejects.toMatchObject({ code: "NO_SERVER", retryable: false });
  });
});
