import { setTimeout as delay } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { killAll, runCli, startProc, whenLogged } from "../helpers/proc.js";
import type { NodeProc } from "../helpers/proc.js";

import type { Summary } from "../../src/cli/load.js";

interface Row {
  id: string;
  status: string;
}

/**
 * Polls `allot status --json` at a master (bounded in time and count) until every app server and
 * every slave named is alive in its database.
 */
async function membersAlive(entry: string, servers: readonly string[], slaves: readonly string[], timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  const alive = (rows: Row[] | undefined, ids: readonly string[]): boolean => ids.every((id) => rows?.some((s) => s.id === id && s.status === "alive") === true);
  let last = "";
  for (let i = 0; i < 100 && Date.now() < until; i++) {
    const r = await runCli(["status", "--entry", entry, "--json"], 5_000);
    if (r.code === 0) {
      const db = JSON.parse(r.stdout) as { servers: Row[]; slaves?: Row[] };
      if (alive(db.servers, servers) && alive(db.slaves, slaves)) return;
      last = r.stdout;
    } else last = r.stderr;
    await delay(50);
  }
  throw new Error(`${entry}: not all of ${[...servers, ...slaves].join(", ")} alive within ${timeoutMs} ms; last: ${last}`);
}

const count = (s: string, re: RegExp): number => (s.match(re) ?? []).length;
const sum = (r: Record<string, number>): number => Object.values(r).reduce((a, b) => a + b, 0);

describe("master/slave design, every node in its own process", () => {
  const procs: NodeProc[] = [];
  let masters: NodeProc[] = [];
  let slaves: NodeProc[] = [];
  let apps: NodeProc[] = [];
  let entries = "";

  const start = async (args: string[]): Promise<NodeProc> => {
    const p = await startProc([...args, "--listen", "127.0.0.1:0"]);
    procs.push(p);
    return p;
  };

  beforeAll(async () => {
    const m1 = await start(["--role", "master", "--id", "ms-m1"]);
    const m2 = await start(["--role", "master", "--id", "ms-m2", "--peers", m1.url]);
    masters = [m1, m2];
    entries = `${m1.url},${m2.url}`;
    [slaves, apps] = await Promise.all([
      Promise.all((["proxy", "direct"] as const).map((link) => start(["--role", "slave", "--id", `ms-slave-${link}`, "--master", entries, "--link", link]))),
      Promise.all([1, 2, 3].map((i) => start(["--role", "app", "--id", `ms-app-${i}`, "--join", entries, "--apps", "echo,hash,sleep", "--capacity", "8"]))),
    ]);
    // Every master sees the three app servers and both slaves alive in its database.
    await Promise.all(masters.map((m) => membersAlive(m.url, apps.map((a) => a.id), slaves.map((s) => s.id))));
  }, 60_000);

  afterAll(async () => {
    await killAll(procs);
  });

  it("starts two masters, a proxy and a direct slave and three app servers, each printing its ready line", async () => {
    expect(procs.map((p) => p.role).sort()).toEqual(["app", "app", "app", "master", "master", "slave", "slave"]);
    for (const p of procs) expect(p.url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/);
    // The second master linked to the first, its --peers.
    const m1 = masters[0] as NodeProc;
    await whenLogged([m1], () => m1.stderr().includes(`"peer":"ms-m2","peerRole":"master"`), "ms-m2 connecting to ms-m1");
  });

  it("runs every task through the masters' picks on both slaves, proxy and direct", async () => {
    const n = 200;
    const r = await runCli(["submit", "--entry", entries, "--app", "echo", "--payload", '{"n":1}', "--count", String(n), "--concurrency", "8", "--json"], 20_000);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as Summary;
    expect(s.completed).toBe(n);
    expect(s.failed).toBe(0);
    expect(sum(s.byServer)).toBe(n);
    for (const id of Object.keys(s.byServer)) expect(apps.map((a) => a.id)).toContain(id);
    // Both link modes carried tasks.
    expect(Object.keys(s.bySlave ?? {}).sort()).toEqual(["ms-slave-direct", "ms-slave-proxy"]);
    for (const id of ["ms-slave-direct", "ms-slave-proxy"]) expect(s.bySlave?.[id]).toBeGreaterThan(0);
    expect(sum(s.bySlave ?? {})).toBe(n);
    // The direct slave sent the client to the server itself: some app server took a client connection.
    expect(apps.some((a) => a.stderr().includes(`"peerRole":"client"`))).toBe(true);
  });

  it("completes every task when master 1 is SIGKILLed mid-run", async () => {
    const n = 300;
    const [m1, m2] = masters as [NodeProc, NodeProc];
    const clients = (p: NodeProc): number => count(p.stderr(), /"peerRole":"client"/g);
    const slavesBefore = slaves.map(clients);
    const appsBefore = apps.reduce((a, p) => a + clients(p), 0);
    let settled = false;
    const run = runCli(["submit", "--entry", entries, "--app", "sleep", "--payload", '{"ms":20}', "--count", String(n), "--concurrency", "8", "--timeout-ms", "20000", "--json"], 25_000).finally(() => {
      settled = true;
    });
    // Tasks are flowing through the whole path: the masters picked both slaves for the new client,
    // which connected to each, and the direct slave sent it on to an app server.
    await Promise.all([
      ...slaves.map((s, i) => whenLogged([s], () => clients(s) > (slavesBefore[i] as number), `${s.id} taking the submit's client`)),
      whenLogged(apps, () => apps.reduce((k, p) => k + clients(p), 0) > appsBefore, "an app server taking the submit's client"),
    ]);
    expect(settled, "the submit finished before master 1 could be killed").toBe(false);
    const exited = new Promise<NodeJS.Signals | null>((resolve) => m1.proc.once("exit", (_code, signal) => resolve(signal)));
    m1.proc.kill("SIGKILL");
    expect(await exited).toBe("SIGKILL");
    const r = await run;
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as Summary;
    expect(s.completed).toBe(n);
    expect(s.failed).toBe(0);
    expect(sum(s.byServer)).toBe(n);
    expect(sum(s.bySlave ?? {})).toBe(n);
    // The slaves stay registered with master 2, which keeps placing: a new client listing the dead
    // master first still gets every task done.
    expect([m2.proc.exitCode, m2.proc.signalCode]).toEqual([null, null]);
    const after = await runCli(["submit", "--entry", entries, "--app", "echo", "--count", "20", "--concurrency", "4", "--timeout-ms", "10000", "--json"], 15_000);
    expect(after.code, after.stderr).toBe(0);
    expect(JSON.parse(after.stdout) as Summary).toMatchObject({ completed: 20, failed: 0 });
  }, 60_000);
});
