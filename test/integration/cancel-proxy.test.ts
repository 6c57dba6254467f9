import { describe, expect, it } from "vitest";
import { ErrorCode, startNode } from "../../src/index.js";
import type { RunningNode } from "../../src/index.js";
import { eventually } from "../helpers/raw-client.js";
import { trackNodes } from "../helpers/nodes.js";

const track = trackNodes();
const common = { logLevel: "silent" as const };
const alive = (n: RunningNode, key: "servers" | "slaves"): number => (n.stats()[key] as Array<{ status: string }>).filter((r) => r.status === "alive").length;

describe("cancellation through a proxying slave", () => {
  it("stops the run on the server (its handler's signal fires), not at the task's deadline", async () => {
    let started = 0;
    let aborted = 0;
    const master = await track(startNode({ ...common, role: "master" }));
    await track(
      startNode({
        ...common,
        role: "app",
        apps: ["hold"],
        capacity: 4,
        power: 1,
        join: [master.url],
        handlers: {
          hold: (_payload, task) =>
            new Promise((_resolve, reject) => {
              started++;
              task.signal.addEventListener("abort", () => {
                aborted++;
                reject(new Error("aborted"));
              });
            }),
        },
      }),
    );
    await track(startNode({ ...common, role: "slave", masters: [master.url], link: "proxy" }));
    await eventually(() => alive(master, "servers") === 1 && alive(master, "slaves") === 1, 5000, "the server and the slave to register");
    const client = await track(startNode({ ...common, role: "client", entries: [master.url] }));
    const ac = new AbortController();
    const run = client.submit({ app: "hold", signal: ac.signal, timeoutMs: 60_000 });
    await eventually(() => started === 1, 5000, "the handler to start");
    ac.abort();
    await expect(run).rejects.toMatchObject({ code: ErrorCode.CANCELLED });
    await eventually(() => aborted === 1, 5000, "the handler's abort signal to fire");
  });
});
