import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { FleetError, SIM_APP, makeWorkload, parseFleet, runPolicy } from "../../src/sim/index.js";
import { MAX_FLEET_BYTES } from "../../src/cli/sim.js";
import { runMain } from "../helpers/capture.js";

const dir = mkdtempSync(join(tmpdir(), "allot-fleet-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function fleetFile(name: string, json: unknown): string {
  const file = join(dir, name);
  writeFileSync(file, typeof json === "string" ? json : JSON.stringify(json));
  return file;
}

function fleetError(json: unknown): FleetError {
  try {
    parseFleet(json);
  } catch (err) {
    if (err instanceof FleetError) return err;
    throw err;
  }
  throw new Error(`expected a FleetError for ${JSON.stringify(json)}`);
}

const GPU_FLEET = {
  servers: [
    { count: 30, power: 1 },
    { count: 10, power: 4, apps: ["sim", "render"], attrs: { gpu: true, zone: "b" } },
  ],
  task: { app: "sim", require: ["gpu=true"] },
};

describe("sim/fleet", () => {
  describe("parseFleet", () => {
    it("reads groups with their power, applications and attributes, and the task's application and constraints", () => {
      const f = parseFleet(GPU_FLEET);
      expect(f.groups).toEqual([
        { count: 30, power: 1, apps: [SIM_APP], attrs: {} },
        { count: 10, power: 4, apps: ["sim", "render"], attrs: { gpu: true, zone: "b" } },
      ]);
      expect(f.app).toBe("sim");
      expect(f.require).toEqual([{ key: "gpu", op: "=", value: true }]);
      expect(parseFleet({ servers: [{ count: 5, power: 2 }] })).toEqual({ groups: [{ count: 5, power: 2, apps: [SIM_APP], attrs: {} }], app: SIM_APP, require: [] });
    });

    it.each([
      [{ servers: [{ count: -1, power: 1 }] }, "servers[0].count", /whole number >= 0/],
      [{ servers: [{ count: 1.5, power: 1 }] }, "servers[0].count", /whole number >= 0/],
      [{ servers: [{ count: 2, power: 0 }] }, "servers[0].power", /> 0/],
      [{ servers: [{ count: 2, power: 1, colour: "red" }] }, "servers[0].colour", /unknown key/],
      [{ servers: [{ count: 2, power: 1 }], fleet: 1 }, "fleet", /unknown key/],
      [{ servers: [{ count: 2, power: 1 }], task: { app: "sim", deadline: 3 } }, "task.deadline", /unknown key/],
      [{ servers: [{ count: 2, power: 1 }], task: { app: "render" } }, "task.app", /no server offers application "render"/],
      [{ servers: [{ count: 0, power: 1, apps: ["render"] }, { count: 2, power: 1 }], task: { app: "render" } }, "task.app", /no server offers/],
      [{ servers: [{ count: 2, power: 1 }], task: { require: ["gpu"] } }, "task.require[0]", /expected an operator/],
      [{ servers: [{ count: 2, power: 1, attrs: { gpu: [1] } }] }, "servers[0].attrs.gpu", /string, a finite number or a boolean/],
      [{ servers: [{ count: 2, power: 1, apps: [] }] }, "servers[0].apps", /non-empty/],
      [{ servers: [] }, "servers", /non-empty/],
      [{ servers: [{ count: 0, power: 1 }] }, "servers", /no server/],
      [[1, 2], "(top level)", /object/],
      // Past the bounds of --powers: 125 × 1e308 is an infinite capacity, and 5e-324 an arrival rate of 0 (a table of NaN).
      [{ servers: [{ count: 2, power: 1e308 }] }, "servers[0].power", /from 0\.000001 to 1000000/],
      [{ servers: [{ count: 2, power: 5e-324 }] }, "servers[0].power", /from 0\.000001 to 1000000/],
      // Names the runtime refuses as attributes: a built-in would shadow the attribute in every constraint, __proto__ would vanish.
      [{ servers: [{ count: 2, power: 1, attrs: { power: 99 } }] }, "servers[0].attrs.power", /built-in field/],
      [{ servers: [{ count: 2, power: 1, attrs: { apps: "x" } }] }, "servers[0].attrs.apps", /not an attribute/],
      [JSON.parse('{"servers":[{"count":2,"power":1,"attrs":{"__proto__":"x"}}]}') as unknown, "servers[0].attrs.__proto__", /not __proto__/],
      [{ servers: [{ count: 2, power: 1, attrs: { "": 1 } }] }, "servers[0].attrs.", /non-empty/],
    ])("refuses %j naming %s", (json, key, reason) => {
      const e = fleetError(json);
      expect(e.key).toBe(key);
      expect(e.message).toContain(key);
      expect(e.reason).toMatch(reason);
    });
  });

  describe("a fleet in the simulator", () => {
    it("sends tasks only to servers that offer the application and meet the constraints, in every row", () => {
      const fleet = parseFleet(GPU_FLEET);
      const w = makeWorkload({ servers: 40, allocators: 2, tasks: 4000, service: "exp", seed: 3, fleet });
      expect(Array.from(w.eligible)).toEqual(Array.from({ length: 10 }, (_, i) => 30 + i));
      expect(w.totalPower).toBe(40); // the load is a share of the gpu servers' capacity only
      for (const spec of ["oracle", "random", "least-loaded", "shortest-delay", "p2c"]) {
        const r = runPolicy(w, spec, { load: 0.8 });
        expect(r.ran.slice(0, 30).every((n) => n === 0), spec).toBe(true);
        expect(r.ran.slice(30).reduce((a, n) => a + n, 0), spec).toBe(4000);
        expect(r.refused).toBe(0);
      }
    });

    it("draws powers from the choices given, and --powers 1 is a homogeneous fleet", () => {
      const w = makeWorkload({ servers: 200, allocators: 1, tasks: 10, service: "exp", seed: 2, powerChoices: [2, 5] });
      expect(new Set(w.powers)).toEqual(new Set([2, 5]));
      const one = makeWorkload({ servers: 50, allocators: 1, tasks: 10, service: "exp", seed: 2, powerChoices: [1] });
      expect(Array.from(one.powers).every((p) => p === 1)).toBe(true);
      expect(() => makeWorkload({ servers: 5, allocators: 1, tasks: 10, service: "exp", seed: 2, powerChoices: [0] })).toThrow(RangeError);
    });
  });

  describe("allot sim --fleet", () => {
    it("runs a fleet file and says how many servers can take the tasks", async () => {
      const r = await runMain(["sim", "--fleet", fleetFile("gpu.json", GPU_FLEET), "--tasks", "2000", "--policy", "least-loaded"]);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/40 servers in 2 group\(s\), 10 can take the tasks \(power 1–4, total 40\)/);
      expect(r.out).toMatch(/least-loaded +[\d.]+/);
    });

    it.each([
      ["negative.json", { servers: [{ count: -3, power: 1 }] }, "servers[0].count: expected a whole number >= 0, got -3"],
      ["unknown.json", { servers: [{ count: 3, power: 1, cores: 8 }] }, "servers[0].cores: unknown key"],
      ["no-app.json", { servers: [{ count: 3, power: 1 }], task: { app: "render" } }, 'task.app: no server offers application "render"'],
      ["broken.json", "{servers", "is not JSON"],
    ])("exits 2 for %s, naming --fleet, the key and the reason", async (name, json, message) => {
      const r = await runMain(["sim", "--fleet", fleetFile(name, json)]);
      expect(r.code).toBe(2);
      expect(r.err).toContain("allot sim: --fleet: ");
      expect(r.err).toContain(message);
      expect(r.out).toBe("");
    });

    it("exits 2 naming task.require when the servers offering the application all fail the constraints", async () => {
      const r = await runMain(["sim", "--fleet", fleetFile("no-gpu.json", { servers: [{ count: 3, power: 1 }], task: { require: ["gpu=true"] } }), "--tasks", "100"]);
      expect(r.code).toBe(2);
      expect(r.err).toContain("allot sim: --fleet: ");
      expect(r.err).toContain('task.require: no server offering application "sim" meets the constraints');
      expect(r.out).toBe("");
    });

    // Read to its end, /dev/zero took 9 GB in 100 s and was still growing.
    it("exits 2 for a file that never ends, having read no more than a fleet file may hold", async () => {
      const r = await runMain(["sim", "--fleet", "/dev/zero"]);
      expect(r.code).toBe(2);
      expect(r.err).toContain(`allot sim: --fleet: /dev/zero is more than ${MAX_FLEET_BYTES} bytes`);
      expect(r.out).toBe("");
    });

    it("counts --tasks-per-server over the servers that can take the tasks, not the whole fleet", async () => {
      const r = await runMain(["sim", "--fleet", fleetFile("per-server.json", GPU_FLEET), "--tasks-per-server", "5", "--policy", "least-loaded"]);
      expect(r.code).toBe(0);
      // 10 of the 40 servers have a gpu: 50 tasks, where 200 gave each of them 20.
      expect(r.out).toMatch(/10 can take the tasks .*, 50 tasks,/);
      expect(r.out).toContain("50 tasks arriving");
    });

    it("reads a file that starts with a byte-order mark, as some editors save JSON", async () => {
      const file = join(dir, "bom.json");
      writeFileSync(file, `\uFEFF${JSON.stringify(GPU_FLEET)}`);
      const r = await runMain(["sim", "--fleet", file, "--tasks", "500", "--policy", "least-loaded"]);
      expect(r.err).not.toContain("not JSON");
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/40 servers in 2 group\(s\)/);
    });

    it("refuses, before the run, an --svg that would overwrite the fleet file, is a directory or is in no writable folder", async () => {
      const fleet = fleetFile("plotted.json", GPU_FLEET);
      for (const [svg, reason] of [
        [fleet, "is the --fleet file"],
        [dir, "is a directory"],
        [join(dir, "no-such-folder", "plot.svg"), "cannot write"],
      ] as const) {
        const r = await runMain(["sim", "--fleet", fleet, "--tasks", "500", "--policy", "least-loaded", "--svg", svg]);
        expect(r.code, svg).toBe(2);
        expect(r.err).toContain(`allot sim: --svg: `);
        expect(r.err).toContain(reason);
        expect(r.out, "nothing run").toBe("");
      }
      expect(JSON.parse(readFileSync(fleet, "utf8"))).toEqual(GPU_FLEET);
    });

    it("exits 2 for a missing file and for --fleet with --servers or --powers", async () => {
      const missing = await runMain(["sim", "--fleet", join(dir, "nope.json")]);
      expect(missing.code).toBe(2);
      expect(missing.err).toContain("--fleet: cannot read");
      const both = await runMain(["sim", "--fleet", fleetFile("ok.json", GPU_FLEET), "--powers", "1"]);
      expect(both.code).toBe(2);
      expect(both.err).toContain("--fleet: gives the servers and their powers");
    });
  });
});
