import { spawn } from "node:child_process";
import { once } from "node:events";
import { describe, expect, it } from "vitest";
import type { DashboardSnapshot } from "../../src/node/dashboard/index.js";
import { runMain } from "../helpers/capture.js";
import { ALLOT_BIN } from "../helpers/proc.js";

// Runs bin/allot.js → dist: `npm run build` first (npm test does).
describe("allot demo --stay", () => {
  it("prints the dashboard's address, serves the demo's fleet live after the tasks, and exits 0 on Ctrl-C", async () => {
    const proc = spawn(process.execPath, [ALLOT_BIN, "demo", "--stay", "--tasks", "40", "--rate", "5"], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    proc.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
    const exited = once(proc, "exit");
    const killer = setTimeout(() => proc.kill("SIGKILL"), 45_000);
    try {
      // The summary follows the tasks; the dashboard line comes first.
      await new Promise<void>((resolve, reject) => {
        proc.stdout.setEncoding("utf8").on("data", (d: string) => {
          out += d;
          if (/^completed +40$/m.test(out)) resolve();
        });
        proc.once("exit", (code) => reject(new Error(`demo exited with ${code} before its summary\n${err}`)));
      });
      const url = /^dashboard (http:\/\/127\.0\.0\.1:\d+\/) \(Ctrl-C stops the demo\)$/m.exec(out)?.[1];
      expect(url, out).toBeDefined();
      expect(out.indexOf("dashboard ")).toBe(0);
      const page = await fetch(url as string);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain("dashboard/uplot.js");
      const snap = (await (await fetch(new URL("dashboard.json", url))).json()) as DashboardSnapshot;
      expect(snap.node).toBe("tier2-1");
      expect(snap.servers.map((s) => [s.id, s.status]).sort()).toEqual([
        ["app-1", "alive"],
        ["app-2", "alive"],
        ["app-3", "alive"],
        ["app-4", "alive"],
      ]);
      expect(snap.placed).toBeGreaterThan(0);
      proc.kill("SIGINT");
      const [code] = (await exited) as [number | null];
      expect(code, err).toBe(0);
    } finally {
      clearTimeout(killer);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
    }
  }, 60_000);

  it("without --stay prints the dashboard's address on stderr, stdout only the summary, and ends after its tasks", async () => {
    const r = await runMain(["demo", "--tasks", "8", "--concurrency", "4"]);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/^dashboard http:\/\/127\.0\.0\.1:\d+\/ \(live while the demo runs; --stay keeps it up\)$/m);
    expect(r.out).not.toContain("dashboard");
  });

  it("exits 2 naming the flag on --rate without --stay, or a dashboard beyond loopback", async () => {
    const rate = await runMain(["demo", "--rate", "5"]);
    expect(rate.code).toBe(2);
    expect(rate.err).toContain("allot demo: --rate: --rate needs --stay");
    const wide = await runMain(["demo", "--stay", "--dashboard", "0.0.0.0:8080"]);
    expect(wide.code).toBe(2);
    expect(wide.err).toContain("--dashboard: 0.0.0.0:8080 is beyond loopback");
    const bad = await runMain(["demo", "--stay", "--dashboard", "nonsense"]);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('--dashboard: expected HOST:PORT, got "nonsense"');
  });
});
