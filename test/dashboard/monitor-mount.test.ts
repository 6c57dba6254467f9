import { describe, expect, it } from "vitest";
import { startNode } from "../../src/index.js";
import { trackNodes } from "../helpers/nodes.js";
import { eventually } from "../helpers/raw-client.js";

const track = trackNodes();
const quiet = { logLevel: "silent" as const };

describe("the dashboard on the monitoring port", () => {
  it("is served by a tier-2 with --http, beside /metrics, and shows its fleet; an app server's port has none", async () => {
    const t2 = await track(startNode({ ...quiet, role: "tier2", id: "t2", http: "127.0.0.1:0" }));
    const app = await track(startNode({ ...quiet, role: "app", id: "a1", apps: ["echo"], capacity: 2, power: 1, join: [t2.url], http: "127.0.0.1:0" }));
    await eventually(() => (t2.stats().servers as unknown[]).length === 1, 5000, "the server to register");
    const base = t2.httpUrl as string;
    const page = await fetch(`${base}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("<html");
    const snap = (await (await fetch(`${base}/dashboard.json`)).json()) as { servers: Array<{ id: string }> };
    expect(snap.servers.map((s) => s.id)).toEqual(["a1"]);
    expect((await fetch(`${base}/metrics`)).status).toBe(200);
    expect((await fetch(`${app.httpUrl as string}/`)).status).toBe(404);
  });
});
