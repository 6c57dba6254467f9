import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { queryStatus, startNode } from "../../src/index.js";
import type { RunningClient, RunningNode } from "../../src/index.js";
import { eventually } from "../helpers/raw-client.js";
import { killAll, runCli, startProc } from "../helpers/proc.js";
import type { NodeProc } from "../helpers/proc.js";

const WORK = fileURLToPath(new URL("../../examples/handlers/work.mjs", import.meta.url));
const MISBEHAVE = fileURLToPath(new URL("../fixtures/handlers/misbehave.mjs", import.meta.url));
const fixture = (f: string): string => fileURLToPath(new URL(`../fixtures/handlers/${f}`, import.meta.url));

const procs: NodeProc[] = [];
const nodes: RunningNode[] = [];
afterAll(async () => {
  for (const n of nodes.reverse()) await n.stop();
  await killAll(procs);
});

async function start(args: string[]): Promise<NodeProc> {
  const p = await startProc([...args, "--listen", "127.0.0.1:0"]);
  procs.push(p);
  return p;
}

/** Waits (bounded) until the allocator at `url` knows `n` app servers alive. */
async function registered(url: string, n: number, slaves = 0): Promise<void> {
  const alive = (rows: Array<{ status: string }> | undefined): number => (rows ?? []).filter((r) => r.status === "alive").length;
  for (let i = 0; i < 200; i++) {
    const s = await queryStatus(url);
    if ((s.role === "tier2" || s.role === "master") && alive(s.servers) >= n && alive(s.slaves) >= slaves) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`${url}: fewer than ${n} app servers registered`);
}

async function client(entries: string[]): Promise<RunningClient> {
  const c = await startNode({ role: "client", entries, logLevel: "silent", backoffMinMs: 10, backoffMaxMs: 100 });
  nodes.push(c);
  return c;
}

describe("a user's handler module served by `allot start --role app --handlers`, every node in its own process", () => {
  it("serves the module's CPU-bound and I/O-bound applications and a built-in through the tiered path", async () => {
    const tier2 = await start(["--role", "tier2"]);
    await start(["--role", "app", "--join", tier2.url, "--handlers", WORK, "--apps", "primes,lookup,echo", "--workers", "2"]);
    await registered(tier2.url, 1);
    const vip2 = await start(["--role", "vip", "--to", tier2.url]);
    const tier1 = await start(["--role", "tier1", "--to", vip2.url]);
    const vip1 = await start(["--role", "vip", "--to", tier1.url]);
    const c = await client([vip1.url]);
    await expect(c.submit({ app: "primes", payload: { below: 1000 }, timeoutMs: 20_000 })).resolves.toMatchObject({ result: { below: 1000, count: 168 } });
    await expect(c.submit({ app: "lookup", payload: { region: "us" } })).resolves.toMatchObject({ result: { region: "us", currency: "USD", attempt: 1 } });
    await expect(c.submit({ app: "echo", payload: "built in" })).resolves.toMatchObject({ result: "built in" });
    // The module's own failure is the task's answer, not the server's.
    await expect(c.submit({ app: "lookup", payload: { region: "mars" } })).rejects.toMatchObject({ code: "TASK_FAILED", message: expect.stringContaining("no such region: mars") });
  });

  it("serves the module's applications through master/slave, proxy and direct", async () => {
    const master = await start(["--role", "master"]);
    await start(["--role", "app", "--join", master.url, "--handlers", WORK, "--apps", "primes,lookup", "--workers", "1"]);
    await start(["--role", "slave", "--master", master.url, "--link", "proxy"]);
    await start(["--role", "slave", "--master", master.url, "--link", "direct"]);
    await registered(master.url, 1, 2);
    const c = await client([master.url]);
    const slaves = new Set<string>();
    for (let i = 0; i < 40 && slaves.size < 2; i++) {
      const r = await c.submit({ app: i % 2 ? "primes" : "lookup", payload: i % 2 ? { below: 100 } : { region: "eu" }, timeoutMs: 20_000 });
      expect(r.result).toEqual(i % 2 ? { below: 100, count: 25 } : { region: "eu", currency: "EUR", vat: 0.2, attempt: 1 });
      if (r.slaveId) slaves.add(r.slaveId);
    }
    expect(slaves.size).toBe(2);
  });

  it("stays up and keeps its stdout to the one ready line whatever its handlers do", async () => {
    const tier2 = await start(["--role", "tier2"]);
    const app = await start(["--role", "app", "--join", tier2.url, "--handlers", MISBEHAVE, "--apps", "getterFlips,returnsBigInt,rejectsNullProto,logs,echo", "--workers", "0"]);
    let stdout = "";
    app.proc.stdout?.on("data", (d: string) => (stdout += d));
    await registered(tier2.url, 1);
    const c = await client([tier2.url]);
    await expect(c.submit({ app: "getterFlips" })).resolves.toMatchObject({ result: { value: 1 } });
    await expect(c.submit({ app: "returnsBigInt" })).rejects.toMatchObject({ code: "INVALID" });
    await expect(c.submit({ app: "rejectsNullProto", timeoutMs: 5000 })).rejects.toMatchObject({ code: "TASK_FAILED" });
    await expect(c.submit({ app: "logs", payload: 7 })).resolves.toMatchObject({ result: 7 });
    await eventually(() => app.stderr().includes("handler output that must not reach stdout"), 5000, "the handler's console output on stderr");
    await expect(c.submit({ app: "echo", payload: "alive" })).resolves.toMatchObject({ result: "alive" });
    expect(app.proc.exitCode).toBeNull();
    expect(stdout).toBe("");
  });

  it("stays up when an inline handler throws from a stray timer, and sends a pooled handler's console output to stderr", async () => {
    const tier2 = await start(["--role", "tier2"]);
    const inline = await start(["--role", "app", "--join", tier2.url, "--handlers", MISBEHAVE, "--apps", "throwsLater,echo", "--workers", "0"]);
    const pooled = await start(["--role", "app", "--join", tier2.url, "--handlers", MISBEHAVE, "--apps", "logs", "--workers", "1"]);
    let stdout = "";
    pooled.proc.stdout?.on("data", (d: string) => (stdout += d));
    await registered(tier2.url, 2);
    const c = await client([tier2.url]);
    await expect(c.submit({ app: "throwsLater", payload: 1 })).resolves.toMatchObject({ result: "answered first" });
    await eventually(() => inline.stderr().includes("thrown from a timer"), 5000, "the stray throw logged");
    await expect(c.submit({ app: "echo", payload: "still up" })).resolves.toMatchObject({ result: "still up" });
    expect(inline.proc.exitCode).toBeNull();
    await expect(c.submit({ app: "logs", payload: 3 })).resolves.toMatchObject({ result: 3 });
    await eventually(() => pooled.stderr().includes("handler output that must not reach stdout"), 5000, "the pooled handler's output on stderr");
    expect(stdout).toBe("");
  });

  it.each([
    ["a file that does not exist", "nope.mjs", "render", /--handlers: .*nope\.mjs: no such file/],
    ["a file that does not load", "syntax-error.mjs", "render", /--handlers: .*syntax-error\.mjs: does not load/],
    ["an export that is not a function", "not-a-function.mjs", "render", /--handlers: .*not-a-function\.mjs: its export "render" for application "render" is not a function/],
    ["an application that is neither exported nor built in", "misbehave.mjs", "render", /--handlers: .*misbehave\.mjs: exports no handler for application "render"/],
  ])("exits 2 before announcing itself for %s, naming the flag, the file and the application", async (_what, file, apps, message) => {
    const r = await runCli(["start", "--role", "app", "--listen", "127.0.0.1:0", "--join", "ws://127.0.0.1:9", "--handlers", fixture(file), "--apps", apps], 20_000);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(message);
  });
});
