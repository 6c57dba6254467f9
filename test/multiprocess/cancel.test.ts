import { spawn } from "node:child_process";
import { once } from "node:events";
import { afterEach, describe, expect, it } from "vitest";
import { queryStatus, startNode } from "../../src/index.js";
import type { RunningNode } from "../../src/index.js";
import { ErrorCode } from "../../src/protocol/index.js";
import { ALLOT_BIN, killAll, startProc } from "../helpers/proc.js";
import type { NodeProc } from "../helpers/proc.js";
import { until } from "../helpers/poll.js";

let procs: NodeProc[] = [];
let nodes: RunningNode[] = [];
afterEach(async () => {
  for (const n of nodes.reverse()) await n.stop();
  await killAll(procs);
  procs = [];
  nodes = [];
});

async function start(args: string[]): Promise<NodeProc> {
  const p = await startProc([...args, "--listen", "127.0.0.1:0", "--log-level", "warn"]);
  procs.push(p);
  return p;
}

const runningOn = async (url: string): Promise<number> => {
  const s = await queryStatus(url);
  return s.role === "app" ? s.runningCount : -1;
};
const registered = async (url: string, n: number): Promise<boolean> => {
  const s = await queryStatus(url);
  return (s.role === "tier2" || s.role === "master") && s.servers.filter((r) => r.status === "alive").length >= n;
};

describe("cancellation", () => {
  it("Ctrl-C of allot submit cancels its tasks on the server (their handlers stop) and exits 130", async () => {
    const t2 = await start(["--role", "tier2", "--id", "c-t2"]);
    const app = await start(["--role", "app", "--id", "c-app", "--join", t2.url, "--apps", "sleep", "--capacity", "8"]);
    await until(() => registered(t2.url, 1), "the server to register");
    const sub = spawn(process.execPath, [ALLOT_BIN, "submit", "--entry", t2.url, "--app", "sleep", "--payload", '{"ms":60000}', "--count", "6", "--concurrency", "3", "--timeout-ms", "60000"], { stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    sub.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
    const exited = once(sub, "exit");
    try {
      await until(async () => (await runningOn(app.url)) === 3, "three tasks to run");
      sub.kill("SIGINT");
      const [code] = (await Promise.race([exited, new Promise((_, rej) => setTimeout(() => rej(new Error(`no exit after SIGINT\n${err}`)), 10_000))])) as [number | null];
      expect(code, err).toBe(130);
      expect(err).toMatch(/cancelled: 0 of 6 tasks had completed/);
      // The handlers' abort signals fired: the runs end long before their 60 s.
      await until(async () => (await runningOn(app.url)) === 0, "the server to stop the cancelled runs", 200);
    } finally {
      if (sub.exitCode === null && sub.signalCode === null) sub.kill("SIGKILL");
    }
  }, 60_000);

  it("an AbortSignal cancels a task that was never placed (waiting for a server) at once", async () => {
    const t2 = await start(["--role", "tier2", "--id", "u-t2"]);
    const app = await start(["--role", "app", "--id", "u-app", "--join", t2.url, "--apps", "sleep", "--capacity", "1"]);
    await until(() => registered(t2.url, 1), "the server to register");
    const c = await startNode({ role: "client", entries: [t2.url], logLevel: "silent", backoffMinMs: 2000, backoffMaxMs: 5000 });
    nodes.push(c);
    const busy = c.submit({ app: "sleep", payload: { ms: 2000 } });
    await until(async () => (await runningOn(app.url)) === 1, "the only slot to be taken");
    const ac = new AbortController();
    const waiting = c.submit({ app: "sleep", payload: { ms: 1 }, signal: ac.signal, timeoutMs: 30_000 });
    // It is backing off after NO_SERVER (all at capacity): a cancel must not wait for the backoff.
    await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    ac.abort();
    await expect(waiting).rejects.toMatchObject({ code: ErrorCode.CANCELLED });
    expect(Date.now() - t0).toBeLessThan(800); // its backoff would have been 1 to 2 s
    await busy;
  }, 60_000);
});
