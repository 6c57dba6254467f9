import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

const BIN = fileURLToPath(new URL("../../bin/allot.js", import.meta.url));

export interface Proc {
  proc: ChildProcess;
  url: string;
}

// Every child still running, so that none outlives the bench: a failed start, an error between
// spawn and killAll, or the bench itself stopped by a signal still ends them.
const live = new Set<ChildProcess>();
process.once("exit", () => {
  for (const p of live) p.kill("SIGTERM");
});
for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => process.exit(sig === "SIGINT" ? 130 : 143));

/** Spawns a node script (or `allot start …`) and resolves with the URL of its `ready` line. */
export function spawnReady(args: string[], script = BIN): Promise<Proc> {
  // BENCH_PROFILE=DIR writes a CPU profile of every child into DIR.
  const prof = process.env.BENCH_PROFILE ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];
  const proc = spawn(process.execPath, [...prof, script, ...(script === BIN ? ["start", ...args] : args)], { stdio: ["ignore", "pipe", "inherit"] });
  live.add(proc);
  proc.once("exit", () => live.delete(proc));
  const what = script === BIN ? `allot start ${args.join(" ")}` : [script, ...args].join(" ");
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error(`no ready line from ${what}`));
    }, 15_000);
    proc.stdout?.setEncoding("utf8").on("data", (d: string) => {
      out += d;
      const m = /^ready \S+ \S+ (\S+)$/m.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ proc, url: m[1] as string });
      }
    });
    proc.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited ${code} before its ready line`));
    });
  });
}

/** SIGTERM (so a --cpu-prof child writes its profile), then SIGKILL for any that linger. */
export function killAll(procs: Proc[]): void {
  for (const p of procs) {
    p.proc.kill("SIGTERM");
    setTimeout(() => p.proc.kill("SIGKILL"), 3000).unref();
  }
}
