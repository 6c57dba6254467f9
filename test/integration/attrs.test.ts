import { describe, expect, it } from "vitest";
import { AllotError, ErrorCode, queryStatus, setAttrs, startNode, unsetAttrs } from "../../src/index.js";
import type { Attrs, RunningNode } from "../../src/index.js";
import { FakeAllocator } from "../helpers/fake-allocator.js";
import { RawClient, eventually } from "../helpers/raw-client.js";
import { trackNodes } from "../helpers/nodes.js";

const track = trackNodes();
const common = { logLevel: "silent" as const };
type Row = { id: string; attrs: Record<string, unknown>; power: number; capacity: number };
const rowOf = (n: RunningNode, id: string): Row | undefined => (n.stats().servers as Row[]).find((r) => r.id === id);
const attrsOf = (n: RunningNode, id: string): Record<string, unknown> | undefined => rowOf(n, id)?.attrs;

/** A client entry as a tier-2's status shows it, polled (bounded) until `want` holds. */
async function clientEntryBecomes(url: string, id: string, want: (attrs: Attrs | undefined) => boolean): Promise<Attrs | undefined> {
  let seen: Attrs | undefined;
  for (let i = 0; i < 200; i++) {
    const s = await queryStatus(url);
    if (s.role !== "tier2") throw new Error(`${url} answered status as a ${s.role}`);
    seen = s.tables?.client.find((e) => e.id === id)?.attrs;
    if (want(seen)) return seen;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`client ${id} at ${url} is still ${JSON.stringify(seen)}`);
}

describe("run-time attribute changes", () => {
  it("reaches the distributor and changes which tasks the server may take (API and wire)", async () => {
    const tier2 = await track(startNode({ ...common, role: "tier2" }));
    // Event reports off and a long period: only the change itself can carry the new attributes.
    const app = await track(startNode({ ...common, role: "app", id: "mover", apps: ["echo"], capacity: 4, power: 1, attrs: { region: "eu" }, join: [tier2.url], report: { event: false, periodicMs: 3_600_000 } }));
    await eventually(() => attrsOf(tier2, "mover")?.region === "eu", 5000, "the server to register");
    const client = await track(startNode({ ...common, role: "client", entries: [tier2.url] }));
    const us = { app: "echo", require: [{ key: "region", op: "=" as const, value: "us" }], timeoutMs: 2000 };
    await expect(client.submit(us)).rejects.toMatchObject({ code: ErrorCode.NO_SERVER });

    app.setAttrs({ region: "us" });
    await eventually(() => attrsOf(tier2, "mover")?.region === "us", 5000, "the change to reach the distributor");
    expect((await client.submit(us)).serverId).toBe("mover");

    await setAttrs(app.url, "server", "mover", { region: "ap", gpu: true });
    await eventually(() => attrsOf(tier2, "mover")?.region === "ap", 5000, "the wire change to reach the distributor");
    expect(attrsOf(tier2, "mover")).toEqual({ region: "ap", gpu: true });
  });

  it("refuses attributes for another server, and a distributor refuses to set server attributes", async () => {
    const tier2 = await track(startNode({ ...common, role: "tier2" }));
    const app = await track(startNode({ ...common, role: "app", id: "me", apps: ["echo"], capacity: 4, power: 1, join: [tier2.url] }));
    const wrong = await setAttrs(app.url, "server", "someone-else", { region: "us" }).catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(AllotError);
    expect(wrong).toMatchObject({ code: ErrorCode.INVALID, message: expect.stringContaining("someone-else") });
    await expect(setAttrs(tier2.url, "server", "me", { region: "eu" })).rejects.toMatchObject({ code: ErrorCode.INVALID, message: expect.stringContaining("app server") });
  });

  it("changes the server's own power and capacity, not an attribute the built-ins would shadow, and the server takes the new capacity", async () => {
    const tier2 = await track(startNode({ ...common, role: "tier2" }));
    // An allocator by hand beside the tier-2: each expect it signs takes a slot until its run (never sent here).
    const allocator = await FakeAllocator.start();
    const app = await track(startNode({ ...common, role: "app", id: "grow", apps: ["echo"], capacity: 1, power: 1, attrs: { region: "eu" }, join: [tier2.url, allocator.url] }));
    await eventually(() => rowOf(tier2, "grow") !== undefined && allocator.report !== undefined, 5000, "the server to register");
    const expectTask = (n: number) => allocator.expect(n).then((m) => m, (e: unknown) => ({ type: "error", body: e }) as const);
    expect((await expectTask(1)).type).toBe("task.expected");
    expect((await expectTask(2)).body).toMatchObject({ code: ErrorCode.OVERLOADED });

    await setAttrs(app.url, "server", "grow", { power: 8, capacity: 3 });
    await eventually(() => rowOf(tier2, "grow")?.capacity === 3, 5000, "the new capacity to reach the distributor");
    expect(rowOf(tier2, "grow")).toMatchObject({ power: 8, capacity: 3, attrs: { region: "eu" } });
    expect((await expectTask(3)).type).toBe("task.expected");
    expect((await expectTask(4)).type).toBe("task.expected");
    expect((await expectTask(5)).body).toMatchObject({ code: ErrorCode.OVERLOADED });
    expect(await queryStatus(app.url)).toMatchObject({ role: "app", power: 8, capacity: 3, load: 3, attrs: { region: "eu" } });
    await app.stop();
    await allocator.close();
  });

  it("refuses the other built-in names, bad figures and removing a built-in, and changes nothing", async () => {
    const tier2 = await track(startNode({ ...common, role: "tier2" }));
    const app = await track(startNode({ ...common, role: "app", id: "firm", apps: ["echo"], capacity: 2, power: 1, attrs: { region: "eu" }, join: [tier2.url] }));
    await eventually(() => rowOf(tier2, "firm") !== undefined, 5000, "the server to register");
    for (const [attrs, field] of [
      [{ id: "other" }, "attrs.id"],
      [{ app: "render" }, "attrs.app"],
      [{ load: 0 }, "attrs.load"],
      [{ free: 9 }, "attrs.free"],
      [{ url: "ws://elsewhere" }, "attrs.url"],
      [{ power: 0 }, "attrs.power"],
      [{ power: "fast" }, "attrs.power"],
      [{ capacity: 2.5 }, "attrs.capacity"],
    ] as const) {
      await expect(setAttrs(app.url, "server", "firm", attrs)).rejects.toMatchObject({ code: ErrorCode.INVALID, message: expect.stringContaining(field) });
    }
    await expect(unsetAttrs(app.url, "server", "firm", ["power"])).rejects.toMatchObject({ code: ErrorCode.INVALID, message: expect.stringContaining("cannot be removed") });
    // The embedding API refuses them before they reach the actor.
    expect(() => app.setAttrs({ free: 1 })).toThrow(RangeError);
    expect(() => app.unsetAttrs(["capacity"])).toThrow(RangeError);
    expect(await queryStatus(app.url)).toMatchObject({ power: 1, capacity: 2, attrs: { region: "eu" } });
    // And a start-up attribute with a built-in name is a configuration error.
    await expect(startNode({ ...common, role: "app", apps: ["echo"], capacity: 1, power: 1, attrs: { power: 8 }, join: [tier2.url] })).rejects.toThrow(/attribute power/);
  });

  it("removes a server's attributes at the server, and a client entry's at a tier-2, which spreads it to its peers", async () => {
    const other = await track(startNode({ ...common, role: "tier2", id: "other" }));
    const tier2 = await track(startNode({ ...common, role: "tier2", peers: [other.url] }));
    const app = await track(startNode({ ...common, role: "app", id: "shed", apps: ["echo"], capacity: 2, power: 1, attrs: { region: "eu", gpu: true }, join: [tier2.url] }));
    await eventually(() => attrsOf(tier2, "shed")?.gpu === true, 5000, "the server to register");
    await unsetAttrs(app.url, "server", "shed", ["gpu"]);
    await eventually(() => attrsOf(tier2, "shed")?.gpu === undefined, 5000, "the removal to reach the distributor");
    expect(attrsOf(tier2, "shed")).toEqual({ region: "eu" });
    app.unsetAttrs(["region"]);
    await eventually(() => Object.keys(attrsOf(tier2, "shed") ?? { x: 1 }).length === 0, 5000, "the API removal to reach the distributor");

    await setAttrs(tier2.url, "client", "c1", { region: "us", tier: "gold" });
    await clientEntryBecomes(other.url, "c1", (a) => a?.tier === "gold");
    await unsetAttrs(tier2.url, "client", "c1", ["tier"]);
    expect(await clientEntryBecomes(other.url, "c1", (a) => a?.tier === undefined)).toEqual({ region: "us" });
  });
});
