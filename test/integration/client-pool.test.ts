import { describe, expect, it } from "vitest";
import { startNode } from "../../src/index.js";
import { eventually } from "../helpers/raw-client.js";
import { trackNodes } from "../helpers/nodes.js";

const track = trackNodes();

describe("client connection pool", () => {
  it("forgets the connection to an app server that went away, and keeps running tasks on the others", async () => {
    const common = { logLevel: "silent" as const };
    const tier2 = await track(startNode({ ...common, role: "tier2", policy: "round-robin" }));
    const a = await track(startNode({ ...common, role: "app", id: "a", apps: ["echo"], capacity: 8, power: 1, join: [tier2.url] }));
    const b = await startNode({ ...common, role: "app", id: "b", apps: ["echo"], capacity: 8, power: 1, join: [tier2.url] });
    await eventually(() => (tier2.stats().servers as unknown[]).length === 2, 5000, "both servers to join");
    const client = await track(startNode({ ...common, role: "client", entries: [tier2.url] }));
    const first = await Promise.all(Array.from({ length: 8 }, () => client.submit({ app: "echo" })));
    expect(new Set(first.map((r) => r.serverId))).toEqual(new Set(["a", "b"]));
    expect(client.stats().servers).toBe(2);
    // The entry and two servers; the node forgets a peer once its pool closed it.
    expect(client.stats().outbound).toBe(3);
    await b.stop();
    await eventually(() => client.stats().servers === 1, 5000, "the client to drop the lost server's connection");
    expect(client.stats().outbound).toBe(2);
    const after = await Promise.all(Array.from({ length: 8 }, () => client.submit({ app: "echo" })));
    expect(after.every((r) => r.serverId === a.id)).toBe(true);
  });
});
