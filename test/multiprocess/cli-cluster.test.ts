import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { killAll, runCli, startProc } from "../helpers/proc.js";
import type { NodeProc } from "../helpers/proc.js";

import type { Summary } from "../../src/cli/load.js";

/** Waits (bounded) until `cond` holds on a process's stderr; event-driven on its output. */
function waitForLog(p: NodeProc, cond: (stderr: string) => boolean, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    if (cond(p.stderr())) return resolve();
    const timer = setTimeout(() => {
      p.proc.stderr?.off("data", check);
      reject(new Error(`log condition not met within ${timeoutMs} ms on ${p.id}`));
    }, timeoutMs);
    const check = (): void => {
      if (!cond(p.stderr())) return;
      clearTimeout(timer);
      p.proc.stderr?.off("data", check);
      resolve();
    };
    p.proc.stderr?.on("data", check);
  });
}


describe("allot CLI, every role in its own process", () => {
  const procs: NodeProc[] = [];
  let entry = "";
  let apps: NodeProc[] = [];
  let tier2: NodeProc[] = [];

  beforeAll(async () => {
    const start = async (args: string[]): Promise<NodeProc> => {
      const p = await startProc(args);
      procs.push(p);
      return p;
    };
    tier2 = await Promise.all([1, 2].map((i) => start(["--role", "distributor", "--tier", "2", "--id", `t2-${i}`, "--listen", "127.0.0.1:0"])));
    const t2urls = tier2.map((t) => t.url).join(",");
    apps = await Promise.all(
      [1, 2, 3].map((i) =>
        start(["--role", "app", "--id", `app-${i}`, "--listen", "127.0.0.1:0", "--join", t2urls, "--apps", "echo,sleep", "--capacity", "8", "--power", String(i), "--attr", `region=${i === 1 ? "eu" : "us"}`]),
      ),
    );
    // Every tier-2 distributor has logged the join of every app server before tasks flow.
    await Promise.all(tier2.map((t) => waitForLog(t, (s) => apps.every((a) => s.includes(`"server":"${a.id}"`)))));
    const vip2 = await start(["--role", "vip", "--id", "vip-2", "--listen", "127.0.0.1:0", "--to", t2urls]);
    const tier1 = await Promise.all([1, 2].map((i) => start(["--role", "distributor", "--tier", "1", "--id", `t1-${i}`, "--listen", "127.0.0.1:0", "--to", vip2.url])));
    const vip1 = await start(["--role", "vip", "--id", "vip-1", "--listen", "127.0.0.1:0", "--to", tier1.map((t) => t.url).join(",")]);
    entry = vip1.url;
  }, 60_000);

  afterAll(async () => {
    await killAll(procs);
  });

  it("prints one ready line per node with its role, id and a ws:// URL", () => {
    for (const p of procs) expect(p.url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/);
    expect(procs.map((p) => p.role).sort()).toEqual(["app", "app", "app", "tier1", "tier1", "tier2", "tier2", "vip", "vip"]);
  });

  it("runs tasks submitted through the vip on the app servers, over a direct client connection", async () => {
    const r = await runCli(["submit", "--entry", entry, "--app", "echo", "--payload", '{"n":1}', "--count", "60", "--concurrency", "8", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as Summary;
    expect(s.completed).toBe(60);
    expect(s.failed).toBe(0);
    const ids = Object.keys(s.byServer);
    expect(ids.length).toBeGreaterThan(0);
    for (const id of ids) expect(apps.map((a) => a.id)).toContain(id);
    expect(Object.values(s.byServer).reduce((a, b) => a + b, 0)).toBe(60);
    // A server that ran tasks accepted a connection from the client itself, not from a distributor.
    for (const id of ids) {
      const app = apps.find((a) => a.id === id) as NodeProc;
      expect(app.stderr()).toMatch(/"peerRole":"client"/);
    }
  });

  it("returns one task's result as JSON, with the id of the server that ran it", async () => {
    const r = await runCli(["submit", "--entry", entry, "--app", "echo", "--payload", '{"hello":"world"}']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { result: unknown; serverId: string };
    expect(out.result).toEqual({ hello: "world" });
    expect(apps.map((a) => a.id)).toContain(out.serverId);
  });

  it("places only on servers meeting --require", async () => {
    const r = await runCli(["submit", "--entry", entry, "--app", "echo", "--require", "power>=3", "--count", "20", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    expect(Object.keys((JSON.parse(r.stdout) as Summary).byServer)).toEqual(["app-3"]);
  });

  it("fails a task for an application nobody offers with NO_SERVER naming it, exit 1", async () => {
    const r = await runCli(["submit", "--entry", entry, "--app", "render", "--timeout-ms", "3000"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/NO_SERVER.*render/);
  });

  it("rejects a bad flag naming it, exit 2", async () => {
    const r = await runCli(["submit", "--entry", entry, "--app", "echo", "--count", "lots"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--count");
    const s = await runCli(["start", "--role", "distributor", "--tier", "3"]);
    expect(s.code).toBe(2);
    expect(s.stderr).toContain("--tier");
    // An application with no handler is refused before anything starts, naming --apps.
    const a = await runCli(["start", "--role", "app", "--join", entry, "--apps", "render"], 15_000);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/--apps: no handler for application "render"/);
    // A configuration that fails after the listener is bound (a monitoring port already taken: the vip's) still exits, leaving nothing behind.
    const h = await runCli(["start", "--role", "app", "--join", entry, "--apps", "echo", "--http", new URL(entry).host], 15_000);
    expect(h.code).toBe(2);
    expect(h.stderr).toContain("--http");
  });

  it("shows a tier-2 distributor's server database with allot status, as text and as JSON", async () => {
    const t2 = tier2[0] as NodeProc;
    const j = await runCli(["status", "--entry", t2.url, "--json"]);
    expect(j.code, j.stderr).toBe(0);
    const db = JSON.parse(j.stdout) as { node: string; servers: Array<{ id: string; apps: string[]; status: string; capacity: number; version: [number, number]; attrs: Record<string, unknown> }>; clients: unknown[]; users: unknown[]; taskTypes: unknown[] };
    expect(db.node).toBe(t2.id);
    const live = apps.filter((a) => a.proc.exitCode === null && a.proc.signalCode === null).map((a) => a.id);
    for (const id of live) {
      const row = db.servers.find((r) => r.id === id);
      expect(row).toMatchObject({ status: "alive", capacity: 8, apps: ["echo", "sleep"] });
      expect(row?.version[1]).toBeGreaterThan(0);
    }
    expect(db.servers.find((r) => r.id === "app-2")?.attrs).toEqual({ region: "us" });
    expect(db).toMatchObject({ clients: [], users: [], taskTypes: [] });
    const t = await runCli(["status", "--entry", t2.url]);
    expect(t.code, t.stderr).toBe(0);
    expect(t.stdout).toContain(`allocator ${t2.id}`);
    expect(t.stdout).toMatch(/app-2\s+alive\s+load \d+\/8/);
    // A vip answers with its own view (its members), not a tier-2's database.
    const v = await runCli(["status", "--entry", entry]);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toMatch(/^vip vip-1: \d+ request\(s\) passed on, 2 member\(s\)/);
  });

  it("changes an app server's attributes at run time with allot attrs set", async () => {
    const app2 = apps[1] as NodeProc;
    const r = await runCli(["attrs", "set", "--entry", app2.url, "server", app2.id, "region=ap", "tier=2"]);
    expect(r.code, r.stderr).toBe(0);
    const t2 = tier2[0] as NodeProc;
    // Bounded: a handful of status reads, each its own process.
    let seen: Record<string, unknown> | undefined;
    for (let i = 0; i < 20 && seen?.region !== "ap"; i++) {
      const s = await runCli(["status", "--entry", t2.url, "--json"]);
      seen = (JSON.parse(s.stdout) as { servers: Array<{ id: string; attrs: Record<string, unknown> }> }).servers.find((x) => x.id === app2.id)?.attrs;
    }
    expect(seen).toEqual({ region: "ap", tier: 2 });
    const bad = await runCli(["attrs", "set", "--entry", app2.url, "server", app2.id, "no-equals-sign"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("key=value");
    // Back as it was, for the tests after this one.
    expect((await runCli(["attrs", "set", "--entry", app2.url, "server", app2.id, "region=us"])).code).toBe(0);
  });

  it("stops cleanly with exit code 0 on SIGTERM", async () => {
    const p = await startProc(["--role", "vip", "--listen", "127.0.0.1:0", "--to", entry]);
    procs.push(p);
    const exited = new Promise<number | null>((resolve) => p.proc.once("exit", (code) => resolve(code)));
    p.proc.kill("SIGTERM");
    expect(await exited).toBe(0);
  });

  it("completes every task when an app server is SIGKILLed mid-run", async () => {
    const victim = apps[0] as NodeProc;
    const before = (victim.stderr().match(/"peerRole":"client"/g) ?? []).length;
    const run = runCli(["submit", "--entry", entry, "--app", "sleep", "--payload", '{"ms":20}', "--count", "150", "--concurrency", "12", "--json"]);
    // Kill it once the new client has connected to it, i.e. while it runs tasks of this submit.
    await waitForLog(victim, (s) => (s.match(/"peerRole":"client"/g) ?? []).length > before);
    victim.proc.kill("SIGKILL");
    const r = await run;
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as Summary;
    expect(s.completed).toBe(150);
    expect(s.failed).toBe(0);
  });
});

