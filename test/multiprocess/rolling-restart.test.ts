import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { afterAll, describe, expect, it } from "vitest";
import { LEDGER_HANDLERS, freePorts } from "../../bench/faults-cluster.js";
import { stream } from "../../bench/faults-run.js";
import { startNode } from "../../src/index.js";
import type { RunningClient } from "../../src/index.js";
import { queryStatus } from "../../src/node/query.js";
import type { AllocatorStatus } from "../../src/protocol/index.js";
import { ClientLedger, checkLedger, readRuns } from "../helpers/ledger.js";
import { until } from "../helpers/poll.js";
import { killAll, runCli, startProc } from "../helpers/proc.js";
import type { NodeProc } from "../helpers/proc.js";

// A rolling restart under load: three app servers, each in turn drained by SIGTERM (it finishes
// its running tasks, refuses new runs DRAINING so the client places them elsewhere, leaves the
// tier-2's table and exits 0) and started again at the same address. The ledger shows every task
// answered once, none failed, and no run started twice.
const CAPACITY = 4;

describe("a rolling restart of every app server under load, every node in its own process", () => {
  const procs = new Set<NodeProc>();
  const dir = mkdtempSync(join(tmpdir(), "rolling-"));
  const ledgerFile = join(dir, "runs.jsonl");
  let client: RunningClient | undefined;

  afterAll(async () => {
    await client?.stop();
    await killAll(procs);
    rmSync(dir, { recursive: true, force: true });
  });

  const startApp = async (id: string, port: number, tier2: string): Promise<NodeProc> => {
    const args = ["--role", "app", "--id", id, "--listen", `127.0.0.1:${port}`, "--join", tier2, "--apps", "sleep", "--capacity", String(CAPACITY), "--power", "1", "--handlers", LEDGER_HANDLERS, "--workers", "0", "--drain-timeout-ms", "10000", "--log-level", "info"];
    const p = await startProc(args, 15_000, { ALLOT_LEDGER: ledgerFile, ALLOT_LEDGER_ID: id });
    procs.add(p);
    return p;
  };

  const table = async (tier2: string): Promise<Map<string, string>> => {
    const s = (await queryStatus(tier2)) as AllocatorStatus;
    return new Map(s.servers.map((r) => [r.id, r.status]));
  };

  it("loses no task, fails none, reports none twice, and each drained server exits 0", async () => {
    const tier2 = await startProc(["--role", "tier2", "--id", "rr-t2", "--listen", "127.0.0.1:0", "--log-level", "warn"]);
    procs.add(tier2);
    const ids = ["rr-app-1", "rr-app-2", "rr-app-3"];
    const ports = await freePorts(ids.length);
    const apps = new Map<string, NodeProc>();
    for (const [i, id] of ids.entries()) apps.set(id, await startApp(id, ports[i] as number, tier2.url));
    await until(async () => [...(await table(tier2.url)).values()].filter((s) => s === "alive").length === ids.length, "every app server to register");

    client = await startNode({ role: "client", entries: [tier2.url], logLevel: "silent", backoffMinMs: 10, backoffMaxMs: 200 });
    const ledger = new ClientLedger();
    const load = stream(client, ledger, { concurrency: 8, taskMs: 150, deadlineMs: 15_000 });
    await delay(1000);

    const termAt = new Map<string, number>();
    for (const [i, id] of ids.entries()) {
      const p = apps.get(id) as NodeProc;
      const exited = once(p.proc, "exit") as Promise<[number | null, NodeJS.Signals | null]>;
      // SIGTERM while it runs something, so the drain has a run to let finish (the check below).
      // One that started under 50 ms ago: a 150 ms run cannot end between this read and the signal
      // (a run found just before its end once did, and the drain then had nothing to let finish).
      await until(async () => readRuns(ledgerFile).some((r) => r.server === id && r.end === undefined && Date.now() - r.start < 50), `${id} to be running a task it just started`);
      termAt.set(id, Date.now());
      p.proc.kill("SIGTERM");
      const [code, signal] = await exited;
      procs.delete(p);
      expect({ id, code, signal }, p.stderr().slice(-2000)).toEqual({ id, code: 0, signal: null });
      // It drained and left: its log says so, and the tier-2 dropped it rather than marking it dead.
      expect(p.stderr()).toContain("drained: leaving the allocators");
      expect((await table(tier2.url)).get(id)).toBeUndefined();
      const before = new Set(readRuns(ledgerFile).filter((r) => r.server === id).map((r) => r.incarnation));
      apps.set(id, await startApp(id, ports[i] as number, tier2.url));
      await until(async () => (await table(tier2.url)).get(id) === "alive", `${id} to register again`);
      // The next one goes once the restarted one is taking work (it ramps up: slow start).
      await until(async () => readRuns(ledgerFile).some((r) => r.server === id && !before.has(r.incarnation)), `${id} to run tasks again`);
    }
    await delay(300);
    load.stop();
    await Promise.race([load.done, delay(20_000)]);

    const runs = readRuns(ledgerFile);
    const violations = checkLedger({ tasks: ledger.tasks, runs, failures: [], capacity: Object.fromEntries(ids.map((id) => [id, CAPACITY])) });
    expect(violations, JSON.stringify(violations.slice(0, 5))).toEqual([]);
    expect(ledger.pending(), "tasks never answered (lost)").toBe(0);
    expect(ledger.tasks.filter((t) => t.outcomes.some((o) => o.kind === "error")).map((t) => t.outcomes)).toEqual([]);
    expect(ledger.tasks.filter((t) => t.outcomes.length > 1).length).toBe(0);
    expect(ledger.tasks.length).toBeGreaterThan(50);
    // The drain let running tasks finish: some run on each server was going at its SIGTERM and ended well after it.
    for (const id of ids) {
      const t = termAt.get(id) as number;
      expect(runs.filter((r) => r.server === id && r.start < t && r.end !== undefined && r.end > t && r.ok === true).length, id).toBeGreaterThan(0);
    }
    // Every server ran tasks after its restart too: the new incarnation was chosen again.
    for (const id of ids) expect(new Set(runs.filter((r) => r.server === id).map((r) => r.incarnation)).size, id).toBe(2);

    // `allot drain` through the tier-2: an unknown server is an error naming it (exit 1), bad flags exit 2,
    // a known one drains and its process exits 0.
    const unknown = await runCli(["drain", "--entry", tier2.url, "server", "rr-nope"]);
    expect(unknown.code, unknown.stderr).toBe(1);
    expect(unknown.stderr).toContain("rr-nope");
    const bad = await runCli(["drain", "--entry", tier2.url, "server", "rr-app-1", "--timeout-ms", "soon"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--timeout-ms");
    const last = apps.get("rr-app-1") as NodeProc;
    const exited = once(last.proc, "exit") as Promise<[number | null, NodeJS.Signals | null]>;
    const ok = await runCli(["drain", "--entry", tier2.url, "server", "rr-app-1"]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toBe("draining server rr-app-1\n");
    expect((await exited)[0]).toBe(0);
    procs.delete(last);
    await until(async () => !(await table(tier2.url)).has("rr-app-1"), "rr-app-1 to leave the table");
  }, 60_000);
});
