import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNode } from "../../src/index.js";
import type { RunningClient, RunningNode } from "../../src/index.js";
import { plainPayload } from "../helpers/payload.js";
import { eventually } from "../helpers/raw-client.js";

// One app server behind two masters: one whose only slave proxies, one whose only slave directs.
// Whatever the payload, the two links must deliver the same result.

const common = { logLevel: "silent" as const };
const nodes: RunningNode[] = [];
let viaProxy: RunningClient;
let viaDirect: RunningClient;

async function add<T extends RunningNode>(p: Promise<T>): Promise<T> {
  const n = await p;
  nodes.push(n);
  return n;
}

beforeAll(async () => {
  const mp = await add(startNode({ ...common, role: "master", id: "m-proxy" }));
  const md = await add(startNode({ ...common, role: "master", id: "m-direct" }));
  await add(startNode({ ...common, role: "app", id: "app", apps: ["echo", "hash"], capacity: 64, power: 1, join: [mp.url, md.url] }));
  await add(startNode({ ...common, role: "slave", id: "proxy", masters: [mp.url], link: "proxy" }));
  await add(startNode({ ...common, role: "slave", id: "direct", masters: [md.url], link: "direct" }));
  const ready = (m: RunningNode): boolean => (m.stats().servers as unknown[]).length === 1 && (m.stats().slaves as unknown[]).length === 1;
  await eventually(() => ready(mp) && ready(md), 5000, "both masters to know the server and their slave");
  viaProxy = await add(startNode({ ...common, role: "client", entries: [mp.url] }));
  viaDirect = await add(startNode({ ...common, role: "client", entries: [md.url] }));
});

afterAll(async () => {
  for (const n of nodes.reverse()) await n.stop();
});

const payload = fc.oneof({ arbitrary: plainPayload, weight: 4 }, { arbitrary: fc.uint8Array({ maxLength: 2048 }), weight: 1 });

describe("master/slave links (property)", () => {
  it("the result through a proxying slave equals the result through a direct link, for any payload", async () => {
    await fc.assert(
      fc.asyncProperty(payload, fc.constantFrom("echo", "hash"), async (p, app) => {
        const [a, b] = await Promise.all([viaProxy.submit({ app, payload: app === "hash" ? { rounds: 3, data: JSON.stringify(p ?? null) } : p }), viaDirect.submit({ app, payload: app === "hash" ? { rounds: 3, data: JSON.stringify(p ?? null) } : p })]);
        expect(a.slaveId).toBe("proxy");
        expect(b.slaveId).toBe("direct");
        expect(a.result).toEqual(b.result);
        // Bytes come back as a Buffer (msgpack bin), whatever Uint8Array view went in.
        if (app === "echo") expect(a.result instanceof Uint8Array ? Uint8Array.from(a.result) : a.result).toEqual(p);
      }),
      { numRuns: 60 },
    );
  });
});
