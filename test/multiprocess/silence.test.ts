import { afterEach, describe, expect, it } from "vitest";
import { queryStatus, startNode } from "../../src/index.js";
import type { RunningClient, RunningNode, TaskResult } from "../../src/index.js";
import { killAll, runCli, startProc } from "../helpers/proc.js";
import type { NodeProc } from "../helpers/proc.js";
import { until } from "../helpers/poll.js";
import { FakeAllocator } from "../helpers/fake-allocator.js";
import { RawClient } from "../helpers/raw-client.js";
import { PROTOCOL_VERSION } from "../../src/transport/codec.js";
import type { WireEnvelope } from "../../src/transport/codec.js";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

// Silence, not death: a SIGSTOPped node keeps its sockets open and says nothing. Each test stops
// one, and its cleanup sends SIGCONT before SIGKILL so nothing stays stopped.
let procs: NodeProc[] = [];
let nodes: RunningNode[] = [];
afterEach(async () => {
  for (const n of nodes.reverse()) await n.stop();
  for (const p of procs) if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill("SIGCONT");
  await killAll(procs);
  procs = [];
  nodes = [];
});

async function start(args: string[]): Promise<NodeProc> {
  const p = await startProc([...args, "--listen", "127.0.0.1:0", "--log-level", "warn"]);
  procs.push(p);
  return p;
}

async function client(entries: string[]): Promise<RunningClient> {
  const c = await startNode({ role: "client", entries, logLevel: "silent", backoffMinMs: 10, backoffMaxMs: 100 });
  nodes.push(c);
  return c;
}

async function serverStatus(url: string, id: string): Promise<string | undefined> {
  const s = await queryStatus(url);
  return s.role === "tier2" || s.role === "master" ? s.servers.find((r) => r.id === id)?.status : undefined;
}

async function running(url: string): Promise<number> {
  const s = await queryStatus(url);
  return s.role === "app" ? s.runningCount : 0;
}

const alive = async (t2: string, ids: string[]): Promise<boolean> => (await Promise.all(ids.map((id) => serverStatus(t2, id)))).every((s) => s === "alive");

describe("a SIGSTOPped app server (silent, its sockets open)", () => {
  it("is out of selection within 2 s, and the tasks running on it finish on the other server well before their deadline, each reported once", async () => {
    const t2 = await start(["--role", "tier2", "--id", "s-t2"]);
    const [a1, a2] = await Promise.all(["s-a1", "s-a2"].map((id) => start(["--role", "app", "--id", id, "--join", t2.url, "--apps", "sleep", "--capacity", "8"])));
    if (!a1 || !a2) throw new Error("two app servers");
    await until(() => alive(t2.url, ["s-a1", "s-a2"]), "both servers to register");
    const c = await client([t2.url]);

    // 8 tasks of 1 s over 2 servers: some run on s-a1 when it stops.
    const settled = new Map<string, { at: number; r?: TaskResult; err?: unknown }>();
    const tasks = Array.from({ length: 8 }, (_, i) =>
      c.submit({ app: "sleep", payload: { ms: 1000 }, key: `stop-${i}`, timeoutMs: 10_000 }).then(
        (r) => void settled.set(`stop-${i}`, { at: Date.now(), r }),
        (err: unknown) => void settled.set(`stop-${i}`, { at: Date.now(), err }),
      ),
    );
    await until(async () => (await running(a1.url)) >= 1, "a task to run on s-a1");
    const onA1 = await running(a1.url);
    a1.proc.kill("SIGSTOP");
    const stoppedAt = Date.now();

    await until(async () => (await serverStatus(t2.url, "s-a1")) !== "alive", "the tier-2 to take s-a1 out of selection", 200);
    const detectedMs = Date.now() - stoppedAt;
    await Promise.all(tasks);
    const lastMs = Math.max(...[...settled.values()].map((s) => s.at)) - stoppedAt;
    console.log(`SIGSTOP of an app server: ${onA1} task(s) on it; out of selection after ${detectedMs} ms; all 8 done ${lastMs} ms after the stop (1 s tasks)`);

    expect(detectedMs).toBeLessThan(2500); // the 2 s target plus one status poll on a loaded machine
    expect(["suspect", "dead"]).toContain(await serverStatus(t2.url, "s-a1"));
    for (const [key, s] of settled) {
      expect(s.err, `${key} failed`).toBeUndefined();
      // Finished while s-a1 was stopped, so on the other one.
      expect(s.r?.serverId, key).toBe("s-a2");
    }
    // The tasks placed again finished well before their 10 s deadline.
    expect(lastMs).toBeLessThan(7000);

    // Resumed, s-a1 finishes its old runs; their results go nowhere: every task was reported once.
    a1.proc.kill("SIGCONT");
    await until(async () => (await running(a1.url)) === 0, "s-a1 to finish its old runs");
    expect(settled.size).toBe(8);
    const again = await c.submit({ app: "sleep", payload: { ms: 1 }, key: "stop-0", timeoutMs: 10_000 });
    expect(again.serverId).toBeDefined();
  }, 60_000);
});

/**
 * Runs task `n` on a new connection, read after the old one's buffered frames: once it is
 * answered, whatever the old connection left has been handled too. Then the server's completed count.
 */
async function completedAfterAFreshRun(app: NodeProc, allocator: FakeAllocator, n: number): Promise<number | undefined> {
  const fresh = await RawClient.open(app.url, "alice");
  try {
    await fresh.hello("client", 10_000);
    const answer = await fresh.call("task.run", { taskId: `t${n}`, key: `k${n}`, app: "echo", ticket: allocator.sign(n, Date.now() + 60_000, "alice"), payload: "fresh" }, 10_000);
    expect(answer).toMatchObject({ type: "task.result", body: { result: "fresh" } });
  } finally {
    await fresh.close();
  }
  const s = await queryStatus(app.url);
  return s.role === "app" ? s.completed : undefined;
}

describe("a SIGSTOPped app server that resumes", () => {
  it("does not start a run whose client closed the link while it was stopped (the run still in its socket buffer)", async () => {
    const allocator = await FakeAllocator.start();
    try {
      const app = await start(["--role", "app", "--id", "paused", "--apps", "echo", "--capacity", "2", "--power", "1", "--join", allocator.url]);
      await until(async () => allocator.report?.ticketKey !== undefined, "the app server's report");
      const late = await RawClient.open(app.url, "alice");
      await late.hello("client");
      app.proc.kill("SIGSTOP");
      // What a client that judged the server silent leaves behind: its run, then the closed socket.
      late.request("task.run", { taskId: "t1", key: "k1", app: "echo", ticket: allocator.sign(1, Date.now() + 60_000, "alice"), payload: "stale" });
      await late.closeWithFrame(4002, "peer silent");
      app.proc.kill("SIGCONT");
      expect(await completedAfterAFreshRun(app, allocator, 2)).toBe(1);
    } finally {
      await allocator.close();
    }
  });
});

describe("an app server whose event loop was wedged", () => {
  it("does not start a run it read before the wedge once its client has closed the link during it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "allot-stall-"));
    const allocator = await FakeAllocator.start();
    try {
      const handlers = fileURLToPath(new URL("../fixtures/handlers/stall.mjs", import.meta.url));
      const app = await start(["--role", "app", "--id", "wedged", "--apps", "stall,echo", "--handlers", handlers, "--workers", "0", "--capacity", "2", "--power", "1", "--join", allocator.url]);
      await until(async () => allocator.report?.ticketKey !== undefined, "the app server's report");
      const c = await RawClient.open(app.url, "alice");
      await c.hello("client");
      const started = join(dir, "started");
      const run = (n: number, app: string, payload: unknown): WireEnvelope => [PROTOCOL_VERSION, "task.run", 100 + n, 0, "alice", { taskId: `t${n}`, key: `k${n}`, app, ticket: allocator.sign(n, Date.now() + 60_000, "alice"), payload }];
      // One frame: the stall, and behind it a run that waits in the server's mailbox meanwhile.
      c.send([run(1, "stall", { file: started, ms: 2500 }), run(2, "echo", "queued")]);
      await until(async () => existsSync(started), "the stall to begin");
      // The client gives up during the stall, as one that judged the server silent does.
      await c.closeWithFrame(4002, "peer silent");
      // The stall and the fresh run; not the run that waited behind the stall for a client now gone.
      expect(await completedAfterAFreshRun(app, allocator, 3)).toBe(2);
    } finally {
      await allocator.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});

describe("a SIGSTOPped tier-2 (an allocator silent mid-request)", () => {
  it("costs a task only the detection time: the client asks the other tier-2 before the task's deadline", async () => {
    const [t2a, t2b] = await Promise.all(["s-t2a", "s-t2b"].map((id) => start(["--role", "tier2", "--id", id])));
    if (!t2a || !t2b) throw new Error("two tier-2s");
    const app = await start(["--role", "app", "--id", "s-app", "--join", `${t2a.url},${t2b.url}`, "--apps", "sleep", "--capacity", "16"]);
    await until(async () => (await alive(t2a.url, ["s-app"])) && (await alive(t2b.url, ["s-app"])), "the server to register with both");
    const c = await client([t2a.url, t2b.url]);
    await c.submit({ app: "sleep", payload: { ms: 1 } }); // both links up

    t2a.proc.kill("SIGSTOP");
    const stoppedAt = Date.now();
    // A deadline shorter than the client's 5 s entry timeout: only detecting the silence saves these.
    const results = await Promise.allSettled(Array.from({ length: 4 }, () => c.submit({ app: "sleep", payload: { ms: 10 }, timeoutMs: 4000 })));
    const tookMs = Date.now() - stoppedAt;
    console.log(`SIGSTOP of a tier-2: 4 tasks placed through the other one within ${tookMs} ms of the stop`);
    for (const r of results) {
      expect(r.status).toBe("fulfilled");
      if (r.status === "fulfilled") expect(r.value.serverId).toBe("s-app");
    }
    expect(app.proc.exitCode).toBeNull();
  }, 60_000);
});

describe("a SIGSTOPped proxy slave (a front silent mid-request)", () => {
  it("costs its tasks only the detection time: the client asks a master again, avoiding that slave", async () => {
    const master = await start(["--role", "master", "--id", "s-m"]);
    const app = await start(["--role", "app", "--id", "s-m-app", "--join", master.url, "--apps", "sleep", "--capacity", "16"]);
    const [sl1, sl2] = await Promise.all(["s-sl1", "s-sl2"].map((id) => start(["--role", "slave", "--id", id, "--master", master.url, "--link", "proxy"])));
    if (!sl1 || !sl2) throw new Error("two slaves");
    const slavesAlive = async (): Promise<boolean> => {
      const s = await queryStatus(master.url);
      return s.role === "master" && s.servers.some((r) => r.id === "s-m-app" && r.status === "alive") && (s.slaves ?? []).filter((r) => r.status === "alive").length === 2;
    };
    await until(slavesAlive, "the server and both slaves to register");
    const c = await client([master.url]);
    // Tasks in flight through both slaves when one stops.
    const tasks = Array.from({ length: 6 }, (_, i) => c.submit({ app: "sleep", payload: { ms: 1500 }, key: `sl-${i}`, timeoutMs: 8000 }));
    await until(async () => (await running(app.url)) === 6, "all six to run");
    sl1.proc.kill("SIGSTOP");
    const stoppedAt = Date.now();
    const results = await Promise.allSettled(tasks);
    const tookMs = Date.now() - stoppedAt;
    console.log(`SIGSTOP of a proxy slave: 6 tasks in flight done ${tookMs} ms after the stop (1.5 s tasks, 8 s deadline)`);
    for (const r of results) {
      expect(r.status, r.status === "rejected" ? String(r.reason) : "").toBe("fulfilled");
      if (r.status === "fulfilled") expect(r.value.slaveId).toBe("s-sl2");
    }
  }, 60_000);
});

describe("allot submit with --heartbeat-ms and --silence-ms", () => {
  it("gives up on a SIGSTOPped entry after its own --silence-ms and places the task through the next one, inside a deadline the default 1.5 s would miss", async () => {
    const [stopped, other] = await Promise.all(["s-t2-stopped", "s-t2-other"].map((id) => start(["--role", "tier2", "--id", id])));
    if (!stopped || !other) throw new Error("two tier-2s");
    await start(["--role", "app", "--id", "s-sub-app", "--join", other.url, "--apps", "echo", "--capacity", "4"]);
    await until(() => alive(other.url, ["s-sub-app"]), "the server to register");
    // Accepts the TCP connection (the kernel does) and never completes the WebSocket upgrade.
    stopped.proc.kill("SIGSTOP");
    // The stopped entry is first in the round robin. With the default silence (1,500 ms) its dial
    // alone outlasts the 1,400 ms deadline: the task then fails TIMEOUT (exit 1).
    const r = await runCli(["submit", "--entry", `${stopped.url},${other.url}`, "--app", "echo", "--payload", '"x"', "--timeout-ms", "1400", "--heartbeat-ms", "50", "--silence-ms", "200"], 30_000);
    expect(r.stderr).not.toMatch(/TIMEOUT|Unknown option/);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { serverId: string; result: unknown; attempts: number };
    expect(out).toMatchObject({ serverId: "s-sub-app", result: "x" });
    expect(out.attempts).toBe(2); // the first through the stopped entry, given up on
  }, 60_000);
});
