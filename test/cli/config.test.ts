import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { startSettings } from "../../src/cli/start.js";
import { readFileSync } from "node:fs";
import { runMain } from "../helpers/capture.js";
import { pasteProblems } from "../helpers/shell.js";

const dir = mkdtempSync(join(tmpdir(), "allot-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => {
  vi.unstubAllEnvs();
});

let n = 0;
function file(ext: string, text: string): string {
  const f = join(dir, `c${n++}.${ext}`);
  writeFileSync(f, text);
  return f;
}

/** `allot start … --print-config`, run in this process: the exit code, the printed settings and stderr. */
async function printed(argv: string[]): Promise<{ code: number; settings: Record<string, unknown> | undefined; err: string }> {
  const r = await runMain(["start", ...argv, "--print-config"]);
  return { code: r.code, settings: r.code === 0 ? (JSON.parse(r.out) as Record<string, unknown>) : undefined, err: r.err };
}

describe("allot start --config", () => {
  it("reads a YAML file whose keys are the flag names, lists as lists, numbers as numbers", async () => {
    const f = file("yaml", "# an app server\nrole: app\njoin: [ws://127.0.0.1:7001, ws://127.0.0.1:7002]\napps: [echo, hash]\ncapacity: 8\npower: 1.5\nheartbeat-ms: 500\nattr:\n  region: eu\n  gpu: true\n");
    const r = await printed(["--config", f]);
    expect(r.code, r.err).toBe(0);
    expect(r.settings).toEqual({ role: "app", join: ["ws://127.0.0.1:7001", "ws://127.0.0.1:7002"], apps: ["echo", "hash"], capacity: 8, power: 1.5, "heartbeat-ms": 500, attr: ["region=eu", "gpu=true"] });
    const s = startSettings(["--config", f], {});
    expect(s !== "help" && s.config).toMatchObject({ role: "app", join: ["ws://127.0.0.1:7001", "ws://127.0.0.1:7002"], apps: ["echo", "hash"], capacity: 8, power: 1.5, heartbeatMs: 500, attrs: { region: "eu", gpu: true } });
  });

  it("reads a JSON file the same way", async () => {
    const f = file("json", JSON.stringify({ role: "tier2", peers: "ws://127.0.0.1:7002", "dead-retention-ms": 60000, policy: "p2c" }));
    const s = startSettings(["--config", f], {});
    expect(s !== "help" && s.config).toMatchObject({ role: "tier2", peers: ["ws://127.0.0.1:7002"], deadRetentionMs: 60_000, policy: "p2c" });
    const r = await printed(["--config", f]);
    expect(r.settings).toEqual({ role: "tier2", peers: ["ws://127.0.0.1:7002"], "dead-retention-ms": 60000, policy: "p2c" });
  });

  it("takes flags over ALLOT_* variables over the file, key by key", async () => {
    const f = file("yaml", "role: tier2\nheartbeat-ms: 500\nsilence-ms: 5000\nid: from-file\n");
    vi.stubEnv("ALLOT_HEARTBEAT_MS", "700");
    vi.stubEnv("ALLOT_ID", "from-env");
    vi.stubEnv("ALLOT_LEDGER", "a variable that names no flag is left alone");
    const r = await printed(["--config", f, "--id", "from-flag"]);
    expect(r.code, r.err).toBe(0);
    expect(r.settings).toEqual({ role: "tier2", "heartbeat-ms": 700, "silence-ms": 5000, id: "from-flag" });
    const s = startSettings(["--config", f, "--id", "from-flag"]);
    expect(s !== "help" && s.config).toMatchObject({ heartbeatMs: 700, silenceMs: 5000, id: "from-flag" });
    // The environment alone, without a file.
    const e = await printed(["--role", "tier2"]);
    expect(e.settings).toEqual({ role: "tier2", "heartbeat-ms": 700, id: "from-env" });
  });

  it("refuses an unknown key, naming the key and the file (exit 2)", async () => {
    const f = file("yaml", "role: app\napps: [echo]\njoin: ws://127.0.0.1:7001\nheartbeat: 500\n");
    const r = await printed(["--config", f]);
    expect(r.code).toBe(2);
    expect(r.err).toContain('unknown key "heartbeat"');
    expect(r.err).toContain(f);
  });

  it("refuses a value of the wrong type, naming the key, the file and the type expected (exit 2)", async () => {
    const f = file("yaml", "role: app\napps: {echo: 1}\njoin: ws://127.0.0.1:7001\n");
    const r = await printed(["--config", f]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`key "apps" in ${f}: expected a string or a list of strings, got a mapping`);
    const b = file("json", JSON.stringify({ role: "tier2", insecure: "yes" }));
    const rb = await printed(["--config", b]);
    expect(rb.code).toBe(2);
    expect(rb.err).toContain(`key "insecure" in ${b}: expected true or false`);
  });

  it("refuses a value its flag would refuse, naming the key and the file, or the variable", async () => {
    const f = file("yaml", "role: tier2\nheartbeat-ms: fast\n");
    const r = await printed(["--config", f]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`key "heartbeat-ms" in ${f}: expected a whole number, got "fast"`);
    const a = file("yaml", "role: tier2\ncapacity: 4\n");
    const ra = await printed(["--config", a]);
    expect(ra.code).toBe(2);
    expect(ra.err).toContain(`key "capacity" in ${a}: does not apply to --role tier2`);
    vi.stubEnv("ALLOT_SILENCE_MS", "1s");
    const e = await printed(["--role", "tier2"]);
    expect(e.code).toBe(2);
    expect(e.err).toContain('ALLOT_SILENCE_MS: expected a whole number, got "1s"');
  });

  it("refuses a file that does not parse, naming the file and the line (exit 2)", async () => {
    const y = file("yaml", "role: app\napps: [echo\njoin: ws://127.0.0.1:7001\n");
    const r = await printed(["--config", y]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(new RegExp(`${y.replaceAll(".", "\\.")} line \\d+ does not parse`));
    const j = file("json", '{\n  "role": "tier2",\n  "id": "x",,\n}\n');
    const rj = await printed(["--config", j]);
    expect(rj.code).toBe(2);
    expect(rj.err).toContain(`${j} line 3 does not parse`);
    const m = await printed(["--config", join(dir, "missing.yaml")]);
    expect(m.code).toBe(2);
    expect(m.err).toContain("missing.yaml");
    const l = file("yaml", "- role: app\n");
    expect((await printed(["--config", l])).err).toContain(`${l} must hold a mapping`);
  });

  it("refuses a YAML alias bomb (billion laughs) as a usage error naming the file, not a stack trace", async () => {
    const levels = ["a: &a [x, x, x, x, x, x, x, x, x]"];
    for (let i = 1; i < 8; i++) levels.push(`l${i}: &l${i} [${Array(9).fill(i === 1 ? "*a" : `*l${i - 1}`).join(", ")}]`);
    const f = file("yaml", `${levels.join("\n")}\nrole: tier2\n`);
    const r = await printed(["--config", f]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(f);
    expect(r.err).toContain("alias");
    expect(r.err).not.toMatch(/\n\s+at /);
  });

  it("refuses a file too long to be a config file without reading it to its end (/dev/zero)", async () => {
    const started = Date.now();
    const r = await printed(["--config", "/dev/zero"]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("/dev/zero is more than");
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("refuses the keys every object has (__proto__, constructor, toString) as unknown keys, never drops them", async () => {
    for (const key of ["__proto__", "constructor", "toString", "hasOwnProperty"]) {
      const f = file("json", `{"role": "tier2", ${JSON.stringify(key)}: "x"}`);
      const r = await printed(["--config", f]);
      expect(r.code, `${key}: ${r.err}`).toBe(2);
      expect(r.err).toContain(`unknown key ${JSON.stringify(key)} in ${f}`);
    }
  });

  it("refuses an attribute named __proto__ (which no server may report) instead of dropping it in silence", async () => {
    const f = file("yaml", "role: app\njoin: ws://127.0.0.1:7001\napps: [echo]\nattr: {__proto__: x, region: eu}\n");
    const r = await printed(["--config", f]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`key "attr" in ${f}`);
    expect(r.err).toContain("__proto__");
    const flag = await printed(["--role", "app", "--join", "ws://127.0.0.1:7001", "--apps", "echo", "--attr", "__proto__=x"]);
    expect(flag.code).toBe(2);
    expect(flag.err).toContain("--attr");
  });

  it("names a number no flag takes as what it is (1e400 is Infinity, not null)", async () => {
    const f = file("yaml", "role: tier2\nheartbeat-ms: 1e400\n");
    const r = await printed(["--config", f]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`key "heartbeat-ms" in ${f}: expected a string or a number, got number Infinity`);
  });

  it("still reads ALLOT_CREDENTIALS, now as any ALLOT_* variable, naming it when its file is bad", async () => {
    vi.stubEnv("ALLOT_CREDENTIALS", join(dir, "no-such.cred"));
    vi.stubEnv("ALLOT_CLUSTER_PUB", join(dir, "no-such.pub"));
    const r = await printed(["--role", "tier2"]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("ALLOT_CREDENTIALS");
  });
});

describe("docs/operations.md, Config files, top and status of a set", () => {
  const doc = readFileSync(new URL("../../docs/operations.md", import.meta.url), "utf8");
  const section = doc.slice(doc.indexOf("## Config files, top and status of a set"));
  const blocks = (lang: string): string[] => [...section.matchAll(new RegExp("```" + lang + "\\n([\\s\\S]*?)```", "g"))].map((m) => m[1] as string);

  it("has a YAML example that allot start reads, and shell lines that paste", async () => {
    const [yaml] = blocks("yaml");
    expect(yaml).toBeDefined();
    const f = file("yaml", yaml as string);
    const s = startSettings(["--config", f, "--capacity", "4"], { ALLOT_HEARTBEAT_MS: "700" });
    expect(s !== "help" && s.config).toMatchObject({ role: "app", id: "app-1", apps: ["echo", "hash"], capacity: 4, heartbeatMs: 700, attrs: { region: "eu", gpu: true } });
    const sh = blocks("sh");
    expect(sh.length).toBeGreaterThanOrEqual(3);
    expect(sh.flatMap((b) => pasteProblems(b))).toEqual([]);
  });
});
