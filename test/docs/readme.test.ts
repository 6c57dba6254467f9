import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { loadHandlerModule } from "../../src/actors/runtime/handler-module.js";
import { ErrorCode } from "../../src/protocol/index.js";
import { blocksUnder, codeBlocks } from "../helpers/markdown.js";
import type { CodeBlock } from "../helpers/markdown.js";
import { commandLines, pasteProblems, unquoted } from "../helpers/shell.js";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const BIN = join(REPO, "bin", "allot.js");
const README = readFileSync(join(REPO, "README.md"), "utf8");
const BLOCKS = codeBlocks(README);
const SHELL = ["sh", "bash", "shell"];
/** How long a runnable block may take before its whole process group is killed. */
const BLOCK_MS = 60_000;

const tmp = mkdtempSync(join(tmpdir(), "allot-readme-"));
/** Process groups of blocks started and not yet known to be gone. */
const groups = new Set<number>();

afterAll(() => {
  for (const g of groups) killGroup(g);
  rmSync(tmp, { recursive: true, force: true });
});

function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, "SIGKILL");
  } catch {
    // ESRCH: nothing left in the group.
  }
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The one shell block directly under the heading `title`. */
function blockUnder(title: string): CodeBlock {
  const found = blocksUnder(BLOCKS, title, SHELL);
  expect(found.map((b) => `line ${b.line}`), `shell blocks directly under "${title}"`).toHaveLength(1);
  return found[0] as CodeBlock;
}

/** Fails at once, before running anything, unless the block backgrounds every node it starts and stops them at the end. */
function expectStartsAndStops(block: CodeBlock): void {
  const lines = commandLines(block.code);
  const starts = lines.filter((l) => /\ballot(\.js)? start\b/.test(l));
  expect(starts.length, "the block starts nodes").toBeGreaterThan(0);
  for (const l of starts) expect(l.trimEnd(), "a node started in the foreground never lets the block go on").toMatch(/&$/);
  expect(lines.slice(-2).join("\n"), "the block ends by stopping what it started").toMatch(/^kill \$\(jobs -p\)/m);
}

/** Whether this machine can give a block a network namespace of its own (root, util-linux unshare, iproute2). */
const ISOLATED = spawnSync("unshare", ["--net", "ip", "link", "set", "lo", "up"], { stdio: "ignore" }).status === 0;

interface BlockRun {
  code: number | null;
  out: string;
  err: string;
  timedOut: boolean;
  /** Whether a process the block started was still running once the block's shell had exited. */
  leftover: boolean;
}

/**
 * Runs `script` with bash from the repository root, in a fresh network namespace where it can
 * (so its fixed loopback ports never meet another process's), as its own process group: past
 * BLOCK_MS the whole group is killed, and so is whatever the block left running.
 */
async function runBlock(name: string, script: string): Promise<BlockRun> {
  const file = join(tmp, `${name}.sh`);
  writeFileSync(file, script);
  const [cmd, args] = ISOLATED ? ["unshare", ["--net", "bash", "-c", 'ip link set lo up && exec bash "$0"', file]] : ["bash", [file]];
  const proc = spawn(cmd, args, { cwd: REPO, stdio: ["ignore", "pipe", "pipe"], detached: true });
  const pgid = proc.pid as number;
  groups.add(pgid);
  let out = "";
  let err = "";
  proc.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
  proc.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
  // Nodes the block leaves running hold its stdout open, so 'close' waits for them: wait for 'exit'.
  const closed = new Promise<void>((resolve) => proc.once("close", () => resolve()));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(pgid);
  }, BLOCK_MS);
  const code = await new Promise<number | null>((resolve, reject) => {
    proc.once("error", reject);
    proc.once("exit", (c) => resolve(c));
  });
  clearTimeout(timer);
  // A node stopped by the block's kill may take a moment to exit after the shell's wait returns.
  let leftover = groupAlive(pgid);
  for (let i = 0; leftover && i < 20; i++) {
    await sleep(100);
    leftover = groupAlive(pgid);
  }
  killGroup(pgid);
  groups.delete(pgid);
  await Promise.race([closed, sleep(5000)]);
  return { code, out, err, timedOut, leftover };
}

const show = (r: BlockRun): string => `exit ${r.code}${r.timedOut ? ` (killed after ${BLOCK_MS} ms)` : ""}\n--- stdout\n${r.out}\n--- stderr\n${r.err.slice(-6000)}`;

/** The stdout lines that are JSON objects, parsed. */
const jsonLines = (out: string): Array<Record<string, unknown>> =>
  out
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

/** The ready lines of the nodes, as `ROLE ID URL`. */
const readyLines = (out: string): string[] => [...out.matchAll(/^ready (\S+ \S+ \S+)$/gm)].map((m) => m[1] as string);

describe("README.md", () => {
  describe("shell blocks", () => {
    const shellBlocks = BLOCKS.filter((b) => SHELL.includes(b.lang));

    it("has shell blocks, among them the two top commands", () => {
      const first = shellBlocks.slice(0, 2).map((b) => b.code.trim());
      expect(first).toEqual(["npm ci && npm run demo", "npm test"]);
    });

    it("every shell block parses (bash -n)", () => {
      for (const b of shellBlocks) {
        const r = spawnSync("bash", ["-n"], { input: b.code, encoding: "utf8" });
        expect(r.status, `README.md line ${b.line}: ${r.stderr}`).toBe(0);
      }
    });

    it("every shell line pastes as written: no unquoted < > | in an argument, no [--optional] syntax, no placeholders", () => {
      const problems = shellBlocks.flatMap((b) => pasteProblems(b.code).map((p) => `README.md block at line ${b.line}, ${p}`));
      expect(problems).toEqual([]);
    });
  });

  describe("docs/testing.md", () => {
    const text = readFileSync(join(REPO, "docs", "testing.md"), "utf8");
    const shell = codeBlocks(text).filter((b) => SHELL.includes(b.lang));

    it("has shell blocks, and every one parses and pastes as written", () => {
      expect(shell.length).toBeGreaterThan(0);
      for (const b of shell) {
        const r = spawnSync("bash", ["-n"], { input: b.code, encoding: "utf8" });
        expect(r.status, `docs/testing.md line ${b.line}: ${r.stderr}`).toBe(0);
      }
      expect(shell.flatMap((b) => pasteProblems(b.code).map((p) => `docs/testing.md block at line ${b.line}, ${p}`))).toEqual([]);
    });

    it("documents every value allot/testing exports and every checker, and points at the example test that exists", async () => {
      const testing = (await import("../../src/testing/index.js")) as Record<string, unknown> & { checkers: Record<string, unknown> };
      const names = [...Object.keys(testing), ...Object.keys(testing.checkers)];
      // Named in code, as itself (`check`) or through the namespace (`checkers.historyEnd`).
      expect(names.filter((n) => !new RegExp(`[\`.]${n}\\b`).test(text))).toEqual([]);
      expect(readdirSync(join(REPO, "examples"))).toContain("property-test.test.ts");
      expect(text).toContain("examples/property-test.test.ts");
    });

    it('"Replaying a failure": the snippet that builds the cluster once prints the history shown after it, step for step', async () => {
      const blocks = blocksUnder(codeBlocks(text), "Replaying a failure", ["ts", "text"]);
      const snippet = blocks.find((b) => b.lang === "ts" && b.code.includes("formatEvent"));
      const shown = blocks.find((b) => b.lang === "text");
      expect(snippet, "the ts block that prints the history").toBeDefined();
      expect(shown, "the text block of what it prints").toBeDefined();
      const testing = await import("../../src/testing/index.js");
      const printed: string[] = [];
      // The snippet is plain JavaScript; run it with its two names and a console that keeps what it prints.
      const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor as new (...args: string[]) => (...a: unknown[]) => Promise<void>;
      const run = new AsyncFunction("createTestCluster", "checkers", "console", snippet?.code ?? "");
      await run(testing.createTestCluster, testing.checkers, { log: (s: unknown) => printed.push(String(s)) });
      expect(printed.join("\n").trim()).toBe(shown?.code.trim());
    });

    it('"Virtual time": the snippet\'s run answers as its comment says', async () => {
      const block = blocksUnder(codeBlocks(text), "Virtual time", ["ts"])[0];
      expect(block, 'the ts block under "Virtual time"').toBeDefined();
      const said = /await cluster\.run\(\); \/\/ (\{[^}]*\})/.exec(block?.code ?? "")?.[1];
      expect(said, "the comment after cluster.run()").toBeDefined();
      const testing = await import("../../src/testing/index.js");
      const code = (block?.code ?? "").replace(/await cluster\.run\(\);/, "ran.push(await cluster.run());").replace(/console\.log\(h\.result\?\.result\);/, "ran.push(h.result?.result);");
      const ran: unknown[] = [];
      const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor as new (...args: string[]) => (...a: unknown[]) => Promise<void>;
      await new AsyncFunction("createTestCluster", "ran", code)(testing.createTestCluster, ran);
      // The comment is a JavaScript object literal: { steps: 28, time: 250, reason: "until" }.
      expect(ran[0]).toEqual(new Function(`return (${said});`)());
      expect(ran[1]).toEqual({ took: 250 });
    });
  });

  describe("Running nodes yourself", () => {
    it("runs as written: a tiered cluster with an app server serving examples/handlers/work.mjs, tasks through the outer vip, status, then stops every node", async () => {
      const block = blockUnder("Running nodes yourself");
      expectStartsAndStops(block);
      const r = await runBlock("tiered", block.code);
      expect(r.timedOut, show(r)).toBe(false);
      expect(r.code, show(r)).toBe(0);
      expect(r.leftover, `a node the block started was still running after it ended\n${show(r)}`).toBe(false);

      expect(readyLines(r.out).map((l) => l.split(" ")[0]).sort(), show(r)).toEqual(["app", "tier1", "tier2", "vip", "vip"]);
      expect(readyLines(r.out), show(r)).toContain("app app-1 ws://127.0.0.1:7003");
      const json = jsonLines(r.out);
      const primes = json.find((j) => "taskId" in j);
      expect(primes, show(r)).toMatchObject({ serverId: "app-1", result: { below: 200_000, count: 17_984 }, cached: false });
      const summary = json.find((j) => "completed" in j);
      expect(summary, show(r)).toMatchObject({ completed: 50, failed: 0, byServer: { "app-1": 50 } });
      // The tier-2's database: the one app server, alive, with what it offers and its attributes.
      expect(r.out, show(r)).toMatch(/^allocator \S+.*: 1 server\(s\)/m);
      expect(r.out, show(r)).toMatch(/^ {2}app-1 +alive +load \d+\/4 +power 2 +apps primes,lookup,echo +region=eu .*ws:\/\/127\.0\.0\.1:7003$/m);
      // The app server's own view: its load against capacity, and the tier-2 it reports to.
      expect(r.out, show(r)).toMatch(/^app server app-1 ws:\/\/127\.0\.0\.1:7003: load \d+\/4 .*apps primes,lookup,echo/m);
      expect(r.out, show(r)).toMatch(/^registrations \(1\):\n {2}ws:\/\/127\.0\.0\.1:7002 +open /m);
    }, BLOCK_MS + 30_000);
  });

  describe("The master/slave design", () => {
    it("runs as written: two masters (grant and indicate), an app server, a proxy and a direct slave, 100 tasks, then stops every node", async () => {
      const block = blockUnder("The master/slave design");
      expectStartsAndStops(block);
      expect(block.code).toMatch(/--assign grant\b/);
      expect(block.code).toMatch(/--assign indicate\b/);
      const r = await runBlock("master-slave", block.code);
      expect(r.timedOut, show(r)).toBe(false);
      expect(r.code, show(r)).toBe(0);
      expect(r.leftover, `a node the block started was still running after it ended\n${show(r)}`).toBe(false);

      expect(readyLines(r.out).map((l) => l.split(" ").slice(0, 2).join(" ")).sort(), show(r)).toEqual(["app app-1", "master master-1", "master master-2", "slave slave-direct", "slave slave-proxy"]);
      const summary = jsonLines(r.out).find((j) => "completed" in j);
      expect(summary, show(r)).toMatchObject({ completed: 100, failed: 0, byServer: { "app-1": 100 } });
      const bySlave = (summary?.bySlave ?? {}) as Record<string, number>;
      expect(Object.keys(bySlave).sort(), show(r)).toEqual(["slave-direct", "slave-proxy"]);
      expect((bySlave["slave-direct"] ?? 0) + (bySlave["slave-proxy"] ?? 0)).toBe(100);
      // The second master knows the server and both slaves (from them directly, and from its peer).
      for (const id of ["app-1", "slave-direct", "slave-proxy"]) expect(r.out, show(r)).toMatch(new RegExp(`^ {2}${id} +alive `, "m"));
    }, BLOCK_MS + 30_000);
  });

  describe("Your own handlers", () => {
    it("the handler module shown loads as a module of handlers for its applications, and words counts words", async () => {
      const [block] = blocksUnder(BLOCKS, "Your own handlers", ["js"]);
      expect(block, 'a js block under "Your own handlers"').toBeDefined();
      const apps = /--apps (\S+)/.exec(block?.code ?? "")?.[1]?.split(",") ?? [];
      expect(apps).toEqual(["words", "size"]);
      const file = join(tmp, "my-handlers.mjs");
      writeFileSync(file, block?.code ?? "");
      const loaded = await loadHandlerModule(file, apps);
      expect(Object.keys(loaded.handlers).sort()).toEqual(["size", "words"]);
      const m = (await import(pathToFileURL(file).href)) as { words: (p: unknown) => unknown };
      expect(m.words({ text: "the quick  brown fox" })).toEqual({ words: 4 });
      expect(() => m.words({})).toThrow(/payload\.text/);
    });
  });

  describe("Semantics in one paragraph", () => {
    it("names every error code a caller can get", () => {
      const start = README.indexOf("## Semantics in one paragraph");
      const paragraph = README.slice(start, README.indexOf("\n## ", start + 1));
      const missing = Object.values(ErrorCode).filter((c) => !paragraph.includes(`\`${c}\``));
      expect(missing).toEqual([]);
    });
  });

  describe("the command line", () => {
    it("shows what allot version prints", () => {
      const printed = spawnSync(process.execPath, [BIN, "version"], { encoding: "utf8" }).stdout.trim();
      expect(printed).toMatch(/^allot \d+\.\d+\.\d+ \(protocol \d+\)$/);
      expect(README).toContain(`\`${printed}\``);
    });
  });

  describe("Docs", () => {
    it("lists every file of docs/ that a user reads", () => {
      const start = README.indexOf("## Docs");
      const list = README.slice(start);
      const docs = readdirSync(join(REPO, "docs")).filter((f) => f.endsWith(".md"));
      expect(docs.filter((f) => !list.includes(`\`docs/${f}\``))).toEqual([]);
    });
  });
});

/** What a user reads: the README, the docs (but design.md, where the designs' claims are traced), and the command line's help and messages. */
function userText(): Array<[string, string]> {
  const cli = readdirSync(join(REPO, "src", "cli"))
    .filter((f) => f.endsWith(".ts"))
    .map((f) => `src/cli/${f}`);
  return ["README.md", "docs/protocol.md", "docs/operations.md", "docs/benchmarks.md", "docs/testing.md", ...cli].map((f) => [f, readFileSync(join(REPO, f), "utf8")]);
}

/** Words that mean something only inside the project's own planning. */
const JARGON = [/\bseeds? 0\d+/i, /\bissues? \d+/i, /\bclaims? \d+/i, /\bthe issue\b/i, /\bissue's\b/i, /\bsessions?\b/i, /\bthe brief\b/i];

describe("user documentation", () => {
  it("speaks no internal jargon: no seed 00N, issue N, claim N or sessions", () => {
    const found: string[] = [];
    for (const [name, text] of userText()) {
      expect(text.length, name).toBeGreaterThan(0);
      text.split("\n").forEach((line, i) => {
        if (JARGON.some((j) => j.test(line))) found.push(`${name}:${i + 1}: ${line.trim()}`);
      });
    }
    expect(found).toEqual([]);
  });

  it("has no empty section: every heading has text before the next heading", () => {
    const empty: string[] = [];
    for (const f of ["README.md", ...readdirSync(join(REPO, "docs")).filter((d) => d.endsWith(".md")).map((d) => `docs/${d}`)]) {
      const lines = readFileSync(join(REPO, f), "utf8").split("\n");
      let fenced = false;
      let open: { line: number; level: number; text: string } | undefined;
      lines.forEach((l, i) => {
        if (/^```/.test(l)) fenced = !fenced;
        const h = fenced ? null : /^(#{1,6})\s+(.*)$/.exec(l);
        if (h) {
          // A heading right under one of a higher level is its first subsection, not an empty section.
          if (open && (h[1] as string).length <= open.level) empty.push(`${f}:${open.line}: ${open.text}`);
          open = { line: i + 1, level: (h[1] as string).length, text: l };
        } else if (l.trim() !== "") open = undefined;
      });
      if (open) empty.push(`${f}:${open.line}: ${open.text}`);
    }
    expect(empty).toEqual([]);
  });
});

describe("shell check", () => {
  describe("unquoted", () => {
    it("drops quoted strings, escapes and comments, keeping line numbers", () => {
      expect(unquoted(`a '>|<' "x>y" b\\> # c|d\ne`)).toBe("a Q Q b_ \ne");
      expect(unquoted(`p '{\n}' q`)).toBe("p Q\n q");
      expect(unquoted("echo a#b")).toBe("echo a#b");
    });
  });

  describe("pasteProblems", () => {
    it("finds a constraint the shell would read as a redirection, and an alternative that would run as a pipe", () => {
      expect(pasteProblems("allot submit --require power>=2")).toHaveLength(1);
      expect(pasteProblems("allot submit --require power<2")).toHaveLength(1);
      expect(pasteProblems("allot start --role master [--assign grant|indicate]").length).toBeGreaterThanOrEqual(2);
      expect(pasteProblems("allot sim [--json]")).toHaveLength(1);
      expect(pasteProblems("allot attrs set --entry ws://APP server ID k=v")).toHaveLength(1);
      expect(pasteProblems("allot start … &")).toHaveLength(1);
    });

    it("lets quoted text and plain redirections of a file descriptor pass", () => {
      expect(pasteProblems("allot submit --require 'power>=2' --prefer \"region in (eu,us):2\" # a|b > c")).toEqual([]);
      expect(pasteProblems("until [[ $(allot status --entry ws://127.0.0.1:7002 2>/dev/null) == *app-1* ]]; do sleep 0.2; done")).toEqual([]);
      expect(pasteProblems("kill $(jobs -p)\nwait")).toEqual([]);
    });
  });
});
