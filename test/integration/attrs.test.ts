import { describe, expect, it } from "vitest";
import { AllotError, ErrorCode, setAttrs, startNode } from "../../src/index.js";
import type { RunningNode } from "../../src/index.js";
import { eventually } from "../helpers/raw-client.js";
import { trackNodes } from "../helpers/nodes.js";

const track = trackNodes();
const common = { logLevel: "silent" as const };
const attrsOf = (n: RunningNode, id: string): Record<string, unknown> | undefined =>
  (n.stats().servers as Array<{ id: string; attrs: Record<string, unknown> }>).find((r) => r.id === id)?.attrs;

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
});
