import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import type { TopSnapshot } from "../../src/cli/top.js";
import { killAll, runCli, startProc, whenLogged } from "../helpers/proc.js";
import type { NodeProc } from "../helpers/proc.js";

describe("allot start --config and allot top, across processes", () => {
  const procs: NodeProc[] = [];
  const dir = mkdtempSync(join(tmpdir(), "allot-config-top-"));

  afterAll(async () => {
    await killAll(procs);
    rmSync(dir, { recursive: true, force: true });
  });

  it("starts a tier-2 from a JSON file and an app server from a YAML file and ALLOT_* variables; top sees the server as configured", async () => {
    const t2file = join(dir, "tier2.json");
    writeFileSync(t2file, JSON.stringify({ role: "tier2", id: "cfg-t2", "log-level": "info", listen: "127.0.0.1:0" }));
    const tier2 = await startProc(["--config", t2file]);
    procs.push(tier2);
    expect(tier2.id).toBe("cfg-t2");
    const appFile = join(dir, "app.yaml");
    writeFileSync(appFile, `role: app\nid: cfg-app\njoin: [${tier2.url}]\napps: [echo]\ncapacity: 2\nattr:\n  region: eu\n`);
    // The variable wins over the file's capacity; spawned children inherit the environment.
    vi.stubEnv("ALLOT_CAPACITY", "5");
    let app: NodeProc;
    try {
      app = await startProc(["--config", appFile, "--power", "3"]);
    } finally {
      vi.unstubAllEnvs();
    }
    procs.push(app);
    await whenLogged([tier2], () => tier2.stderr().includes('"server":"cfg-app"'), "the app server to register");
    const r = await runCli(["top", "--entry", tier2.url, "--once", "-o", "json", "--interval-ms", "200"]);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as TopSnapshot;
    expect(s.servers).toHaveLength(1);
    expect(s.servers[0]).toMatchObject({ id: "cfg-app", capacity: 5, power: 3, apps: ["echo"], status: "alive", seenBy: ["cfg-t2"], completed: 0, tasksPerSec: 0 });
    const bad = await runCli(["start", "--config", appFile, "--print-config", "--role", "tier2"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(`key "join" in ${appFile}: does not apply to --role tier2`);
  }, 60_000);
});
