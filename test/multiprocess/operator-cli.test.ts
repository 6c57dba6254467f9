import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { killAll, runCli, startProc, whenLogged } from "../helpers/proc.js";
import type { NodeProc } from "../helpers/proc.js";

describe("allot status and allot attrs on a running cluster, across processes", () => {
  const procs: NodeProc[] = [];
  let tier2: NodeProc, app: NodeProc, vip: NodeProc;

  beforeAll(async () => {
    const start = async (args: string[]): Promise<NodeProc> => {
      const p = await startProc(["--log-level", "info", "--listen", "127.0.0.1:0", ...args]);
      procs.push(p);
      return p;
    };
    tier2 = await start(["--role", "distributor", "--tier", "2", "--id", "st-t2"]);
    app = await start(["--role", "app", "--id", "st-app", "--join", tier2.url, "--apps", "echo", "--capacity", "3", "--power", "2", "--attr", "region=eu"]);
    vip = await start(["--role", "vip", "--id", "st-vip", "--to", tier2.url]);
    // The app server registered, and the vip's connection to the tier-2 is up.
    await whenLogged([tier2], () => tier2.stderr().includes('"server":"st-app"') && tier2.stderr().includes('"peer":"st-vip"'), "the app server and the vip to connect to the tier-2");
  }, 30_000);

  afterAll(async () => {
    await killAll(procs);
  });

  it("prints an app server's own view: figures, registrations, running tasks", async () => {
    const r = await runCli(["status", "--entry", app.url]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`app server st-app ${app.url}: load 0/3 (0 running, 0 expected), power 2, apps echo`);
    expect(r.stdout).toContain("attrs region=eu");
    expect(r.stdout).toMatch(new RegExp(`registrations \\(1\\):\\n  ${tier2.url}  open\\s+st-t2`));
    expect(r.stdout).toContain("running (0):");
    const j = await runCli(["status", "--entry", app.url, "-o", "json"]);
    expect(j.code, j.stderr).toBe(0);
    expect(JSON.parse(j.stdout)).toMatchObject({ role: "app", node: "st-app", capacity: 3, power: 2, registrations: [{ url: tier2.url, id: "st-t2", state: "open" }], running: [] });
  });

  it("prints a vip's own view, its members, instead of a tier-2's answer", async () => {
    const r = await runCli(["status", "--entry", vip.url]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^vip st-vip: 0 request\(s\) passed on, 1 member\(s\)\n/);
    expect(r.stdout).toMatch(new RegExp(`  ${tier2.url}  open\\s+st-t2\\s+in flight 0  passed on 0`));
    const j = await runCli(["status", "--entry", vip.url, "--json"]);
    expect(j.code, j.stderr).toBe(0);
    expect(JSON.parse(j.stdout)).toEqual({ role: "vip", node: "st-vip", forwarded: 0, members: [{ url: tier2.url, id: "st-t2", state: "open", inFlight: 0, forwarded: 0 }] });
  });

  it("refuses an unknown output format, and --json with -o text, as usage errors", async () => {
    const bad = await runCli(["status", "--entry", vip.url, "-o", "yaml"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--output");
    const both = await runCli(["status", "--entry", vip.url, "--json", "-o", "text"]);
    expect(both.code).toBe(2);
  });

  // Runs last: it changes the app server's figures.
  it("sets the app server's own power and capacity, removes an attribute, and refuses a built-in name", async () => {
    const set = await runCli(["attrs", "set", "--entry", app.url, "server", "st-app", "power=8", "capacity=5", "zone=a"]);
    expect(set.code, set.stderr).toBe(0);
    const json = async (): Promise<unknown> => JSON.parse((await runCli(["status", "--entry", app.url, "--json"])).stdout);
    expect(await json()).toMatchObject({ power: 8, capacity: 5, attrs: { region: "eu", zone: "a" } });
    const unset = await runCli(["attrs", "unset", "--entry", app.url, "server", "st-app", "zone"]);
    expect(unset.code, unset.stderr).toBe(0);
    expect(unset.stdout).toBe("unset server st-app zone\n");
    expect(((await json()) as { attrs: unknown }).attrs).toEqual({ region: "eu" });
    const refused = await runCli(["attrs", "set", "--entry", app.url, "server", "st-app", "load=0"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/INVALID: attrs\.set: attrs\.load: load is a built-in field/);
    const none = await runCli(["attrs", "unset", "--entry", app.url, "server", "st-app"]);
    expect(none.code).toBe(2);
  });
});
