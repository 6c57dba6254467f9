import { describe, expect, it } from "vitest";
import { startNode } from "../../src/index.js";
import type { Handler, RunningClient, RunningNode } from "../../src/index.js";
import type { ServerStatusRow } from "../../src/protocol/index.js";
import { trackNodes } from "../helpers/nodes.js";
import { eventually, within } from "../helpers/raw-client.js";

const track = trackNodes();
const quiet = { logLevel: "silent" as const };

/**
 * The tier-2's clock, moved by hand: ejection and slow start are timed on it, so nothing here
 * sleeps for them. It starts at the real time, so the tickets it issues are valid at the servers.
 */
function manualClock(): { now: () => number; advance(ms: number): void } {
  let t = Date.now();
  return { now: () => t, advance: (ms) => void (t += ms) };
}

const row = (tier2: RunningNode, id: string): ServerStatusRow | undefined => (tier2.stats().servers as ServerStatusRow[]).find((r) => r.id === id);

/** An app server of "work". It reports on events only: a periodic one would promise a period that the tier-2's clock, moved by hand, would see missed. */
function app(tier2: RunningNode, id: string, work: Handler, capacity = 2): Promise<RunningNode> {
  return track(startNode({ ...quiet, role: "app", id, apps: ["work"], capacity, power: 1, join: [tier2.url], handlers: { work }, workers: 0, report: { event: true, periodicMs: 0 } }));
}

function client(tier2: RunningNode): Promise<RunningClient> {
  return track(startNode({ ...quiet, role: "client", entries: [tier2.url], backoffMinMs: 5, backoffMaxMs: 50 }));
}

describe("gray failures: outlier ejection and slow start at a tier-2", () => {
  it("ejects a server whose runs keep failing (not TASK_FAILED), sends the next tasks to the healthy one, and tries it again after the interval", async () => {
    const clock = manualClock();
    const tier2 = await track(startNode({ ...quiet, role: "tier2", now: clock.now, ejectAfter: 3, ejectMs: 30_000, slowStartMs: 0 }));
    let goodRuns = 0;
    let badRuns = 0;
    await app(tier2, "good", () => (goodRuns++, "ok"));
    // Its result cannot be sent (a function): INVALID, the run's failure, not the handler's own error.
    await app(tier2, "bad", () => (badRuns++, () => 1));
    await eventually(() => row(tier2, "good") !== undefined && row(tier2, "bad") !== undefined, 5000, "both servers to register");
    const c = await client(tier2);
    for (let i = 0; i < 60 && badRuns < 3; i++) await c.submit({ app: "work" }).catch(() => undefined);
    expect(badRuns).toBe(3);
    await eventually(() => row(tier2, "bad")?.ejectedForMs !== undefined, 5000, "the failing server to be ejected");
    expect(row(tier2, "bad")).toMatchObject({ status: "alive", failures: 3, ejectedForMs: 30_000 });
    // Ejected: every task goes to the healthy server.
    const goodBefore = goodRuns;
    for (let i = 0; i < 10; i++) expect((await c.submit({ app: "work" })).serverId).toBe("good");
    expect(badRuns).toBe(3);
    expect(goodRuns).toBe(goodBefore + 10);
    // The interval passes on the tier-2's clock: back in selection, and it is given tasks again.
    clock.advance(30_000);
    await eventually(() => row(tier2, "bad")?.ejectedForMs === undefined, 5000, "the ejection to end");
    for (let i = 0; i < 20 && badRuns === 3; i++) await c.submit({ app: "work" }).catch(() => undefined);
    expect(badRuns).toBe(4);
  });

  it("ejects a failing server at a master too: the slave's next requests get the healthy one", async () => {
    const master = await track(startNode({ ...quiet, role: "master", ejectAfter: 3, slowStartMs: 0 }));
    let badRuns = 0;
    await app(master, "good", () => "ok");
    await app(master, "bad", () => (badRuns++, () => 1));
    await track(startNode({ ...quiet, role: "slave", id: "slave-1", masters: [master.url], link: "proxy" }));
    await eventually(() => row(master, "good") !== undefined && row(master, "bad") !== undefined && (master.stats().slaves as unknown[]).length === 1, 5000, "the servers and the slave to register");
    const c = await client(master);
    for (let i = 0; i < 60 && badRuns < 3; i++) await c.submit({ app: "work" }).catch(() => undefined);
    expect(badRuns).toBe(3);
    await eventually(() => row(master, "bad")?.ejectedForMs !== undefined, 5000, "the master to eject the failing server");
    expect(master.stats().ejected).toBe(1);
    for (let i = 0; i < 10; i++) expect((await c.submit({ app: "work" })).serverId).toBe("good");
    expect(badRuns).toBe(3);
  });

  it("counts deadline timeouts, not a handler's own error (TASK_FAILED), resets on a success, and never ejects the last server", async () => {
    const tier2 = await track(startNode({ ...quiet, role: "tier2", ejectAfter: 1 }));
    const mixed: Handler = (payload, task) => {
      if (payload === "throw") throw new Error("the handler's own error");
      // Past its deadline: answered TIMEOUT by the server, which aborts it.
      if (payload === "hang") return new Promise((_, reject) => task.signal.addEventListener("abort", () => reject(new Error("aborted")), { once: true }));
      return "ok";
    };
    await app(tier2, "solo", mixed);
    await eventually(() => row(tier2, "solo") !== undefined, 5000, "the server to register");
    const c = await client(tier2);
    const failures = (): number => row(tier2, "solo")?.failures ?? 0;
    for (const n of [1, 2]) {
      await expect(c.submit({ app: "work", payload: "hang", timeoutMs: 300 })).rejects.toMatchObject({ code: "TIMEOUT" });
      await eventually(() => failures() === n, 5000, `the tier-2 to hear of failure ${n}`);
    }
    await expect(c.submit({ app: "work", payload: "throw" })).rejects.toMatchObject({ code: "TASK_FAILED" });
    // The last server of its application: not ejected, whatever its count.
    expect(row(tier2, "solo")?.ejectedForMs).toBeUndefined();
    await expect(c.submit({ app: "work", payload: "ok" })).resolves.toMatchObject({ result: "ok" });
    await eventually(() => failures() === 0, 5000, "the success to reset the count");
    expect(failures()).toBe(0);
  });

  it("gives a server that comes back a ramp of tasks, not a flood (slow start)", async () => {
    const clock = manualClock();
    const tier2 = await track(startNode({ ...quiet, role: "tier2", now: clock.now, slowStartMs: 10_000, ejectAfter: 0 }));
    const running = { steady: 0, back: 0 };
    const most = { steady: 0, back: 0 };
    const waiting: Array<() => void> = [];
    const hold = (who: "steady" | "back"): Handler => () => {
      running[who]++;
      most[who] = Math.max(most[who], running[who]);
      return new Promise<string>((resolve) => waiting.push(() => (running[who]--, resolve(who))));
    };
    await app(tier2, "steady", hold("steady"), 8);
    const first = await app(tier2, "back", hold("back"), 8);
    await eventually(() => row(tier2, "steady") !== undefined && row(tier2, "back") !== undefined, 5000, "both servers to register");
    // The fleet a tier-2 first fills with does not ramp.
    expect(row(tier2, "back")?.rampLimit).toBeUndefined();
    // "back" restarts: a new incarnation, which ramps from 1 slot.
    await first.stop();
    await eventually(() => row(tier2, "back")?.status === "dead", 5000, "the stopped server to be marked dead");
    await app(tier2, "back", hold("back"), 8);
    await eventually(() => row(tier2, "back")?.status === "alive", 5000, "the restarted server to register");
    expect(row(tier2, "back")?.rampLimit).toBe(1);
    const c = await client(tier2);
    // At the start of its ramp it holds 1 task while the steady server (room for 8) takes the rest.
    const tasks = Array.from({ length: 6 }, () => c.submit({ app: "work", timeoutMs: 20_000 }));
    await eventually(() => running.steady + running.back === 6, 10_000, "the first tasks to start");
    expect([running.steady, running.back]).toEqual([5, 1]);
    // Half the window: it may hold 4.
    clock.advance(5_000);
    await eventually(() => row(tier2, "back")?.rampLimit === 4, 5000, "the ramp to reach half the capacity");
    tasks.push(...Array.from({ length: 3 }, () => c.submit({ app: "work", timeoutMs: 20_000 })));
    await eventually(() => running.steady + running.back === 9, 10_000, "the next tasks to start");
    expect(running.back).toBeLessThanOrEqual(4);
    expect(most.back).toBeLessThan(most.steady);
    clock.advance(5_000);
    await eventually(() => row(tier2, "back")?.rampLimit === undefined, 5000, "the ramp to end");
    for (let i = 0; i < 100 && waiting.length > 0; i++) waiting.shift()?.();
    const results = await within(Promise.all(tasks), 10_000, "every task's result");
    expect(results).toHaveLength(9);
    expect(results.filter((r) => r.serverId === "back").length).toBe(most.back);
  });
});
