import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { setAttrs, startNode } from "../../src/index.js";
import type { Attrs } from "../../src/index.js";
import { specAt, submitConfig, taskKey } from "../../src/cli/submit.js";
import type { SubmitConfig } from "../../src/cli/submit.js";
import type { Summary } from "../../src/cli/load.js";
import { runMain } from "../helpers/capture.js";
import { trackNodes } from "../helpers/nodes.js";
import { eventually } from "../helpers/raw-client.js";

const track = trackNodes();
const silent = { logLevel: "silent" as const };

function config(argv: string[]): SubmitConfig {
  const c = submitConfig(["--entry", "ws://e:1", "--app", "echo", ...argv]);
  if (c === "help") throw new Error("help");
  return c;
}

/** A tier-2 with echo servers; resolves with its URL once they have all registered. */
async function fleet(servers: Array<[string, number, Attrs]>): Promise<string> {
  const tier2 = await track(startNode({ ...silent, role: "tier2" }));
  for (const [id, power, attrs] of servers) await track(startNode({ ...silent, role: "app", id, apps: ["echo"], capacity: 8, power, attrs, join: [tier2.url] }));
  await eventually(() => (tier2.stats().servers as unknown[]).length === servers.length, 5000, "the servers to register");
  return tier2.url;
}

/** `allot submit … -o json` in this process: its exit code and summary. */
async function submitJson(argv: string[]): Promise<Summary> {
  const r = await runMain(["submit", ...argv, "-o", "json"]);
  expect(r.code, r.err).toBe(0);
  return JSON.parse(r.out) as Summary;
}

describe("cli/submit", () => {
  describe("taskKey", () => {
    it("is the key itself for one task, and K-1 … K-N for N", () => {
      expect(taskKey("K", 0, 1)).toBe("K");
      expect([0, 1, 2].map((i) => taskKey("K", i, 3))).toEqual(["K-1", "K-2", "K-3"]);
    });

    it("gives N distinct keys, the same ones every time", () => {
      fc.assert(
        fc.property(fc.string({ minLength: 1 }), fc.integer({ min: 1, max: 200 }), (key, n) => {
          const keys = Array.from({ length: n }, (_, i) => taskKey(key, i, n));
          expect(new Set(keys).size).toBe(n);
          expect(Array.from({ length: n }, (_, i) => taskKey(key, i, n))).toEqual(keys);
          for (const k of keys) expect(k.startsWith(key)).toBe(true);
        }),
      );
    });
  });

  describe("submitConfig", () => {
    it("takes the client's id and the idempotency key", () => {
      expect(config(["--id", "c-us", "--key", "batch-7", "--count", "3"])).toMatchObject({ id: "c-us", key: "batch-7", count: 3 });
      expect(config([])).not.toHaveProperty("id");
      expect(config([])).not.toHaveProperty("key");
    });

    it("takes --lease as the slots each task's lease asks for", () => {
      expect(config(["--lease", "64"]).spec).toMatchObject({ lease: 64 });
      expect(config([]).spec).not.toHaveProperty("lease");
    });

    it("takes client attributes with --client-attr, typed, as allot explain does", () => {
      expect(config(["--client-attr", "region=eu", "--client-attr", "gpu=true"]).spec).toMatchObject({ clientAttrs: { region: "eu", gpu: true } });
      expect(config([]).spec).not.toHaveProperty("clientAttrs");
      expect(() => config(["--client-attr", "region"])).toThrow(/--client-attr/);
    });

    it.each<[string, string[], RegExp]>([
      ["an empty --id", ["--id", ""], /^--id: must not be empty/],
      ["an --id too long for the task ids made from it", ["--id", "c".repeat(129)], /^--id: must be at most 128 characters/],
      ["an empty --key", ["--key", ""], /^--key: must not be empty/],
      ["a --key too long for a message", ["--key", "k".repeat(257)], /^--key: must be at most 256 characters/],
      ["a --key whose derived keys would be too long", ["--key", "k".repeat(254), "--count", "100"], /^--key: must be at most 252 characters/],
      ["a --lease of 0 slots", ["--lease", "0"], /^--lease: must be from 1 to 10000/],
      ["a --lease that is not a number", ["--lease", "many"], /^--lease: expected a whole number/],
      ["--lease with --key", ["--lease", "4", "--key", "k"], /^--lease: cannot go with --key/],
    ])("refuses %s", (_what, argv, message) => {
      expect(() => config(argv)).toThrow(message);
    });
  });

  describe("specAt", () => {
    it("gives each task its own key derived from --key, and leaves the key to the client without it", () => {
      const c = config(["--key", "K", "--count", "2"]);
      expect([specAt(c, 0).key, specAt(c, 1).key]).toEqual(["K-1", "K-2"]);
      expect(specAt(config(["--key", "K"]), 0).key).toBe("K");
      expect(specAt(config([]), 0)).not.toHaveProperty("key");
    });
  });

  describe("submit", () => {
    it("returns the stored results when the same command runs again with the same --key", async () => {
      const entry = await fleet([["app-1", 1, {}]]);
      // Stored results are per client: the rerun is the same client only with the same --id.
      const argv = ["--entry", entry, "--app", "echo", "--payload", '{"n":1}', "--count", "5", "--key", `run-${process.pid}`, "--id", "rerun"];
      expect(await submitJson(argv)).toMatchObject({ completed: 5, failed: 0, cached: 0 });
      expect(await submitJson(argv)).toMatchObject({ completed: 5, failed: 0, cached: 5 });
      // Another key is another set of tasks: they run.
      expect(await submitJson([...argv, "--key", "other"])).toMatchObject({ completed: 5, cached: 0 });
      // One task with --key, text output: its key is K itself.
      const one = ["submit", "--entry", entry, "--app", "echo", "--key", "single", "--id", "rerun"];
      expect(JSON.parse((await runMain(one)).out)).toMatchObject({ cached: false, result: null });
      expect(JSON.parse((await runMain(one)).out)).toMatchObject({ cached: true, result: null });
    });

    it("warns of no listener leak with more tasks in flight than Node's default of 10 listeners on its Ctrl-C signal", async () => {
      const entry = await fleet([["wide-1", 1, {}], ["wide-2", 1, {}], ["wide-3", 1, {}], ["wide-4", 1, {}]]);
      const warnings: string[] = [];
      const onWarning = (w: Error): void => void warnings.push(`${w.name}: ${w.message}`);
      process.on("warning", onWarning);
      try {
        expect(await submitJson(["--entry", entry, "--app", "echo", "--count", "96", "--concurrency", "32"])).toMatchObject({ completed: 96, failed: 0 });
        // The warning is emitted on the next tick after the listener past the limit is added.
        await new Promise((r) => setImmediate(r));
      } finally {
        process.off("warning", onWarning);
      }
      expect(warnings.filter((w) => w.startsWith("MaxListenersExceededWarning"))).toEqual([]);
    });

    it("runs the tasks under a lease with --lease: the tier-2 grants one, and every task completes", async () => {
      const tier2 = await track(startNode({ ...silent, role: "tier2" }));
      await track(startNode({ ...silent, role: "app", id: "lease-1", apps: ["echo"], capacity: 8, power: 1, join: [tier2.url] }));
      await eventually(() => (tier2.stats().servers as unknown[]).length === 1, 5000, "the server to register");
      expect(await submitJson(["--entry", tier2.url, "--app", "echo", "--count", "40", "--concurrency", "2", "--lease", "4"])).toMatchObject({ completed: 40, failed: 0 });
      expect(tier2.stats().leasesGranted as number).toBeGreaterThanOrEqual(1);
    });

    it("submits as the client --id names, so the attributes stored for that client steer its tasks", async () => {
      // eu-4 is everyone's choice (power 4); a client stored as in the us prefers us-1.
      const entry = await fleet([["eu-1", 1, { region: "eu" }], ["us-1", 1, { region: "us" }], ["eu-4", 4, { region: "eu" }]]);
      await setAttrs(entry, "client", "c-us", { region: "us" });
      const argv = ["--entry", entry, "--app", "echo", "--count", "6", "--concurrency", "1"];
      expect((await submitJson(argv)).byServer).toEqual({ "eu-4": 6 });
      expect((await submitJson([...argv, "--id", "c-us"])).byServer).toEqual({ "us-1": 6 });
      expect((await submitJson([...argv, "--id", "c-other"])).byServer).toEqual({ "eu-4": 6 });
    });
  });
});
