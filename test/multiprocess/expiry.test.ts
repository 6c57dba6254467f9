import { afterAll, describe, expect, it } from "vitest";
import { killAll, runCli, startProc, whenLogged } from "../helpers/proc.js";
import type { NodeProc } from "../helpers/proc.js";

interface Row {
  id: string;
  status: string;
}

/** Polls `allot status --json` (bounded) until the server's status is `want`. */
async function statusBecomes(entry: string, id: string, want: string, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < until) {
    const r = await runCli(["status", "--entry", entry, "--json"], 10_000);
    last = (JSON.parse(r.stdout) as { servers: Row[] }).servers.find((s) => s.id === id)?.status ?? "absent";
    if (last === want) return;
  }
  throw new Error(`${id} still ${last}, not ${want}, after ${timeoutMs} ms`);
}

/** Waits (bounded) for a line matching `re` on a node's stderr; event-driven. */
const logShows = (p: NodeProc, re: RegExp, timeoutMs = 15_000): Promise<void> => whenLogged([p], () => re.test(p.stderr()), `a log line matching ${re}`, timeoutMs);

describe("server expiry by periodic reports, across processes", () => {
  const procs: NodeProc[] = [];
  afterAll(async () => {
    for (const p of procs) if (p.proc.signalCode === null && p.proc.exitCode === null) p.proc.kill("SIGCONT");
    await killAll(procs);
  });

  it("marks a SIGKILLed app server dead and places no task on it after", async () => {
    const t2 = await startProc(["--role", "distributor", "--tier", "2", "--listen", "127.0.0.1:0"]);
    procs.push(t2);
    const start = async (id: string): Promise<NodeProc> => {
      const p = await startProc(["--role", "app", "--id", id, "--listen", "127.0.0.1:0", "--join", t2.url, "--apps", "echo", "--power", id === "doomed" ? "8" : "1", "--report", "event,periodic:200"]);
      procs.push(p);
      return p;
    };
    const doomed = await start("doomed");
    await start("spare");
    await statusBecomes(t2.url, "doomed", "alive");
    await statusBecomes(t2.url, "spare", "alive");
    doomed.proc.kill("SIGKILL");
    await logShows(t2, /"server":"doomed","msg":"server left"|"server":"doomed","status":"dead"/);
    await statusBecomes(t2.url, "doomed", "dead");
    const r = await runCli(["submit", "--entry", t2.url, "--app", "echo", "--count", "20", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { byServer: Record<string, number> }).byServer).toEqual({ spare: 20 });
  }, 60_000);

  it("marks a SIGSTOPped app server suspect, then dead, places nothing on it, and revives it on SIGCONT", async () => {
    const t2 = await startProc(["--role", "distributor", "--tier", "2", "--listen", "127.0.0.1:0"]);
    procs.push(t2);
    const app = await startProc(["--role", "app", "--id", "paused", "--listen", "127.0.0.1:0", "--join", t2.url, "--apps", "echo", "--report", "event,periodic:100"]);
    procs.push(app);
    await statusBecomes(t2.url, "paused", "alive");
    // Stopped, its socket stays open: only the missing periodic reports can tell.
    app.proc.kill("SIGSTOP");
    // The distributor logs each change of status; polling could miss the short suspect window.
    await logShows(t2, /"server":"paused","status":"suspect"/);
    await logShows(t2, /"server":"paused","status":"dead"/);
    await statusBecomes(t2.url, "paused", "dead");
    const none = await runCli(["submit", "--entry", t2.url, "--app", "echo", "--timeout-ms", "300"]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no live server offers application "echo"/);
    app.proc.kill("SIGCONT");
    await statusBecomes(t2.url, "paused", "alive");
    const ok = await runCli(["submit", "--entry", t2.url, "--app", "echo", "--payload", "1"]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ serverId: "paused", result: 1 });
  }, 60_000);
});
