import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CliError } from "../../src/cli/errors.js";
import { runMain } from "../helpers/capture.js";
import { SIM_HELP, defaultSimPolicies, simConfig, splitPolicies } from "../../src/cli/sim.js";
import { DEFAULT_POLICY } from "../../src/policies/index.js";

/** Runs simConfig and hands back the CliError it must throw. */
function usageError(argv: string[]): CliError {
  try {
    simConfig(argv);
  } catch (err) {
    if (err instanceof CliError) return err;
    throw new Error(`expected a CliError, got ${String(err)}`, { cause: err });
  }
  throw new Error(`expected a CliError for ${argv.join(" ")}`);
}

const run = runMain;

describe("cli/sim", () => {
  it("has defaults: 1000 servers, 4 allocators, load 0.9, the references and the registered policies", () => {
    const c = simConfig([]);
    expect(c).toEqual({
      servers: 1000,
      allocators: 4,
      loads: [0.9],
      rows: ["oracle", "random", ...defaultSimPolicies()],
      tasks: 200_000,
      taskMs: 1000,
      delayMs: 10,
      service: "exp",
      seed: 1,
      warmup: 0.1,
      json: false,
    });
    expect(defaultSimPolicies()).toContain(DEFAULT_POLICY);
    expect(defaultSimPolicies()).not.toContain("random");
  });

  it("reads every flag", () => {
    const c = simConfig(["--servers", "10", "--allocators", "2", "--shares", "3, 1", "--load", "0.5, 0.95", "--policy", "p2c:d=3,least-loaded", "--policy", "random", "--tasks", "500", "--task-ms", "10", "--delay-ms", "0", "--capacity", "64", "--service", "pareto", "--seed", "9", "--warmup", "0", "--json", "--svg", "x.svg"]);
    expect(c).toEqual({ servers: 10, allocators: 2, shares: [3, 1], loads: [0.5, 0.95], rows: ["oracle", "random", "p2c:d=3", "least-loaded"], tasks: 500, taskMs: 10, delayMs: 0, service: "pareto", seed: 9, warmup: 0, capacity: 64, json: true, svg: "x.svg" });
    expect(simConfig(["--help"])).toBe("help");
  });

  it("reads the fleet and run-length flags", () => {
    expect(simConfig(["--powers", "1, 4", "--warm-start", "--tasks-per-server", "30", "--servers", "10"])).toMatchObject({ powers: [1, 4], warmStart: true, warmup: 0, tasks: 300, tasksPerServer: 30 });
    expect(simConfig(["--warm-ms", "2500", "--warmup", "0.2", "--duration-ms", "4000"])).toMatchObject({ warmStart: true, warmMs: 2500, warmup: 0.2, durationMs: 4000 });
    const c = simConfig(["--powers", "1"]);
    expect(c).toMatchObject({ powers: [1], warmup: 0.1 });
    expect(c).not.toHaveProperty("warmStart");
  });

  it("runs a homogeneous fleet, a warm start and a run length in virtual time", async () => {
    const r = await runMain(["sim", "--servers", "50", "--powers", "2", "--duration-ms", "20000", "--load", "0.5,0.9", "--warm-start", "--policy", "least-loaded"]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("50 servers (power 2, total 100)");
    expect(r.out).toContain("warm start of 4 ÷ (1 − load) mean task times");
    expect(r.out).toContain("after a warm-up of 4.00 s"); // at 0.5: 8 mean task times of 500 ms
    expect(r.out).toContain("after a warm-up of 20.00 s"); // at 0.9: 40
    // 20 s of arrivals: 0.5 × 100 / 1000 × 20,000 = 1,000 tasks at 0.5, 1,800 at 0.9.
    expect(r.out).toContain("load 0.5: 0.1 tasks/ms, 1000 tasks arriving");
    expect(r.out).toContain("load 0.9: 0.1 tasks/ms, 1800 tasks arriving");
    expect(r.out).toMatch(/wall time [\d.]+ s, peak memory \d+ MB/);
  });

  it("keeps a policy's own comma-separated options together", () => {
    expect(splitPolicies(["hash:key=user,bound=1.5,p2c", "most-idle"])).toEqual(["hash:key=user,bound=1.5", "p2c", "most-idle"]);
    expect(simConfig(["--policy", "hash:key=user,bound=1.5,p2c:d=4"])).toMatchObject({ rows: ["oracle", "random", "hash:key=user,bound=1.5", "p2c:d=4"] });
  });

  it.each([
    [["--servers", "ten"], "--servers"],
    [["--servers", "0"], "--servers"],
    [["--allocators", "1.5"], "--allocators"],
    // Every allocator keeps its own view of every server: 1,000 × 1,000,000 entries ran out of memory after 27 s.
    [["--servers", "1000000", "--allocators", "1000"], "--allocators"],
    [["--servers", "100000", "--allocators", "41"], "--allocators"],
    [["--load", "1"], "--load"],
    [["--load", "0"], "--load"],
    [["--load", "0.5,,0.9"], "--load"],
    [["--load", "high"], "--load"],
    [["--load", "1e-320"], "--load"], // an arrival gap of Infinity: a table of NaN
    [["--load", "0.5,5e-324"], "--load"],
    [["--tasks", "-3"], "--tasks"],
    [["--delay-ms", "-1"], "--delay-ms"],
    [["--delay-ms", "soon"], "--delay-ms"],
    [["--task-ms", "0"], "--task-ms"],
    [["--task-ms", "long"], "--task-ms"],
    [["--task-ms", "1e308"], "--task-ms"], // virtual time past the largest double: a mean of Infinity
    [["--task-ms", "5e-324"], "--task-ms"], // an arrival rate of Infinity: every task at time 0
    [["--service", "gamma"], "--service"],
    [["--seed", "x"], "--seed"],
    [["--warmup", "1"], "--warmup"],
    [["--capacity", "0"], "--capacity"],
    [["--shares", "1,1"], "--shares"], // 4 allocators by default
    [["--shares", "1,x,1,1"], "--shares"],
    [["--shares", "0,0,0,0"], "--shares"],
    [["--shares", "1,-1,1,1"], "--shares"],
    [["--shares", "1,,1,1"], "--shares"],
    [["--shares", "1e308,1e308,1e308,1e308"], "--shares"], // a total of Infinity sent every task to a1
    [["--policy", "nope"], "--policy"],
    [["--policy", "p2c:d=0"], "--policy"],
    [["--policy", ","], "--policy"],
    [["--svg", ""], "--svg"],
    [["--bogus"], "--bogus"],
    [["--powers", "0"], "--powers"],
    [["--powers", "a"], "--powers"],
    [["--powers", "1,,2"], "--powers"],
    [["--powers", "-2"], "--powers"],
    [["--powers", "5e-324"], "--powers"], // an arrival rate of 0: a table of NaN
    [["--powers", "1,1e308"], "--powers"],
    [["--warm-start", "--load", "1"], "--warm-start"],
    [["--warm-start", "--load", "0.5,1.2"], "--warm-start"],
    [["--warm-ms", "100", "--load", "1"], "--warm-ms"],
    [["--warm-ms", "0"], "--warm-ms"],
    [["--tasks-per-server", "0"], "--tasks-per-server"],
    [["--tasks-per-server", "60000"], "--tasks-per-server"], // × 1000 servers is past the bound
    [["--duration-ms", "-5"], "--duration-ms"],
    [["--tasks", "10", "--duration-ms", "5"], "--duration-ms"],
    [["--fleet", ""], "--fleet"],
  ])("refuses %j naming %s", (argv, flag) => {
    const e = usageError(argv);
    expect(e.flag).toBe(flag);
    expect(e.message).toContain(flag);
  });

  it("exits 2 for a warm-up of more tasks than a run may hold, instead of running it for hours", async () => {
    const small = ["sim", "--servers", "20", "--tasks", "500", "--policy", "least-loaded"];
    const long = await run([...small, "--warm-ms", "1e308"]);
    expect(long.code).toBe(2);
    expect(long.err).toMatch(/allot sim: --warm-ms: at load 0\.9 the warm-up is about [\d.e+]+ tasks, more than 50000000/);
    expect(long.out).toBe("");
    // The default length, 4 ÷ (1 − load) task times: 8e8 tasks on 20 servers at 0.9999999.
    const near = await run([...small, "--warm-start", "--load", "0.5,0.9999999"]);
    expect(near.code).toBe(2);
    expect(near.err).toMatch(/allot sim: --warm-start: at load 0\.9999999 the warm-up is about [\d.e+]+ tasks, more than 50000000/);
  });

  it("takes the most servers at the default allocators, and any allocators for the reference rows alone", () => {
    expect(simConfig(["--servers", "1000000"])).toMatchObject({ servers: 1_000_000, allocators: 4 });
    expect(simConfig(["--servers", "1000000", "--allocators", "1000", "--policy", "oracle,random"])).toMatchObject({ allocators: 1000 });
    expect(usageError(["--servers", "1000000", "--allocators", "1000"]).message).toContain("--allocators: 1000 allocators × 1000000 servers is more than 4000000 entries");
  });

  it("says which policies exist when asked for an unknown one", () => {
    expect(usageError(["--policy", "p2c,fastest"]).message).toMatch(/--policy: unknown policy "fastest"; known: most-idle, least-loaded/);
  });

  it("exits 2 from allot sim, naming the flag", async () => {
    const r = await run(["sim", "--load", "1.5"]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("allot sim: --load: expected a number > 0 and < 1, got \"1.5\"");
    const u = await run(["sim", "--policy", "nope"]);
    expect(u.code).toBe(2);
    expect(u.err).toContain('allot sim: --policy: unknown policy "nope"');
    expect(u.out).toBe("");
  });

  it("prints one JSON line per load in the exact shape, and writes the SVG", async () => {
    const dir = mkdtempSync(join(tmpdir(), "allot-sim-"));
    try {
      const svg = join(dir, "plot.svg");
      const r = await run(["sim", "--servers", "20", "--tasks", "3000", "--load", "0.5,0.9", "--policy", "least-loaded,p2c", "--json", "--svg", svg]);
      expect(r.code).toBe(0);
      expect(r.err).toBe("");
      const lines = r.out.trimEnd().split("\n");
      expect(lines).toHaveLength(2);
      const first = JSON.parse(lines[0] as string) as Record<string, unknown>;
      expect(Object.keys(first)).toEqual(["defaultPolicy", "load", "policies"]);
      expect(first.defaultPolicy).toBe(DEFAULT_POLICY);
      expect(first.load).toBe(0.5);
      const rows = first.policies as Array<Record<string, unknown>>;
      expect(rows.map((p) => p.policy)).toEqual(["oracle", "random", "least-loaded", "p2c"]);
      for (const p of rows) {
        expect(Object.keys(p)).toEqual(["policy", "meanMs", "p99Ms", "p999Ms"]);
        expect(p.meanMs).toBeGreaterThan(0);
        expect(p.p999Ms).toBeGreaterThanOrEqual(p.p99Ms as number);
      }
      expect((JSON.parse(lines[1] as string) as { load: number }).load).toBe(0.9);
      const plot = readFileSync(svg, "utf8");
      expect(plot.startsWith("<svg ")).toBe(true);
      expect(plot.match(/<polyline /g)).toHaveLength(8);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("prints a readable table and the targets it can judge", async () => {
    const r = await run(["sim", "--servers", "20", "--tasks", "2000", "--load", "0.9,0.95", "--policy", DEFAULT_POLICY]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/load 0\.9: .*\n +policy +mean ms/);
    expect(r.out).toContain(`${DEFAULT_POLICY} (default)`);
    expect(r.out).toMatch(/target: .* within 1\.3× of the oracle's mean at load 0\.9: [\d.]+× — (met|not met)/);
    expect(r.out).toMatch(/target: .* at least 3× better than random's mean at load 0\.95: [\d.]+× — (met|not met)/);
  });

  it("is listed in allot help and has its own", async () => {
    expect((await run(["help"])).out).toContain("allot sim");
    expect((await run(["help", "sim"])).out).toBe(SIM_HELP);
    expect((await run(["sim", "--help"])).out).toBe(SIM_HELP);
  });
});
