import { describe, expect, it } from "vitest";
import { parseConstraint, parsePreference, queryStatus, setAttrs, startNode } from "../../src/index.js";
import type { Attrs } from "../../src/index.js";
import { eventually } from "../helpers/raw-client.js";
import { trackNodes } from "../helpers/nodes.js";

const track = trackNodes();

/** A tier-2's attribute tables, as its status shows them. */
async function tablesAt(url: string) {
  const s = await queryStatus(url);
  if (s.role !== "tier2") throw new Error(`${url} answered status as a ${s.role}`);
  return s.tables;
}
const common = { logLevel: "silent" as const };

/** A tier-2 with three echo servers: eu power 1, us power 1, eu power 4 (the default choice). */
async function fleet(peers: string[] = []) {
  const tier2 = await track(startNode({ ...common, role: "tier2", peers }));
  const server = (id: string, power: number, attrs: Attrs) => track(startNode({ ...common, role: "app", id, apps: ["echo"], capacity: 8, power, attrs, join: [tier2.url] }));
  await server("eu-1", 1, { region: "eu" });
  await server("us-1", 1, { region: "us", disk: "ssd" });
  await server("eu-4", 4, { region: "eu" });
  await eventually(() => (tier2.stats().servers as unknown[]).length === 3, 5000, "three servers to register");
  return tier2;
}

describe("client, user and task-type tables", () => {
  it("steers a client's tasks by its stored attributes", async () => {
    const tier2 = await fleet();
    const client = await track(startNode({ ...common, role: "client", id: "c-us", entries: [tier2.url] }));
    expect((await client.submit({ app: "echo" })).serverId).toBe("eu-4");
    await setAttrs(tier2.url, "client", "c-us", { region: "us" });
    expect((await client.submit({ app: "echo" })).serverId).toBe("us-1");
    // The task's own attributes still win over the stored ones.
    expect((await client.submit({ app: "echo", clientAttrs: { region: "eu" } })).serverId).toBe("eu-4");
  });

  it("applies a user's stored preferences to the tasks that name the user", async () => {
    const tier2 = await fleet();
    const client = await track(startNode({ ...common, role: "client", entries: [tier2.url] }));
    await setAttrs(tier2.url, "user", "ann", { disk: "ssd" });
    expect((await client.submit({ app: "echo", user: "ann" })).serverId).toBe("us-1");
    expect((await client.submit({ app: "echo", user: "bob" })).serverId).toBe("eu-4");
  });

  it("applies task-type defaults when the task does not say: minPower", async () => {
    const tier2 = await fleet();
    const client = await track(startNode({ ...common, role: "client", entries: [tier2.url] }));
    await setAttrs(tier2.url, "task-type", "echo", { minPower: 2 });
    const runs = await Promise.all(Array.from({ length: 12 }, () => client.submit({ app: "echo", clientAttrs: { region: "us" } })));
    // us-1 (power 1) would win on region, but the default excludes it.
    expect(new Set(runs.map((r) => r.serverId))).toEqual(new Set(["eu-4"]));
    // A task that constrains power itself is not overridden.
    expect((await client.submit({ app: "echo", require: [{ key: "power", op: ">=", value: 1 }], clientAttrs: { region: "us" } })).serverId).toBe("us-1");
  });

  it("weighs the task's weighted preferences against the stored attributes, and filters by in, over the wire", async () => {
    const tier2 = await fleet();
    const client = await track(startNode({ ...common, role: "client", id: "c-eu", entries: [tier2.url] }));
    expect((await client.submit({ app: "echo", prefer: [parsePreference("disk=ssd")] })).serverId).toBe("us-1");
    expect((await client.submit({ app: "echo", require: [parseConstraint("region in (eu, ap)")], prefer: [{ key: "disk", op: "=", value: "ssd" }] })).serverId).toBe("eu-4");
    // Stored: the client is in the eu, one point for eu-1 and eu-4; ssd at 0.5 weighs less, at 2 more.
    await setAttrs(tier2.url, "client", "c-eu", { region: "eu" });
    expect((await client.submit({ app: "echo", prefer: [parsePreference("disk=ssd:0.5")] })).serverId).toBe("eu-4");
    expect((await client.submit({ app: "echo", prefer: [parsePreference("disk=ssd:2")] })).serverId).toBe("us-1");
    // A preference on a built-in field: eu-1 scores 1 + 0.75, us-1 0.5 + 0.75, eu-4 1.
    expect((await client.submit({ app: "echo", prefer: [parsePreference("disk=ssd:0.5"), parsePreference("power<=1:0.75")] })).serverId).toBe("eu-1");
  });

  it("spreads table entries to peers and shows them in status", async () => {
    const other = await track(startNode({ ...common, role: "tier2", id: "other" }));
    const tier2 = await fleet([other.url]);
    await setAttrs(tier2.url, "client", "c9", { region: "us" });
    await setAttrs(tier2.url, "task-type", "render", { minPower: 8 });
    let seen = await tablesAt(other.url);
    for (let i = 0; i < 100 && (seen?.client.length ?? 0) === 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
      seen = await tablesAt(other.url);
    }
    expect(seen?.client).toEqual([expect.objectContaining({ id: "c9", attrs: { region: "us" } })]);
    expect(seen?.["task-type"]).toEqual([expect.objectContaining({ id: "render", attrs: { minPower: 8 } })]);
    const own = await tablesAt(tier2.url);
    expect(own?.client[0]?.version).toEqual(seen?.client[0]?.version);
  });
});
