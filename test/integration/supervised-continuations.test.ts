import { describe, expect, it } from "vitest";
import { createWsTransport, startNode } from "../../src/index.js";
import type { CommonConfig, RunningNode } from "../../src/index.js";
import type { ContinuationHook } from "../../src/actors/runtime/continuations.js";
import { captureLog } from "../helpers/log-capture.js";
import { eventually } from "../helpers/raw-client.js";
import { trackNodes } from "../helpers/nodes.js";

const track = trackNodes();
type Victim = "tier2" | "app" | "master" | "slave";

/**
 * A hook that lets each of the first `n` continuations do its work and then throw: a bug in a
 * callback, after its state change. The actor's supervisor must see each throw and resume.
 */
function throwing(n: number): { hook: ContinuationHook; thrown: () => number; kinds: Set<string> } {
  let thrown = 0;
  const kinds = new Set<string>();
  return {
    hook: (fn, what) => () => {
      fn();
      if (thrown < n) {
        thrown++;
        kinds.add(what);
        throw new Error(`injected after a ${what}`);
      }
    },
    thrown: () => thrown,
    kinds,
  };
}

const alive = (n: RunningNode, key: "servers" | "slaves"): number => ((n.stats()[key] ?? []) as Array<{ status: string }>).filter((r) => r.status === "alive").length;

async function run(victim: Victim): Promise<{ results: unknown[]; crashes: number; thrown: number }> {
  const { logger, lines } = captureLog("error");
  const t = throwing(3);
  const base = (role: Victim): Omit<CommonConfig, "id"> => ({ logger, transport: createWsTransport(), ...(role === victim ? { continuationHook: t.hook } : {}) });
  let entry: string;
  if (victim === "tier2" || victim === "app") {
    const tier2 = await track(startNode({ ...base("tier2"), role: "tier2", id: "t2" }));
    await track(startNode({ ...base("app"), role: "app", id: "app-1", apps: ["echo", "sleep"], capacity: 8, power: 1, join: [tier2.url] }));
    await eventually(() => alive(tier2, "servers") === 1, 10_000, "the app server to register");
    entry = tier2.url;
  } else {
    const master = await track(startNode({ ...base("master"), role: "master", id: "m1", assign: "indicate" }));
    await track(startNode({ ...base("app"), role: "app", id: "app-1", apps: ["echo", "sleep"], capacity: 8, power: 1, join: [master.url] }));
    await track(startNode({ ...base("slave"), role: "slave", id: "s1", masters: [master.url], link: "proxy" }));
    await eventually(() => alive(master, "servers") === 1 && alive(master, "slaves") === 1, 10_000, "the app server and the slave to register");
    entry = master.url;
  }
  const client = await track(startNode({ logLevel: "silent", transport: createWsTransport(), role: "client", id: "c", entries: [entry], timeoutMs: 20_000 }));
  const results: unknown[] = [];
  // In sequence, half of them asynchronous on the server (a run that ends in a later turn re-enters the actor).
  for (let i = 0; i < 20; i++) results.push((await client.submit(i % 2 ? { app: "sleep", payload: { ms: 2 } } : { app: "echo", payload: { i } })).result);
  const crashes = lines.filter((l) => l.msg === "actor crashed").length;
  return { results, crashes, thrown: t.thrown() };
}

describe("continuations run inside the actor, under its supervisor", () => {
  for (const victim of ["tier2", "app", "master", "slave"] as const) {
    it(`${victim === "app" ? "an" : "a"} ${victim} whose callbacks throw is resumed by its supervisor each time, and no task is lost`, async () => {
      const { results, crashes, thrown } = await run(victim);
      expect(results).toEqual(Array.from({ length: 20 }, (_, i) => (i % 2 ? { slept: 2 } : { i })));
      expect(thrown).toBe(3);
      // Every throw reached the supervisor (throws in one actor message count as one crash); one
      // that escaped as a bare callback's uncaught error would fail this test run.
      expect(crashes).toBeGreaterThanOrEqual(1);
      expect(crashes).toBeLessThanOrEqual(3);
    });
  }
});
