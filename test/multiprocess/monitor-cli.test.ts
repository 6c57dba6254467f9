import { mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { killAll, runCli, startProc, whenLogged } from "../helpers/proc.js";
import type { NodeProc } from "../helpers/proc.js";

// Runs bin/allot.js → dist: `npm run build` first.
const procs: NodeProc[] = [];
afterEach(async () => {
  await killAll(procs.splice(0));
});

/** The monitoring address a node logged (pino JSON on stderr). */
function loggedHttp(p: NodeProc): string | undefined {
  for (const line of p.stderr().split("\n")) {
    if (!line.includes("monitoring port listening")) continue;
    return (JSON.parse(line) as { http: string }).http;
  }
  return undefined;
}

async function started(args: string[]): Promise<{ p: NodeProc; http: string }> {
  const p = await startProc([...args, "--log-format", "json"]);
  procs.push(p);
  await whenLogged([p], () => loggedHttp(p) !== undefined, "the monitoring port's address in the log");
  return { p, http: loggedHttp(p) as string };
}

describe("allot start --http", () => {
  it("logs the monitoring address (stdout keeps only the ready line) and serves /metrics, /healthz, /readyz", async () => {
    const { p, http } = await started(["--role", "tier2", "--http", "127.0.0.1:0"]);
    expect(http).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(p.stdout().trim().split("\n")).toEqual([`ready tier2 ${p.id} ${p.url}`]);
    const metrics = await fetch(`${http}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toMatch(/^allot_tasks_placed_total\{node="[^"]+",role="tier2"\} 0$/m);
    expect((await fetch(`${http}/healthz`)).status).toBe(200);
    const ready = await fetch(`${http}/readyz`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { reason: string }).reason).toMatch(/no live app server/);
  });

  it("a bad address or a port in use exits 2 naming --http", async () => {
    const bad = await runCli(["start", "--role", "tier2", "--http", "localhost"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--http: expected HOST:PORT/);
    const badPort = await runCli(["start", "--role", "tier2", "--http", "127.0.0.1:70000"]);
    expect(badPort.code).toBe(2);
    expect(badPort.stderr).toMatch(/--http/);

    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
    try {
      const port = (blocker.address() as AddressInfo).port;
      const inUse = await runCli(["start", "--role", "tier2", "--http", `127.0.0.1:${port}`]);
      expect(inUse.code).toBe(2);
      expect(inUse.stderr).toMatch(new RegExp(`--http: 127\\.0\\.0\\.1:${port} is already in use`));
      expect(inUse.stdout).toBe("");
    } finally {
      await new Promise<void>((r) => blocker.close(() => r()));
    }
  });

  it("with --credentials, /metrics needs a token from allot keys token --credentials ADMIN_FILE (else 401 JSON)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "allot-monitor-"));
    expect((await runCli(["keys", "init", "--out", join(dir, "k")])).code).toBe(0);
    const key = join(dir, "k", "cluster.key");
    const pub = join(dir, "k", "cluster.pub");
    expect((await runCli(["keys", "issue", "--cluster-key", key, "--role", "tier2", "--id", "t2", "--out", join(dir, "t2.json")])).code).toBe(0);
    expect((await runCli(["keys", "issue", "--cluster-key", key, "--role", "admin", "--id", "ops", "--out", join(dir, "ops.json")])).code).toBe(0);
    expect((await runCli(["keys", "issue", "--cluster-key", key, "--role", "client", "--id", "c", "--out", join(dir, "c.json")])).code).toBe(0);
    const { http } = await started(["--role", "tier2", "--id", "t2", "--credentials", join(dir, "t2.json"), "--cluster-pub", pub, "--http", "127.0.0.1:0"]);

    const token = await runCli(["keys", "token", "--credentials", join(dir, "ops.json"), "--ttl", "1h"]);
    expect(token.code).toBe(0);
    expect(token.stdout).toMatch(/^allot1\.[\w-]+\.[\w-]+\n$/);
    const notAdmin = await runCli(["keys", "token", "--credentials", join(dir, "c.json")]);
    expect(notAdmin.code).toBe(2);
    expect(notAdmin.stderr).toMatch(/--credentials: grants client, not admin/);

    const denied = await fetch(`${http}/metrics`);
    expect(denied.status).toBe(401);
    expect(denied.headers.get("content-type")).toMatch(/^application\/json/);
    expect(((await denied.json()) as { error: string }).error).toMatch(/admin's token/);
    expect((await fetch(`${http}/healthz`)).status).toBe(200);
    const ok = await fetch(`${http}/metrics`, { headers: { authorization: `Bearer ${token.stdout.trim()}` } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toMatch(/^# TYPE allot_tasks_placed_total counter$/m);
  });
});
