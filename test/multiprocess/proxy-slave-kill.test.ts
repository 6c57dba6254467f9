import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { startNode } from "../../src/index.js";
import type { RunningClient, TaskResult } from "../../src/index.js";
import { killAll, startProc, whenLogged } from "../helpers/proc.js";
import { eventually } from "../helpers/raw-client.js";
import type { NodeProc } from "../helpers/proc.js";

// A proxying slave SIGKILLed with tasks in flight: the client retries through another slave, the
// master places each repeat on the server already running its key, and that server's run answers
// both — every task runs once, in grant and in indicate mode.

const RECORD = fileURLToPath(new URL("../fixtures/handlers/record.mjs", import.meta.url));

const lines = (file: string): string[] => {
  try {
    return readFileSync(file, "utf8").split("\n").filter((l) => l !== "");
  } catch {
    return [];
  }
};

describe("a proxy slave killed mid-stream", () => {
  const procs: NodeProc[] = [];
  let client: RunningClient | undefined;
  let dir = "";
  afterEach(async () => {
    await client?.stop();
    client = undefined;
    await killAll(procs.splice(0));
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = "";
  });
  const start = async (args: string[]): Promise<NodeProc> => {
    const p = await startProc([...args, "--listen", "127.0.0.1:0"]);
    procs.push(p);
    return p;
  };

  for (const assign of ["grant", "indicate"] as const) {
    it(`runs every task in flight once when its slave dies (${assign}): the retry shares the run already going`, async () => {
      dir = mkdtempSync(join(tmpdir(), "allot-slave-kill-"));
      const file = join(dir, "runs");
      const gate = join(dir, "gate");
      const master = await start(["--role", "master", "--id", `k-m-${assign}`, "--assign", assign]);
      const apps = await Promise.all([1, 2].map((i) => start(["--role", "app", "--id", `k-app-${assign}-${i}`, "--join", master.url, "--apps", "work", "--capacity", "8", "--handlers", RECORD, "--workers", "0", "--log-level", "debug"])));
      const first = await start(["--role", "slave", "--id", `k-s1-${assign}`, "--master", master.url, "--link", "proxy"]);
      const registered = (id: string) => () => master.stderr().includes(`"peer":"${id}"`);
      await whenLogged([master], () => apps.every((a) => registered(a.id)()) && registered(first.id)(), "the servers and the first slave to register", 15_000);
      client = await startNode({ logLevel: "silent", role: "client", entries: [master.url], backoffMaxMs: 200 });
      const submits: Array<Promise<TaskResult>> = ["a", "b", "c"].map((k) => (client as RunningClient).submit({ app: "work", key: `${assign}-${k}`, payload: { file, gate }, timeoutMs: 40_000 }));
      // All three are running on a server, through the first slave.
      // (The run file is polled: a server may write nothing more to stderr once a run has started.)
      await eventually(() => lines(file).length >= 3, 15_000, "the three tasks to start");
      const second = await start(["--role", "slave", "--id", `k-s2-${assign}`, "--master", master.url, "--link", "proxy"]);
      await whenLogged([master], registered(second.id), "the second slave to register", 15_000);
      first.proc.kill("SIGKILL");
      // Each retry reaches the server running its key and waits there (or, before single flight, runs again).
      const waits = (): number => apps.reduce((n, a) => n + (a.stderr().match(/run waits for the run of its key in flight/g) ?? []).length, 0);
      await eventually(() => waits() >= 3 || lines(file).length > 3, 20_000, "the retries to reach the servers");
      writeFileSync(gate, "");
      const results = await Promise.all(submits);
      const runs = lines(file);
      expect(runs).toHaveLength(3);
      expect(new Set(runs.map((l) => l.split(" ")[1])).size).toBe(3);
      expect(results.every((r) => r.attempts >= 2 && r.slaveId === second.id)).toBe(true);
    }, 60_000);
  }
});
