import { describe, expect, it } from "vitest";
import { startNode } from "../../src/index.js";
import { freePorts } from "../../bench/faults-cluster.js";
import { createFaultProxy } from "../helpers/fault-proxy.js";
import type { FaultProxy } from "../helpers/fault-proxy.js";
import { trackNodes } from "../helpers/nodes.js";
import { eventually } from "../helpers/raw-client.js";

const track = trackNodes();
const quiet = { logLevel: "silent" as const };

describe("a client cut off from one server its allocator still sees alive", () => {
  it("after its first failure there, places its new tasks elsewhere without trying that server again", async () => {
    const t2 = await track(startNode({ ...quiet, role: "tier2", id: "t2" }));
    const [port] = await freePorts(1);
    const proxy: FaultProxy = await createFaultProxy({ target: `127.0.0.1:${port}` });
    try {
      // a1 is reached through the proxy by the client only; the tier-2 keeps its own link to a1.
      await track(startNode({ ...quiet, role: "app", id: "a1", apps: ["echo"], capacity: 4, power: 1, join: [t2.url], listen: `127.0.0.1:${port}`, advertise: proxy.url }));
      await track(startNode({ ...quiet, role: "app", id: "a2", apps: ["echo"], capacity: 4, power: 1, join: [t2.url] }));
      await eventually(() => (t2.stats().servers as unknown[]).length === 2, 5000, "both servers to register");
      const client = await track(startNode({ ...quiet, role: "client", entries: [t2.url], backoffMinMs: 5, backoffMaxMs: 20 }));
      await client.submit({ app: "echo", payload: "warm" });
      proxy.partition();
      // Until one lands on a1 and fails there (bounded: the tier-2 picks the idler of two idle servers).
      let failedOnA1 = false;
      for (let i = 0; i < 20 && !failedOnA1; i++) failedOnA1 = (await client.submit({ app: "echo", payload: i, timeoutMs: 20_000 })).attempts > 1;
      expect(failedOnA1).toBe(true);
      // Every later task goes to a2 at its first attempt: none waits on a1 again. (One at a time:
      // with a2 full, a placement that avoids a1 may still fall back to it.)
      const later = [];
      for (let i = 0; i < 8; i++) later.push(await client.submit({ app: "echo", payload: `later-${i}`, timeoutMs: 20_000 }));
      expect(later.map((r) => [r.serverId, r.attempts])).toEqual(later.map(() => ["a2", 1]));
    } finally {
      await proxy.stop();
    }
  }, 60_000);
});
