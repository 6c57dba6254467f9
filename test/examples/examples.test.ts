import { spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

/** Runs a built example as its own process; the test suite builds first (npm test). */
async function run(name: string): Promise<{ code: number | null; out: string; err: string }> {
  const file = fileURLToPath(new URL(`../../dist/examples/${name}.js`, import.meta.url));
  const proc = spawn(process.execPath, [file], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  proc.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
  proc.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
  const timer = setTimeout(() => proc.kill("SIGKILL"), 30_000);
  const [code] = (await once(proc, "exit")) as [number | null];
  clearTimeout(timer);
  return { code, out, err };
}

describe("examples", () => {
  it("every built example imports the package by its name, allot (or allot/testing), so it can be copied into a project", () => {
    const names = readdirSync(new URL("../../examples/", import.meta.url)).filter((f) => f.endsWith(".ts"));
    expect(names.length).toBeGreaterThan(0);
    expect(names, "the example test a user can copy").toContain("property-test.test.ts");
    for (const name of names) {
      const js = readFileSync(new URL(`../../dist/examples/${name.replace(/\.ts$/, ".js")}`, import.meta.url), "utf8");
      // Static imports and re-exports (`… from "x"`, `import "x"`) start a line in tsc's output; dynamic ones are `import("x")`.
      const specifiers = [...js.matchAll(/^(?:(?:import|export)\s[^;]*?\sfrom\s*|import\s*)"([^"]+)"|\bimport\(\s*"([^"]+)"\s*\)/gm)].map((m) => m[1] ?? m[2]);
      expect(specifiers.some((s) => s === "allot" || s === "allot/testing"), name).toBe(true);
      // An example test (*.test.ts) is run by vitest and may also use vitest and fast-check, and nothing else.
      const allowed = name.endsWith(".test.ts") ? ["allot", "allot/testing", "vitest", "fast-check"] : ["allot", "allot/testing"];
      expect(specifiers.filter((s) => s === undefined || (!allowed.includes(s) && !s.startsWith("node:"))), name).toEqual([]);
      if (name.endsWith(".test.ts")) expect(specifiers.filter((s) => s?.startsWith("node:")), `${name} needs nothing but allot/testing, vitest and fast-check`).toEqual([]);
    }
  });

  it("embed-app-server runs the custom word-count handler on the app server", async () => {
    const r = await run("embed-app-server");
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/counted \{ words: 5 \}/);
    expect(r.out).toContain("[ { words: 2 }, { words: 3 }, { words: 1 } ]");
  });

  it("tiered-cluster places the gpu task on the gpu server and the us client's task in the us", async () => {
    const r = await run("tiered-cluster");
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain("gpu task ran on big-eu");
    expect(r.out).toContain("us client's task ran on mid-us");
  });

  it("master-slave sends the costly task to the server whose idle power covers it, and uses both slaves", async () => {
    const r = await run("master-slave");
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/costly task ran on big via slave-\d-(proxy|direct)/);
    expect(r.out).toMatch(/'slave-1-proxy': \d+/);
    expect(r.out).toMatch(/'slave-2-direct': \d+/);
  });

  it("testing crashes a server mid-run under allot/testing, the task runs elsewhere, and the same seed replays the same history", async () => {
    const r = await run("testing");
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/the task started on (big|small), which crashed; it then ran on (big|small) \(attempts: 2\), answered \d+ virtual ms/);
    expect(r.out).toContain("lost runs: 1");
    expect(r.out).toContain("same seed, same history: true");
  });

  it("custom-policy registers a policy with an option, prefers the labelled server, and names a bad option", async () => {
    const r = await run("custom-policy");
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain("a lone task ran on ssd");
    expect(r.out).toContain("six at once ran on: disk, ssd");
    expect(r.out).toContain("bad option: policy prefer-label: unknown option colour; it takes label");
  });
});
