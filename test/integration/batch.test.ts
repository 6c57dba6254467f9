import { describe, expect, it } from "vitest";
import { ErrorCode, startNode } from "../../src/index.js";
import type { RunningNode } from "../../src/index.js";
import { MAX_BATCH_BYTES, MAX_BATCH_TASKS } from "../../src/protocol/index.js";
import type { Bodies, Message, PlacedOne, RefusedOne, Task } from "../../src/protocol/index.js";
import { PROTOCOL_VERSION } from "../../src/transport/codec.js";
import { rawHandshake } from "../helpers/credentials.js";
import { authedProbe } from "../helpers/authed-probe.js";
import { RawClient, eventually } from "../helpers/raw-client.js";

const { track, raws, keys: cluster, authed } = authedProbe();

interface AppSpec {
  id: string;
  capacity: number;
  region: string;
}

interface Cluster {
  vip1: RunningNode;
  tier1: RunningNode;
  vip2: RunningNode;
  tier2: RunningNode;
  apps: Map<string, RunningNode>;
}

function rows(n: RunningNode): Array<{ id: string; status: string; reserved: number; load: number }> {
  const s = n.stats().servers;
  return Array.isArray(s) ? (s as Array<{ id: string; status: string; reserved: number; load: number }>) : [];
}

function stat(n: RunningNode, key: string): unknown {
  return n.stats()[key];
}

const traffic = (n: RunningNode): { rejected: number; envelopesIn: number } => stat(n, "traffic") as { rejected: number; envelopesIn: number };

/** vip-1 → tier-1 → vip-2 → tier-2, every node with a credential, `apps` registered with the tier-2. */
async function startCluster(apps: readonly AppSpec[]): Promise<Cluster> {
  const tier2 = await track(startNode({ ...authed("tier2", "tier2-1"), role: "tier2", policy: "round-robin" }));
  const appNodes = new Map<string, RunningNode>();
  for (const a of apps) appNodes.set(a.id, await track(startNode({ ...authed("app", a.id), role: "app", apps: ["echo"], capacity: a.capacity, power: 1, attrs: { region: a.region }, join: [tier2.url] })));
  const vip2 = await track(startNode({ ...authed("vip", "vip-2"), role: "vip", to: [tier2.url] }));
  const tier1 = await track(startNode({ ...authed("tier1", "tier1-1"), role: "tier1", to: [vip2.url] }));
  const vip1 = await track(startNode({ ...authed("vip", "vip-1"), role: "vip", to: [tier1.url] }));
  await eventually(() => rows(tier2).filter((r) => r.status === "alive").length === apps.length, 10_000, "every app server to register");
  return { vip1, tier1, vip2, tier2, apps: appNodes };
}

/** A raw connection proven as `id` with `role`'s credential. */
async function rawAs(url: string, id: string, role: "client" | "app"): Promise<RawClient> {
  const r = await RawClient.open(url, id);
  raws.push(r);
  const { answer } = await rawHandshake(r, role, cluster.issue([role], id), cluster.pub);
  if (answer.type !== "ack") throw new Error(`handshake as ${id} answered ${answer.type}`);
  return r;
}

const task = (i: number, over: Partial<Task> = {}): Task => ({ id: `t${i}`, key: `k${i}`, app: "echo", deadline: Date.now() + 60_000, require: [], clientAttrs: {}, prefs: {}, payload: { i }, ...over });
const me = { id: "client-a", addr: "" };

async function placeBatch(c: RawClient, tasks: unknown[], client: unknown = me): Promise<Message> {
  return c.call("task.placeBatch", { tasks, client }, 10_000);
}

function results(m: Message): Array<PlacedOne | RefusedOne> {
  if (m.type !== "task.placedBatch") throw new Error(`expected task.placedBatch, got ${m.type}: ${JSON.stringify(m.body)}`);
  return m.body.results;
}

const isPlaced = (r: PlacedOne | RefusedOne): r is PlacedOne => !("error" in r);

describe("batched placement on the tiered path", () => {
  it("places a batch through vip → tier-1 → vip → tier-2 as one envelope, in order, and its tasks run on the servers with their tickets", async () => {
    const c = await startCluster([
      { id: "app-eu", capacity: 8, region: "eu" },
      { id: "app-us", capacity: 8, region: "us" },
    ]);
    const client = await rawAs(c.vip1.url, "client-a", "client");
    const tasks = Array.from({ length: 6 }, (_, i) => ({ task: task(i) }));
    const out = results(await placeBatch(client, tasks));
    expect(out.map((r) => r.taskId)).toEqual(tasks.map((t) => t.task.id));
    const placed = out.filter(isPlaced);
    expect(placed).toHaveLength(6);
    // Round robin over two servers: both get work.
    expect(new Set(placed.map((p) => p.serverId))).toEqual(new Set(["app-eu", "app-us"]));
    // One envelope at each hop, one decision per task.
    expect([stat(c.vip1, "forwarded"), stat(c.tier1, "redirected"), stat(c.vip2, "forwarded"), stat(c.tier2, "placed")]).toEqual([1, 1, 1, 6]);
    // Each server got one expect batch for its tasks and confirmed every slot.
    await eventually(() => rows(c.tier2).every((r) => r.reserved === 0 && r.load === 3), 10_000, "every slot confirmed");
    for (const p of placed.slice(0, 4)) {
      const app = c.apps.get(p.serverId) as RunningNode;
      const run = await rawAs(app.url, "client-a", "client");
      const i = Number(p.taskId.slice(1));
      const res = await run.call("task.run", { taskId: p.taskId, key: `k${i}`, app: "echo", ticket: p.ticket, payload: { i } }, 10_000);
      expect(res).toMatchObject({ type: "task.result", body: { taskId: p.taskId, serverId: p.serverId, result: { i } } });
    }
  });

  it("passes client bodies through vip-1 unread: a body only the tier-2 could refuse is refused there", async () => {
    const c = await startCluster([{ id: "app-eu", capacity: 4, region: "eu" }]);
    const client = await rawAs(c.vip1.url, "client-a", "client");
    const place = await client.call("task.place", { task: 5, client: me }, 10_000);
    const batch = await client.call("task.placeBatch", { tasks: "none", client: me }, 10_000);
    for (const m of [place, batch]) expect(m).toMatchObject({ type: "error", body: { code: ErrorCode.INVALID } });
    // Refused by the tier-2's decode boundary; vip-1, tier-1 and vip-2 never decoded the bodies.
    expect([traffic(c.vip1).rejected, traffic(c.tier1).rejected, traffic(c.vip2).rejected, traffic(c.tier2).rejected]).toEqual([0, 0, 0, 2]);
  });

  it("stamps the verified client and its address for the tier-2, over a forged id in the body or the header", async () => {
    const tier2 = await track(startNode({ ...authed("tier2", "tier2-1"), role: "tier2" }));
    const vip1 = await track(startNode({ ...authed("vip", "vip-1"), role: "vip", to: [tier2.url] }));
    // A hand-driven app server, to see the expects the tier-2 sends and answer them itself.
    const app = await rawAs(tier2.url, "fake-app", "app");
    await app.call("server.report", { server: { id: "fake-app", url: "ws://127.0.0.1:9", apps: ["echo"], capacity: 16, power: 1, load: 0, attrs: {}, version: [1, 1] } });
    await eventually(() => rows(tier2).some((r) => r.id === "fake-app" && r.status === "alive"), 10_000, "the fake app server to register");
    const client = await rawAs(vip1.url, "client-a", "client");
    const victim = { id: "client-victim", addr: "6.6.6.6:6" };
    client.send([[PROTOCOL_VERSION, "task.place", 100, 0, "client-a", { task: task(0), client: victim }, victim]]);
    client.send([[PROTOCOL_VERSION, "task.placeBatch", 101, 0, "client-a", { tasks: [1, 2, 3].map((i) => ({ task: task(i) })), client: victim }, victim]]);
    const one = await app.waitForType("task.expect", () => true, 10_000, "the expect");
    const many = await app.waitForType("task.expectBatch", () => true, 10_000, "the expect batch");
    const stamped = { id: "client-a", addr: `127.0.0.1:${client.localPort}` };
    expect(one.body.client).toEqual(stamped);
    expect(many.body.expects.map((e) => [e.taskId, e.client])).toEqual([1, 2, 3].map((i) => [`t${i}`, stamped]));
    expect(await client.waitFor((m) => m.re === 101, 10_000, "the batch's answer")).toMatchObject({ type: "task.placedBatch", body: { results: [{ serverId: "fake-app" }, { serverId: "fake-app" }, { serverId: "fake-app" }] } });
    // The server takes the first and the last of the batch and refuses the middle one: its slot goes back.
    app.reply(one.id, "task.expected", { load: 1, version: [1, 2] });
    app.reply(many.id, "task.expectedBatch", { load: 3, version: [1, 3], refused: [{ at: 1, error: { code: ErrorCode.OVERLOADED, message: "full", retryable: true } }] });
    await eventually(() => rows(tier2).some((r) => r.id === "fake-app" && r.reserved === 0 && r.load === 3), 10_000, "the slots confirmed or released");
    expect(stat(tier2, "expectRefused")).toBe(1);
  });

  it("answers each bad task of a batch on its own and places the others: malformed, a repeated id, a constraint no server meets", async () => {
    const c = await startCluster([{ id: "app-eu", capacity: 8, region: "eu" }]);
    const client = await rawAs(c.vip1.url, "client-a", "client");
    const out = results(
      await placeBatch(client, [
        { task: task(0) },
        { task: { ...task(1), app: 7 } },
        { task: task(2) },
        { task: task(2, { key: "other" }) },
        { task: task(4, { require: [{ key: "region", op: "=", value: "mars" }] }) },
        { nothing: true },
        { task: task(6) },
      ]),
    );
    expect(out.map((r) => [r.taskId, isPlaced(r) ? r.serverId : r.error.code])).toEqual([
      ["t0", "app-eu"],
      ["t1", ErrorCode.INVALID],
      ["t2", "app-eu"],
      ["t2", ErrorCode.INVALID],
      ["t4", ErrorCode.NO_SERVER],
      ["", ErrorCode.INVALID],
      ["t6", "app-eu"],
    ]);
    const refused = out.filter((r): r is RefusedOne => !isPlaced(r));
    expect(refused[0]?.error.message).toMatch(/tasks\[1\]\.task\.app/);
    expect(refused[1]?.error.message).toMatch(/not already in the batch/);
    expect(refused[2]?.error).toMatchObject({ retryable: false });
    expect(stat(c.tier2, "placed")).toBe(3);
  });

  it("places a batch larger than the free slots up to capacity, the rest NO_SERVER retryable (all at capacity)", async () => {
    const c = await startCluster([{ id: "app-eu", capacity: 3, region: "eu" }]);
    const client = await rawAs(c.vip1.url, "client-a", "client");
    const out = results(await placeBatch(client, Array.from({ length: 5 }, (_, i) => ({ task: task(i) }))));
    expect(out.map((r) => (isPlaced(r) ? r.serverId : r.error.code))).toEqual(["app-eu", "app-eu", "app-eu", ErrorCode.NO_SERVER, ErrorCode.NO_SERVER]);
    for (const r of out.slice(3)) expect(isPlaced(r) ? undefined : r.error).toMatchObject({ retryable: true, message: expect.stringMatching(/at capacity/) });
    await eventually(() => rows(c.tier2).some((r) => r.reserved === 0 && r.load === 3), 10_000, "the three slots confirmed");
    expect([stat(c.tier2, "placed"), stat(c.tier2, "refused"), stat(c.tier2, "expectRefused")]).toEqual([3, 2, 0]);
  });

  it("refuses a batch of more than MAX_BATCH_TASKS tasks, or of none, whole with INVALID", async () => {
    const c = await startCluster([{ id: "app-eu", capacity: 4, region: "eu" }]);
    const client = await rawAs(c.vip1.url, "client-a", "client");
    for (const n of [MAX_BATCH_TASKS + 1, 0]) {
      const m = await placeBatch(client, Array.from({ length: n }, (_, i) => ({ task: task(i) })));
      expect(m).toMatchObject({ type: "error", body: { code: ErrorCode.INVALID, message: expect.stringMatching(/1 to 256 tasks/) } });
    }
    expect(stat(c.tier2, "placed")).toBe(0);
    // The node keeps working: a batch of the most tasks allowed is placed (up to capacity).
    const full = results(await placeBatch(client, Array.from({ length: MAX_BATCH_TASKS }, (_, i) => ({ task: task(i) }))));
    expect(full).toHaveLength(MAX_BATCH_TASKS);
    expect(full.filter(isPlaced)).toHaveLength(4);
  });

  it("refuses a batch body over MAX_BATCH_BYTES at vip-1, before it is forwarded, and keeps the connection", async () => {
    const c = await startCluster([{ id: "app-eu", capacity: 4, region: "eu" }]);
    const client = await rawAs(c.vip1.url, "client-a", "client");
    const big = await placeBatch(client, [{ task: task(0, { payload: "x".repeat(MAX_BATCH_BYTES) }) }]);
    expect(big).toMatchObject({ type: "error", body: { code: ErrorCode.INVALID, message: expect.stringMatching(/exceeds the 1048576-byte limit/) } });
    expect([traffic(c.vip1).rejected, stat(c.vip1, "forwarded"), traffic(c.tier2).rejected]).toEqual([1, 0, 0]);
    expect(results(await placeBatch(client, [{ task: task(1) }]))).toMatchObject([{ taskId: "t1", serverId: "app-eu" }]);
  });

  it("passes lease requests and releases on through the tier-1 to the tier-2, one envelope each", async () => {
    const c = await startCluster([{ id: "app-eu", capacity: 4, region: "eu" }]);
    const client = await rawAs(c.vip1.url, "client-a", "client");
    // The tier-1 passes lease requests on (the tier-2 answers them as it does today: whatever that
    // is, it comes from the tier-2, not a refusal by the tier-1).
    const lease = await client.call("lease.release", { leases: ["l1"], client: me } satisfies Bodies["lease.release"], 10_000);
    expect(stat(c.tier1, "redirected")).toBe(1);
    expect(lease.type === "error" ? lease.body.message : "").not.toMatch(/tier-1/);
  });
});
