import { spawn } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, isAbsolute, join, posix, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { blocksUnder, codeBlocks } from "../helpers/markdown.js";
import { readTarball } from "../helpers/tar.js";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const FIXTURES = fileURLToPath(new URL("./fixtures/", import.meta.url));
// The repo's compiler is only run; what it checks against comes from the installed package.
const TSC = join(REPO, "node_modules", "typescript", "bin", "tsc");
const SLOW = 120_000;

/** The embedding snippet of a README (its ts block under "## Embedding"): what the README shows is what runs. */
function embeddingSnippet(readme: string): string {
  const blocks = blocksUnder(codeBlocks(readme), "Embedding", ["ts"]);
  expect(blocks, 'one ts block under "## Embedding" in README.md').toHaveLength(1);
  return (blocks[0] as { code: string }).code;
}

/** Whether `path` is `dir` or inside it. */
const inside = (dir: string, path: string): boolean => {
  const rel = relative(dir, path);
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
};

// What `npm test` tells its children about the repo: this package and where it lives. The rest
// of npm's variables (npm_config_registry, _cafile, _cache…) is configuration a child npm needs.
const ABOUT_THE_REPO = /^(npm_package_|npm_lifecycle_|npm_config_(local_)?prefix$|npm_execpath$|npm_command$|INIT_CWD$|NODE_PATH$)/i;

/**
 * The environment for every child: without the repo's location or its `node_modules/.bin` on
 * PATH, so nothing a child runs can find the repository through them.
 */
function isolatedEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!ABOUT_THE_REPO.test(k)) env[k] = v;
  const path = (process.env.PATH ?? "").split(delimiter).filter((p) => p !== "" && !inside(REPO, p));
  env.PATH = [dirname(process.execPath), ...path].join(delimiter);
  return env;
}

interface Run {
  code: number | null;
  out: string;
  err: string;
}

/** Runs a command to completion, killing its whole process group (npm starts children) past `timeoutMs`. */
function run(cmd: string, args: string[], cwd: string, timeoutMs: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const proc = spawn(cmd, args, { cwd, env: isolatedEnv(), stdio: ["ignore", "pipe", "pipe"], detached: true });
    let out = "";
    let err = "";
    proc.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    proc.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
    const timer = setTimeout(() => {
      err += `\n[killed: still running after ${timeoutMs} ms]`;
      if (proc.pid !== undefined) process.kill(-proc.pid, "SIGKILL");
    }, timeoutMs);
    proc.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    proc.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

const show = (r: Run): string => `exit ${r.code}\n--- stdout\n${r.out}\n--- stderr\n${r.err}`;

let root = "";
let app = "";
let files = new Map<string, Buffer>();
/** Wall time of the consumer's npm install (the tarball, @types/node, vitest, fast-check). */
let installMs = 0;
/** The example test of examples/ that the consumer project runs as it is. */
const EXAMPLE_TEST = "property-test.test.ts";

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "allot-pack-"));
  // The consumer must not be able to reach the repository by walking up for node_modules.
  expect(inside(REPO, root), `${root} is inside the repository`).toBe(false);

  // What a fresh clone has: the tree without dist/ (so only prepack can build it) or .git; the
  // repo's node_modules only to build with.
  const clone = join(root, "clone");
  cpSync(REPO, clone, { recursive: true, filter: (src) => !["node_modules", "dist", ".git"].includes(relative(REPO, src).split(/[\\/]/)[0] ?? "") });
  symlinkSync(join(REPO, "node_modules"), join(clone, "node_modules"), "dir");
  const out = join(root, "out");
  mkdirSync(out);
  const packed = await run("npm", ["pack", "--pack-destination", out], clone, 60_000);
  expect(packed.code, show(packed)).toBe(0);
  const tarballs = readdirSync(out).filter((f) => f.endsWith(".tgz"));
  expect(tarballs).toHaveLength(1);
  const tarball = join(out, tarballs[0] as string);
  files = new Map([...readTarball(readFileSync(tarball))].map(([p, body]) => [p.replace(/^package\//, ""), body]));

  // A project of its own that installs the tarball file, never the repo's folder; the
  // dependencies come from the registry (or npm's cache).
  app = join(root, "app");
  cpSync(FIXTURES, app, { recursive: true });
  // The snippet of the README the package ships, as plain JavaScript (run) and as TypeScript
  // (type-checked with typed.ts).
  const snippet = embeddingSnippet(files.get("README.md")?.toString("utf8") ?? "");
  writeFileSync(join(app, "embed.mjs"), snippet);
  writeFileSync(join(app, "embed.ts"), snippet);
  // The example test a user copies (examples/ is not in the tarball: it comes from the repository),
  // run there with vitest and fast-check of the versions the repository tests with.
  cpSync(join(REPO, "examples", EXAMPLE_TEST), join(app, EXAMPLE_TEST));
  const pkg = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { devDependencies: Record<string, string> };
  const dev = (name: string): string => `${name}@${pkg.devDependencies[name] ?? "latest"}`;
  const started = performance.now();
  const installed = await run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", tarball, dev("@types/node"), dev("vitest"), dev("fast-check")], app, 150_000);
  expect(installed.code, show(installed)).toBe(0);
  installMs = Math.round(performance.now() - started);
}, 240_000);

afterAll(() => {
  if (root !== "") rmSync(root, { recursive: true, force: true });
});

describe("package", () => {
  describe("npm pack", () => {
    it("builds a fresh clone first and ships the library, its types, the bin, README and LICENSE", () => {
      for (const f of ["package.json", "dist/src/index.js", "dist/src/index.d.ts", "dist/src/cli/main.js", "bin/allot.js", "README.md", "LICENSE"]) {
        expect(files.has(f), `${f} is not in the tarball`).toBe(true);
      }
      expect(files.get("LICENSE")?.toString("utf8")).toMatch(/^MIT License[\s\S]*the Allot developers/);
    });

    it("ships no tests, benches, examples, CI files or build configuration", () => {
      const stray = [...files.keys()].filter((f) => /^(test|bench|examples|\.ci|scripts|dist\/(test|bench|examples))\//.test(f) || /^(tsconfig|vitest\.config|package-lock)\b/.test(f));
      expect(stray).toEqual([]);
    });

    it("ships the source of every source map it ships, so no map points at a missing file", () => {
      const missing: string[] = [];
      for (const [f, body] of files) {
        if (!f.endsWith(".map")) continue;
        const map = JSON.parse(body.toString("utf8")) as { sources: string[] };
        for (const s of map.sources) {
          const target = posix.normalize(posix.join(posix.dirname(f), s));
          if (!files.has(target)) missing.push(`${f} → ${target}`);
        }
      }
      expect(missing).toEqual([]);
      expect([...files.keys()].some((f) => f.endsWith(".map")), "no source maps at all: drop src/ from files too").toBe(true);
    });
  });

  describe("the installed tarball", () => {
    it("runs the README's embedding snippet as embed.mjs: tier2, app server with an inline handler and client, then exits by itself", async () => {
      const r = await run(process.execPath, ["embed.mjs"], app, 30_000);
      expect(r.code, show(r)).toBe(0);
      expect(r.out).toMatch(/^app-[0-9a-f]{6} returned \{"ok":true,"payload":\{"w":64\}\}$/m);
      // "allot" resolves to the installed copy, not to the repository.
      const resolved = await run(process.execPath, ["--input-type=module", "-e", 'console.log(import.meta.resolve("allot"))'], app, 30_000);
      expect(resolved.code, show(resolved)).toBe(0);
      expect(fileURLToPath(resolved.out.trim())).toBe(join(app, "node_modules", "allot", "dist", "src", "index.js"));
    }, SLOW);

    it("type-checks a file using its types and the README's embedding snippet, and rejects a file with a wrong type", async () => {
      const ok = await run(process.execPath, [TSC, "-p", "tsconfig.json", "--listFiles"], app, 60_000);
      expect(ok.code, show(ok)).toBe(0);
      const listed = ok.out.split("\n").filter((l) => l.trim() !== "");
      expect(listed).toContain(join(app, "node_modules", "allot", "dist", "src", "index.d.ts"));
      expect(listed).toContain(join(app, "embed.ts"));
      // Everything but the compiler's own lib files (lib.es2022.d.ts, …) comes from the consumer project.
      expect(listed.filter((f) => !inside(app, f) && !/[\\/]lib\.[\w.]+\.d\.ts$/.test(f))).toEqual([]);

      const wrong = await run(process.execPath, [TSC, "-p", "tsconfig.wrong.json"], app, 60_000);
      expect(wrong.code, show(wrong)).not.toBe(0);
      expect(wrong.out).toMatch(/typed-wrong\.ts\(\d+,\d+\): error TS2322: Type 'number' is not assignable to type 'string'/);
    }, SLOW);

    it("imports createTestCluster and checkers from allot/testing (the installed copy) and runs a tiny cluster to a passing check", async () => {
      const r = await run(process.execPath, ["testing.mjs"], app, 30_000);
      expect(r.code, show(r)).toBe(0);
      expect(fileURLToPath(/^resolved (.*)$/m.exec(r.out)?.[1] ?? "")).toBe(join(app, "node_modules", "allot", "dist", "src", "testing", "index.js"));
      expect(r.out).toMatch(/^echo answered 1 from a1; ok$/m);
    }, SLOW);

    it(`type-checks and runs the example test ${EXAMPLE_TEST} with vitest and fast-check, importing nothing from the repository`, async () => {
      const typed = await run(process.execPath, [TSC, "-p", "tsconfig.example.json", "--listFiles"], app, 60_000);
      expect(typed.code, show(typed)).toBe(0);
      expect(typed.out).toContain(join(app, "node_modules", "allot", "dist", "src", "testing", "index.d.ts"));
      expect(typed.out.split("\n").filter((f) => f.trim() !== "" && !inside(app, f) && !/[\\/]lib\.[\w.]+\.d\.ts$/.test(f))).toEqual([]);
      const started = performance.now();
      const r = await run("npx", ["vitest", "run", EXAMPLE_TEST], app, 90_000);
      const ms = Math.round(performance.now() - started);
      expect(r.code, show(r)).toBe(0);
      expect(r.out.replace(/\x1b\[[0-9;]*m/g, "")).toMatch(/Tests\s+2 passed \(2\)/);
      console.log(`consumer project: npm install ${installMs} ms (tarball, @types/node, vitest, fast-check); npx vitest run ${EXAMPLE_TEST} ${ms} ms`);
    }, SLOW);

    it("runs its bin: allot demo --tasks 50 completes all 50", async () => {
      const r = await run(join(app, "node_modules", ".bin", "allot"), ["demo", "--tasks", "50"], app, 60_000);
      expect(r.code, show(r)).toBe(0);
      expect(r.out).toMatch(/^completed\s+50$/m);
      expect(r.out).toMatch(/^failed\s+0$/m);
    }, SLOW);
  });
});
