import { afterEach, describe, expect, it } from "vitest";
import { AllotError, ErrorCode, createWsTransport, startNode } from "../../src/index.js";
import type { Handler, RunningApp, RunningNode } from "../../src/index.js";
import { drainServer, queryStatus } from "../../src/node/query.js";
import type { AllocatorStatus, ServerStatusRow } from "../../src/protocol/index.js";
import { testCluster } from "../helpers/credentials.js";
import { trackNodes } from "../helpers/nodes.js";
import { RawClient, eventually, within } from "../helpers/raw-client.js";

const track = trackNodes();
const quiet = { logLevel: "silent" as const };
const raws: RawClient[] = [];
afterEach(async () => {
  for (const r of raws.splice(0)) await r.close().catch(() => {});
});

/** A handler that runs until the test lets it go. */
function gated(): { handler: Handler; release(): void; started(): number } {
  let open: () => void = () => {};
  const gate = new Promise<void>((r) => (open = r));
  let started = 0;
  return {
    handler: async () => {
      started++;
      await gate;
      return "done";
    },
    release: () => open(),
    started: () => started,
  };
}

function rows(tier2: RunningNode): ServerStatusRow[] {
  return tier2.stats().servers as ServerStatusRow[];
}
const row = (tier2: RunningNode, id: string): ServerStatusRow | undefined => rows(tier2).find((r) => r.id === id);

async function app(tier2: RunningNode, id: string, handlers: Record<string, Handler>, drainTimeoutMs?: number): Promise<RunningApp> {
  const a = await track(startNode({ ...quiet, role: "app", id, capacity: 2, power: 1, join: [tier2.url], apps: ["waits", "echo"], handlers, workers: 0, ...(drainTimeoutMs === undefined ? {} : { drainTimeoutMs }) }));
  await eventually(() => row(tier2, id)?.status === "alive", 5000, `${id} to register`);
  return a;
}

async function raw(url: string, node: string): Promise<RawClient> {
  const r = await RawClient.open(url, node);
  raws.push(r);
  await r.hello("client");
  return r;
}

let seq = 0;
function place(key: string, app = "echo", client = "raw") {
  const id = `drain-task-${++seq}`;
  return { task: { id, key, app, deadline: Date.now() + 5000, require: [], clientAttrs: {}, prefs: {}, payload: seq }, client: { id: client, addr: "" } };
}

describe("draining an app server", () => {
  it("lets its running task finish, is never chosen while it drains, then leaves the table (not dead)", async () => {
    const tier2 = await track(startNode({ ...quiet, role: "tier2" }));
    const g = gated();
    const a = await app(tier2, "app-a", { waits: g.handler });
    const client = await track(startNode({ ...quiet, role: "client", entries: [tier2.url], backoffMinMs: 5, backoffMaxMs: 50 }));
    // Only app-a is there: the task runs on it.
    const running = client.submit({ app: "waits", timeoutMs: 10_000 });
    await eventually(() => g.started() === 1, 5000, "the run to start");
    await app(tier2, "app-b", { waits: g.handler });
    let drained = false;
    void a.drain().then(() => (drained = true));
    // The allocator hears of it at once, from the server's report.
    await eventually(() => row(tier2, "app-a")?.status === "draining", 5000, "app-a to show draining");
    expect(a.stats().draining).toBe(true);
    const shown = (await queryStatus(tier2.url)) as AllocatorStatus;
    expect(shown.servers.find((r) => r.id === "app-a")?.status).toBe("draining");
    for (let i = 0; i < 10; i++) expect((await client.submit({ app: "echo", payload: i })).serverId).toBe("app-b");
    expect(drained).toBe(false);
    // The running task finishes with its own result, not DRAINING.
    g.release();
    await expect(within(running, 5000, "the running task")).resolves.toMatchObject({ serverId: "app-a", result: "done" });
    await within(a.drained, 5000, "the drain to finish");
    // It left: gone from the table, not kept as a dead entry.
    await eventually(() => row(tier2, "app-a") === undefined, 5000, "app-a to leave the table");
    expect(rows(tier2).map((r) => `${r.id}:${r.status}`)).toEqual(["app-b:alive"]);
  });

  it("refuses a run DRAINING, and the key goes elsewhere on its next placement, never back to the draining server", async () => {
    const tier2 = await track(startNode({ ...quiet, role: "tier2" }));
    const g = gated();
    const a = await app(tier2, "app-a", { waits: g.handler });
    const placer = await raw(tier2.url, "placer");
    const first = await placer.call("task.place", place("k-1", "echo", "placer"));
    if (first.type !== "task.placed") throw new Error(`expected task.placed, got ${first.type}`);
    expect(first.body.serverId).toBe("app-a");
    // Hold a run on app-a, so the drain lasts while the test looks.
    const holder = await raw(tier2.url, "holder");
    const held = await holder.call("task.place", place("k-held", "waits", "holder"));
    if (held.type !== "task.placed") throw new Error(`expected task.placed, got ${held.type}`);
    const runner = await raw(held.body.serverUrl, "holder");
    const heldRun = runner.call("task.run", { taskId: held.body.taskId, key: "k-held", app: "waits", ticket: held.body.ticket, payload: null }, 10_000);
    heldRun.catch(() => {});
    await eventually(() => g.started() === 1, 5000, "the held run to start");
    await app(tier2, "app-b", { waits: g.handler });
    void a.drain();
    await eventually(() => row(tier2, "app-a")?.status === "draining", 5000, "app-a to show draining");
    // The run of a placement made before the drain is refused, retryable: its client places it again.
    const run = await raw(first.body.serverUrl, "placer");
    const refused = await run.call("task.run", { taskId: first.body.taskId, key: "k-1", app: "echo", ticket: first.body.ticket, payload: null });
    expect(refused).toMatchObject({ type: "error", body: { code: ErrorCode.DRAINING, retryable: true } });
    // Placed again with no avoid list: the key memory does not send it back to the draining server.
    const again = await placer.call("task.place", place("k-1", "echo", "placer"));
    expect(again).toMatchObject({ type: "task.placed", body: { serverId: "app-b" } });
    // An announcement after the drain holds no slot: refused DRAINING too.
    expect(a.stats().expected).toBe(0);
    g.release();
    await expect(within(heldRun, 5000, "the held run")).resolves.toMatchObject({ type: "task.result", body: { result: "done" } });
    await within(a.drained, 5000, "the drain to finish");
  });

  it("drains through the allocator (server.drain relayed), refuses an unknown server naming it, and times out a run that will not end", async () => {
    const tier2 = await track(startNode({ ...quiet, role: "tier2" }));
    const g = gated();
    const a = await app(tier2, "app-a", { waits: g.handler }, 300);
    const client = await track(startNode({ ...quiet, role: "client", entries: [tier2.url], backoffMinMs: 5, backoffMaxMs: 50 }));
    const err = await drainServer(tier2.url, "app-nope").then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AllotError);
    expect((err as AllotError).code).toBe(ErrorCode.INVALID);
    expect((err as AllotError).message).toContain("app-nope");
    // A run that never ends: past the drain timeout it is stopped (DRAINING, retryable) as a stop would.
    const stuck = client.submit({ app: "waits", timeoutMs: 3000 }).catch((e: unknown) => e);
    await eventually(() => g.started() === 1, 5000, "the run to start");
    await drainServer(tier2.url, "app-a");
    // Marked draining at the allocator as soon as the server acknowledged.
    expect(row(tier2, "app-a")?.status).toBe("draining");
    await within(a.drained, 5000, "the drain to time out and finish");
    await eventually(() => row(tier2, "app-a") === undefined, 5000, "app-a to leave the table");
    // The client placed it again (DRAINING is retryable) until its deadline, with no server left.
    expect(await within(stuck, 10_000, "the stuck task")).toBeInstanceOf(AllotError);
    g.release();
  });

  it("drains when asked at the app server itself, and refuses a drain for another id", async () => {
    const tier2 = await track(startNode({ ...quiet, role: "tier2" }));
    const a = await app(tier2, "app-a", { waits: async () => "never run" });
    const err = await drainServer(a.url, "app-other").then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: ErrorCode.INVALID });
    await drainServer(a.url, "app-a");
    await within(a.drained, 5000, "the drain to finish");
    await eventually(() => row(tier2, "app-a") === undefined, 5000, "app-a to leave the table");
  });

  it("with authentication on, takes a drain from an admin only, relayed by the tier-2 to the server", async () => {
    const keys = testCluster();
    const common = { ...quiet, transport: createWsTransport() };
    const tier2 = await track(startNode({ ...common, ...keys.auth(keys.issue(["tier2"], "tier2-a")), role: "tier2" }));
    const a = await track(startNode({ ...common, ...keys.auth(keys.issue(["app"], "app-a")), role: "app", apps: ["echo"], capacity: 2, power: 1, join: [tier2.url] }));
    await eventually(() => row(tier2, "app-a")?.status === "alive", 10_000, "app-a to register");
    const user = { credentials: keys.issue(["client"], "user1"), clusterPub: [keys.pub] };
    await expect(drainServer(tier2.url, "app-a", user)).rejects.toMatchObject({ code: ErrorCode.UNAUTHORIZED });
    await expect(drainServer(a.url, "app-a", user)).rejects.toMatchObject({ code: ErrorCode.UNAUTHORIZED });
    expect(row(tier2, "app-a")?.status).toBe("alive");
    const admin = { credentials: keys.issue(["admin"], "ops"), clusterPub: [keys.pub] };
    await drainServer(tier2.url, "app-a", admin);
    await within(a.drained, 5000, "the drain to finish");
    await eventually(() => row(tier2, "app-a") === undefined, 5000, "app-a to leave the table");
  });

  it("drains through a master too: the server leaves the master's table", async () => {
    const master = await track(startNode({ ...quiet, role: "master" }));
    const a = await track(startNode({ ...quiet, role: "app", id: "app-m", apps: ["echo"], capacity: 2, power: 1, join: [master.url] }));
    await eventually(() => row(master, "app-m")?.status === "alive", 5000, "app-m to register");
    await drainServer(master.url, "app-m");
    await within(a.drained, 5000, "the drain to finish");
    await eventually(() => row(master, "app-m") === undefined, 5000, "app-m to leave the master's table");
    await expect(drainServer(master.url, "app-m")).rejects.toMatchObject({ code: ErrorCode.INVALID, message: expect.stringContaining("app-m") });
  });
});
