import { describe, expect, it, vi } from "vitest";
import { CliError } from "../../src/cli/errors.js";
import { main } from "../../src/cli/main.js";
import { runMain } from "../helpers/capture.js";
import { COMMON_FLAGS, ROLE_FLAGS, START_HELP, startConfig } from "../../src/cli/start.js";
import type { StartRole } from "../../src/cli/start.js";
import { SUBMIT_HELP, submitConfig } from "../../src/cli/submit.js";
import { startUsageError } from "../helpers/usage-error.js";

const COMMON = { listen: "127.0.0.1:0", logLevel: "info", heartbeatMs: 500 };

/** Runs startConfig and hands back the CliError it must throw. */
const usageError = startUsageError;

describe("cli/start", () => {
  describe("startConfig", () => {
    it("builds a vip over the distributors it is given", () => {
      expect(startConfig(["--role", "vip", "--to", "ws://a:1, ws://b:2"])).toEqual({ ...COMMON, role: "vip", to: ["ws://a:1", "ws://b:2"] });
    });

    it("builds a tier-1 distributor", () => {
      expect(startConfig(["--role", "distributor", "--tier", "1", "--to", "ws://v2:9000"])).toEqual({ ...COMMON, role: "tier1", to: ["ws://v2:9000"] });
    });

    it("builds a tier-2 distributor, with and without a policy", () => {
      expect(startConfig(["--role", "distributor", "--tier", "2"])).toEqual({ ...COMMON, role: "tier2" });
      expect(startConfig(["--role", "distributor", "--tier", "2", "--policy", "least-loaded", "--peers", "ws://d2:1,ws://d3:1"])).toEqual({
        ...COMMON,
        role: "tier2",
        policy: "least-loaded",
        peers: ["ws://d2:1", "ws://d3:1"],
      });
    });

    it("takes --role tier1 and --role tier2 as --role distributor --tier 1 and 2", () => {
      expect(startConfig(["--role", "tier1", "--to", "ws://v2:9000", "--policy", "least-loaded"])).toEqual(startConfig(["--role", "distributor", "--tier", "1", "--to", "ws://v2:9000", "--policy", "least-loaded"]));
      expect(startConfig(["--role", "tier2", "--peers", "ws://d2:1"])).toEqual({ ...COMMON, role: "tier2", peers: ["ws://d2:1"] });
      expect(startConfig(["--role", "tier2"])).toEqual(startConfig(["--role", "distributor", "--tier", "2"]));
    });

    it("accepts a --tier that agrees with --role tier1/tier2, and refuses one that contradicts it", () => {
      expect(startConfig(["--role", "tier2", "--tier", "2"])).toEqual({ ...COMMON, role: "tier2" });
      expect(startConfig(["--role", "tier1", "--tier", "1", "--to", "ws://t2:1"])).toMatchObject({ role: "tier1" });
      expect(usageError(["--role", "tier2", "--tier", "1"]).message).toBe('--tier: contradicts --role tier2, got "1"');
      expect(usageError(["--role", "tier1", "--tier", "2", "--to", "ws://t2:1"]).flag).toBe("--tier");
    });

    it("builds an app server that reports periodically to one distributor at a time", () => {
      const c = startConfig(["--role", "app", "--join", "ws://d1:1,ws://d2:1", "--apps", "echo", "--report", "periodic:250", "--mode", "registered"]);
      expect(c).toMatchObject({ role: "app", report: { event: false, periodicMs: 250 }, mode: "registered" });
      expect(() => startConfig(["--role", "app", "--join", "ws://d1:1", "--apps", "echo", "--mode", "gossip"])).toThrow(/--mode/);
      expect(() => startConfig(["--role", "app", "--join", "ws://d1:1", "--apps", "echo", "--report", "hourly"])).toThrow(/--report/);
    });

    it("builds an app server with typed attributes", () => {
      const argv = ["--role", "app", "--join", "ws://d1:1,ws://d2:1", "--apps", "echo, hash", "--capacity", "8", "--power", "2.5", "--attr", "region=eu", "--attr", "gpu=true", "--attr", "cores=16"];
      expect(startConfig(argv)).toEqual({
        ...COMMON,
        role: "app",
        join: ["ws://d1:1", "ws://d2:1"],
        apps: ["echo", "hash"],
        capacity: 8,
        power: 2.5,
        attrs: { region: "eu", gpu: true, cores: 16 },
      });
    });

    it("defaults an app server's capacity, power and attributes", () => {
      expect(startConfig(["--role", "app", "--join", "ws://d:1", "--apps", "echo"])).toMatchObject({ capacity: 4, power: 1, attrs: {} });
    });

    it("takes a policy with options", () => {
      expect(startConfig(["--role", "distributor", "--tier", "1", "--to", "ws://t2:1", "--policy", "least-loaded"])).toMatchObject({ role: "tier1", policy: "least-loaded" });
      expect(startConfig(["--role", "distributor", "--tier", "2", "--policy", "p2c:d=3"])).toMatchObject({ role: "tier2", policy: "p2c:d=3" });
      expect(startConfig(["--role", "master", "--policy", "hash:key=attr:tenant,bound=1.5"])).toMatchObject({ role: "master", policy: "hash:key=attr:tenant,bound=1.5" });
    });

    it("builds a master, with its peers, policy and assign mode", () => {
      expect(startConfig(["--role", "master"])).toEqual({ ...COMMON, role: "master" });
      expect(startConfig(["--role", "master", "--peers", "ws://m2:1", "--assign", "indicate", "--policy", "round-robin"])).toEqual({
        ...COMMON,
        role: "master",
        peers: ["ws://m2:1"],
        assign: "indicate",
        policy: "round-robin",
      });
    });

    it("builds a slave with its masters, link mode, capacity and report modes", () => {
      expect(startConfig(["--role", "slave", "--master", "ws://m1:1,ws://m2:1"])).toEqual({ ...COMMON, role: "slave", masters: ["ws://m1:1", "ws://m2:1"] });
      expect(startConfig(["--role", "slave", "--master", "ws://m1:1", "--link", "direct", "--capacity", "32", "--report", "periodic:500"])).toEqual({
        ...COMMON,
        role: "slave",
        masters: ["ws://m1:1"],
        link: "direct",
        capacity: 32,
        report: { event: false, periodicMs: 500 },
      });
    });

    it("takes the common flags", () => {
      const argv = ["--role", "vip", "--to", "ws://a:1", "--listen", "0.0.0.0:7000", "--advertise", "ws://host.example:7000", "--id", "vip-1", "--log-level", "debug", "--heartbeat-ms", "250", "--insecure"];
      expect(startConfig(argv)).toEqual({
        role: "vip",
        insecure: true,
        to: ["ws://a:1"],
        listen: "0.0.0.0:7000",
        advertise: "ws://host.example:7000",
        id: "vip-1",
        logLevel: "debug",
        heartbeatMs: 250,
      });
    });

    it("takes --silence-ms beside --heartbeat-ms, and leaves it to the default (3 × heartbeat) without it", () => {
      expect(startConfig(["--role", "tier2", "--heartbeat-ms", "200", "--silence-ms", "900"])).toEqual({ ...COMMON, role: "tier2", heartbeatMs: 200, silenceMs: 900 });
      expect(startConfig(["--role", "tier2"])).not.toHaveProperty("silenceMs");
    });

    it("takes --log-format for every role, and leaves it to the node (auto) without it", () => {
      expect(startConfig(["--role", "tier2", "--log-format", "pretty"])).toEqual({ ...COMMON, role: "tier2", logFormat: "pretty" });
      expect(startConfig(["--role", "vip", "--to", "ws://a:1", "--log-format", "json"])).toMatchObject({ logFormat: "json" });
      expect(startConfig(["--role", "tier2"])).not.toHaveProperty("logFormat");
      expect(usageError(["--role", "tier2", "--log-format", "yaml"]).message).toBe('--log-format: expected json or pretty or auto, got "yaml"');
    });

    it("refuses a --listen beyond loopback without credentials unless --insecure", () => {
      expect(usageError(["--role", "tier2", "--listen", "0.0.0.0:7000"]).message).toMatch(/^--listen: 0\.0\.0\.0:7000 is beyond loopback/);
      expect(startConfig(["--role", "tier2", "--listen", "[::1]:7000"])).toMatchObject({ listen: "[::1]:7000" });
    });

    it("refuses an --http beyond loopback without credentials unless --insecure (its dashboard and metrics would be anyone's)", () => {
      expect(usageError(["--role", "tier2", "--http", "0.0.0.0:9464"]).message).toMatch(/^--http: 0\.0\.0\.0:9464 is beyond loopback/);
      expect(startConfig(["--role", "tier2", "--http", "0.0.0.0:9464", "--insecure"])).toMatchObject({ http: "0.0.0.0:9464", insecure: true });
      expect(startConfig(["--role", "tier2", "--http", "127.0.0.1:9464"])).toMatchObject({ http: "127.0.0.1:9464" });
    });

    it("accepts a bracketed IPv6 listen address", () => {
      expect(startConfig(["--role", "distributor", "--tier", "2", "--listen", "[::1]:7000"])).toMatchObject({ listen: "[::1]:7000" });
    });

    it("returns help for --help and -h", () => {
      expect(startConfig(["--help"])).toBe("help");
      expect(startConfig(["-h"])).toBe("help");
    });

    it.each<[string, string[], string]>([
      ["an unknown flag", ["--role", "vip", "--to", "ws://a:1", "--bogus", "x"], "--bogus"],
      ["a positional argument", ["--role", "vip", "--to", "ws://a:1", "extra"], "extra"],
      ["no role", [], "--role"],
      ["--role bogus", ["--role", "bogus"], "--role"],
      ["--role tier3", ["--role", "tier3"], "--role"],
      ["an empty --id", ["--role", "vip", "--to", "ws://a:1", "--id", ""], "--id"],
      ["an --id longer than a message carries", ["--role", "vip", "--to", "ws://a:1", "--id", "v".repeat(257)], "--id"],
      ["--tier 3", ["--role", "distributor", "--tier", "3"], "--tier"],
      ["a distributor without --tier", ["--role", "distributor"], "--tier"],
      ["a vip without --to", ["--role", "vip"], "--to"],
      ["a tier-1 distributor without --to", ["--role", "distributor", "--tier", "1"], "--to"],
      ["an empty --to", ["--role", "vip", "--to", " , "], "--to"],
      ["an app without --join", ["--role", "app", "--apps", "echo"], "--join"],
      ["an app without --apps", ["--role", "app", "--join", "ws://d:1"], "--apps"],
      ["--capacity abc", ["--role", "app", "--join", "ws://d:1", "--apps", "echo", "--capacity", "abc"], "--capacity"],
      ["--capacity 0", ["--role", "app", "--join", "ws://d:1", "--apps", "echo", "--capacity", "0"], "--capacity"],
      ["--capacity 1.5", ["--role", "app", "--join", "ws://d:1", "--apps", "echo", "--capacity", "1.5"], "--capacity"],
      ["--power -1", ["--role", "app", "--join", "ws://d:1", "--apps", "echo", "--power", "-1"], "--power"],
      ["--power=-1", ["--role", "app", "--join", "ws://d:1", "--apps", "echo", "--power=-1"], "--power"],
      ["--power 0", ["--role", "app", "--join", "ws://d:1", "--apps", "echo", "--power", "0"], "--power"],
      ["--power fast", ["--role", "app", "--join", "ws://d:1", "--apps", "echo", "--power", "fast"], "--power"],
      ["--attr noequals", ["--role", "app", "--join", "ws://d:1", "--apps", "echo", "--attr", "noequals"], "--attr"],
      ["--attr =value", ["--role", "app", "--join", "ws://d:1", "--apps", "echo", "--attr", "=value"], "--attr"],
      ["--listen nocolon", ["--role", "vip", "--to", "ws://a:1", "--listen", "nocolon"], "--listen"],
      ["--listen host:port", ["--role", "vip", "--to", "ws://a:1", "--listen", "host:port"], "--listen"],
      ["--to http://x", ["--role", "vip", "--to", "http://x"], "--to"],
      ["--join http://x", ["--role", "app", "--join", "http://x", "--apps", "echo"], "--join"],
      ["--peers ftp://x", ["--role", "distributor", "--tier", "2", "--peers", "ftp://x"], "--peers"],
      ["--advertise 10.0.0.1:7000", ["--role", "vip", "--to", "ws://a:1", "--advertise", "10.0.0.1:7000"], "--advertise"],
      ["--log-level loud", ["--role", "vip", "--to", "ws://a:1", "--log-level", "loud"], "--log-level"],
      ["--heartbeat-ms 5", ["--role", "vip", "--to", "ws://a:1", "--heartbeat-ms", "5"], "--heartbeat-ms"],
      ["--heartbeat-ms 0 (detection cannot be turned off)", ["--role", "vip", "--to", "ws://a:1", "--heartbeat-ms", "0"], "--heartbeat-ms"],
      ["--silence-ms not above --heartbeat-ms", ["--role", "vip", "--to", "ws://a:1", "--heartbeat-ms", "500", "--silence-ms", "500"], "--silence-ms"],
      ["--policy nope", ["--role", "distributor", "--tier", "2", "--policy", "nope"], "--policy"],
      ["--role without a value", ["--role"], "--role"],
      ["--assign maybe", ["--role", "master", "--assign", "maybe"], "--assign"],
      ["--policy p2c:d=0", ["--role", "master", "--policy", "p2c:d=0"], "option d"],
      ["--policy hash:size=3", ["--role", "distributor", "--tier", "2", "--policy", "hash:size=3"], "unknown option size"],
      ["a master with --policy nope", ["--role", "master", "--policy", "nope"], "--policy"],
      ["a slave without --master", ["--role", "slave"], "--master"],
      ["--master http://m", ["--role", "slave", "--master", "http://m"], "--master"],
      ["--link tunnel", ["--role", "slave", "--master", "ws://m:1", "--link", "tunnel"], "--link"],
      ["a slave with --capacity 0", ["--role", "slave", "--master", "ws://m:1", "--capacity", "0"], "--capacity"],
    ])("throws a CliError naming the flag for %s", (_what, argv, flag) => {
      const err = usageError(argv);
      expect(err.message).toContain(flag);
      expect(err.code).toBe("USAGE");
    });

    it.each<[string, string[], string]>([
      ["vip", ["--role", "vip", "--to", "ws://a:1", "--apps", "echo"], "--apps"],
      ["vip", ["--role", "vip", "--to", "ws://a:1", "--tier", "2"], "--tier"],
      ["vip", ["--role", "vip", "--to", "ws://a:1", "--policy", "random"], "--policy"],
      ["tier1", ["--role", "tier1", "--to", "ws://a:1", "--peers", "ws://b:1"], "--peers"],
      ["tier1", ["--role", "distributor", "--tier", "1", "--to", "ws://a:1", "--capacity", "4"], "--capacity"],
      ["tier2", ["--role", "tier2", "--to", "ws://a:1"], "--to"],
      ["tier2", ["--role", "distributor", "--tier", "2", "--join", "ws://a:1"], "--join"],
      ["app", ["--role", "app", "--join", "ws://d:1", "--apps", "echo", "--policy", "random"], "--policy"],
      ["app", ["--role", "app", "--join", "ws://d:1", "--apps", "echo", "--link", "proxy"], "--link"],
      ["master", ["--role", "master", "--to", "ws://a:1"], "--to"],
      ["master", ["--role", "master", "--capacity", "3"], "--capacity"],
      ["slave", ["--role", "slave", "--master", "ws://m:1", "--assign", "grant"], "--assign"],
      ["slave", ["--role", "slave", "--master", "ws://m:1", "--attr", "a=1"], "--attr"],
    ])("refuses a flag that does not apply to --role %s, naming the flag and the role", (role, argv, flag) => {
      const err = usageError(argv);
      expect(err.flag).toBe(flag);
      expect(err.message).toMatch(new RegExp(`^${flag}: does not apply to --role ${role} \\(it takes `));
    });

    it("checks whether a flag applies before the role's own flags, so the wrong role is named first", () => {
      // No --to either: the stray --apps says more about what went wrong.
      expect(usageError(["--role", "vip", "--apps", "echo"]).message).toMatch(/^--apps: does not apply to --role vip/);
    });

    it("has one table of flags per role, and the help names every role and each of its flags", () => {
      const roles: StartRole[] = ["vip", "tier1", "tier2", "app", "master", "slave"];
      expect(Object.keys(ROLE_FLAGS).sort()).toEqual([...roles].sort());
      for (const r of roles) {
        expect(START_HELP).toContain(`--role ${r}`);
        for (const f of ROLE_FLAGS[r]) expect(START_HELP).toContain(`--${f}`);
      }
      for (const f of COMMON_FLAGS) if (f !== "role" && f !== "help") expect(START_HELP).toContain(`--${f}`);
    });

    it("records the flag on the error", () => {
      expect(usageError(["--role", "app", "--join", "ws://d:1", "--apps", "echo", "--capacity", "0"]).flag).toBe("--capacity");
      expect(usageError(["--role", "distributor", "--tier", "2", "--policy", "nope"]).message).toMatch(/most-idle/);
    });

    it("refuses, naming --apps, an application with no built-in handler when no --handlers module is given", () => {
      const err = usageError(["--role", "app", "--join", "ws://d:1", "--apps", "echo,render"]);
      expect(err.flag).toBe("--apps");
      expect(err.message).toMatch(/^--apps: no handler for application "render".*--handlers.*echo, sleep, hash/);
      // With a module, the module's exports are checked when it loads (--handlers names the file then).
      expect(startConfig(["--role", "app", "--join", "ws://d:1", "--apps", "render", "--handlers", "h.mjs"])).toMatchObject({ apps: ["render"] });
    });
  });
});

/** Runs submitConfig and hands back the CliError it must throw. */
function submitError(argv: string[]): CliError {
  try {
    submitConfig(argv);
  } catch (err) {
    if (err instanceof CliError) return err;
    throw new Error(`expected a CliError, got ${String(err)}`, { cause: err });
  }
  throw new Error(`expected a CliError for ${argv.join(" ")}`);
}

describe("cli/submit", () => {
  const BASE = ["--entry", "ws://e:1", "--app", "render"];

  describe("submitConfig", () => {
    it("builds the task spec with its defaults", () => {
      expect(submitConfig(BASE)).toEqual({
        entries: ["ws://e:1"],
        spec: { app: "render", payload: null, require: [], timeoutMs: 30_000 },
        count: 1,
        concurrency: 16,
        json: false,
        logLevel: "warn",
      });
    });

    it("parses every --require, in included, and every --prefer with its weight (default 1)", () => {
      const c = submitConfig([
        ...BASE,
        "--require", "app=render",
        "--require", "power>=4",
        "--require", "region in (eu, us)",
        "--require", "gpu=true",
        "--require", "label!=canary",
        "--prefer", "region=eu:2",
        "--prefer", "disk in (ssd,nvme)",
        "--prefer", "power>8:0.5",
      ]);
      if (c === "help") throw new Error("help");
      expect(c.spec.require).toEqual([
        { key: "app", op: "=", value: "render" },
        { key: "power", op: ">=", value: 4 },
        { key: "region", op: "in", value: ["eu", "us"] },
        { key: "gpu", op: "=", value: true },
        { key: "label", op: "!=", value: "canary" },
      ]);
      expect(c.spec.prefer).toEqual([
        { key: "region", op: "=", value: "eu", weight: 2 },
        { key: "disk", op: "in", value: ["ssd", "nvme"], weight: 1 },
        { key: "power", op: ">", value: 8, weight: 0.5 },
      ]);
    });

    it("takes the other flags", () => {
      const c = submitConfig([...BASE, "--payload", '{"w":64}', "--user", "u1", "--cost", "2.5", "--count", "10", "--concurrency", "4", "--timeout-ms", "500", "--json", "--log-level", "info"]);
      expect(c).toEqual({
        entries: ["ws://e:1"],
        spec: { app: "render", payload: { w: 64 }, require: [], timeoutMs: 500, user: "u1", cost: 2.5 },
        count: 10,
        concurrency: 4,
        json: true,
        logLevel: "info",
      });
    });

    it("takes --heartbeat-ms and --silence-ms as allot start does, and leaves both to the client's defaults without them", () => {
      expect(submitConfig([...BASE, "--heartbeat-ms", "100", "--silence-ms", "400"])).toMatchObject({ heartbeatMs: 100, silenceMs: 400 });
      expect(submitConfig([...BASE, "--heartbeat-ms", "100"])).toMatchObject({ heartbeatMs: 100 });
      expect(submitConfig([...BASE, "--heartbeat-ms", "100"])).not.toHaveProperty("silenceMs");
      expect(submitConfig(BASE)).not.toHaveProperty("heartbeatMs");
      expect(submitError([...BASE, "--heartbeat-ms", "0"]).flag).toBe("--heartbeat-ms");
      expect(submitError([...BASE, "--silence-ms", "500"]).flag).toBe("--silence-ms"); // not above the default 500 ms heartbeat
      expect(submitError([...BASE, "--heartbeat-ms", "200", "--silence-ms", "200"]).flag).toBe("--silence-ms");
      expect(SUBMIT_HELP).toContain("--silence-ms N");
    });

    it("takes --log-format", () => {
      expect(submitConfig([...BASE, "--log-format", "pretty"])).toMatchObject({ logFormat: "pretty" });
      expect(submitConfig(BASE)).not.toHaveProperty("logFormat");
      expect(submitError([...BASE, "--log-format", "yaml"]).flag).toBe("--log-format");
    });

    it("returns help for --help, and the help names --require's in and --prefer", () => {
      expect(submitConfig(["--help"])).toBe("help");
      expect(SUBMIT_HELP).toContain("key in (a,b,c)");
      expect(SUBMIT_HELP).toContain("--prefer EXPR[:W]");
    });

    it.each<[string, string[], string, RegExp]>([
      ["an unfinished in list", ["--require", "region in (eu,"], "--require", /expected a value or "\)" at 14/],
      ["an ordering op without a number", ["--require", "power>=high"], "--require", />= needs a number, got "high" at 7/],
      ["a missing operator", ["--require", "region"], "--require", /expected an operator .* at 6/],
      ["an in without a list", ["--require", "region in eu"], "--require", /expected "\(" .* at 10/],
      ["a weight that is not a number", ["--prefer", "region=eu:abc"], "--prefer", /expected a weight \(a finite number >= 0\), got "abc" at 10/],
      ["an infinite weight", ["--prefer", "region=eu:1e999"], "--prefer", /weight .*got "1e999" at 10/],
      ["a negative weight", ["--prefer", "region=eu:-2"], "--prefer", /weight .*got "-2" at 10/],
      ["an empty weight", ["--prefer", "region in (eu):"], "--prefer", /expected a weight .* at 15/],
      ["a bad preference", ["--prefer", "region in ()"], "--prefer", /expected a value, got "\)" at 11/],
    ])("throws a CliError naming the flag and the position for %s", (_what, argv, flag, problem) => {
      const err = submitError([...BASE, ...argv]);
      expect(err.flag).toBe(flag);
      expect(err.code).toBe("USAGE");
      expect(err.message.startsWith(`${flag}: cannot parse ${JSON.stringify(argv[1])}`)).toBe(true);
      expect(err.message).toMatch(problem);
    });

    it("points at the offending token under the message", () => {
      const lines = submitError([...BASE, "--require", "power>=4", "--require", "region in (eu,,us)"]).message.split("\n");
      expect(lines).toEqual(['--require: cannot parse "region in (eu,,us)": expected a value or ")", got "," at 14', "  region in (eu,,us)", "                ^"]);
    });

    it.each<[string, string[], string]>([
      ["no --entry", ["--app", "echo"], "--entry"],
      ["no --app", ["--entry", "ws://e:1"], "--app"],
      ["bad JSON", [...BASE, "--payload", "{"], "--payload"],
      ["--cost 0", [...BASE, "--cost", "0"], "--cost"],
      ["--count 0", [...BASE, "--count", "0"], "--count"],
      ["--log-level loud", [...BASE, "--log-level", "loud"], "--log-level"],
      ["--prefer without a value", [...BASE, "--prefer"], "--prefer"],
    ])("throws a CliError naming the flag for %s", (_what, argv, flag) => {
      expect(submitError(argv).message).toContain(flag);
    });

    it("exits 2 from allot submit, naming the flag and the position, before it connects to anything", async () => {
      const written: string[] = [];
      const spy = vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
        written.push(String(chunk));
        return true;
      });
      try {
        expect(await main(["submit", ...BASE, "--prefer", "region=eu:heavy"])).toBe(2);
      } finally {
        spy.mockRestore();
      }
      expect(written.join("")).toContain('allot submit: --prefer: cannot parse "region=eu:heavy": expected a weight (a finite number >= 0), got "heavy" at 10\n  region=eu:heavy\n            ^\n');
    });
  });
});

describe("cli/demo", () => {
  it("exits 2 on a bad --log-format, before it starts the cluster", async () => {
    const r = await runMain(["demo", "--log-format", "loud"]);
    expect(r.code).toBe(2);
    expect(r.err).toContain('allot demo: --log-format: expected json or pretty or auto, got "loud"');
  });
});
