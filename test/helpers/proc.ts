import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";

export const ALLOT_BIN = fileURLToPath(new URL("../../bin/allot.js", import.meta.url));

export interface NodeProc {
  proc: ChildProcess;
  role: string;
  id: string;
  url: string;
  /** Everything the process wrote to stderr so far (pino JSON lines, or human lines with --log-format pretty). */
  stderr(): string;
  /** Everything it wrote to stdout so far (the ready line, and nothing else). */
  stdout(): string;
}

/**
 * `node bin/allot.js ARGS…` as a child, or behind `wrapper` (e.g. `ip netns exec NS`, which execs
 * its command, so the child's pid stays node's own and SIGKILL reaches it).
 */
function spawnAllot(args: readonly string[], env: Record<string, string> | undefined, wrapper: readonly string[]): ChildProcess {
  const [cmd, ...pre] = wrapper.length > 0 ? [...wrapper, process.execPath] : [process.execPath];
  return spawn(cmd as string, [...pre, ALLOT_BIN, ...args], { stdio: ["ignore", "pipe", "pipe"], ...(env === undefined ? {} : { env: { ...process.env, ...env } }) });
}

/** Starts `allot start …` as a child process and resolves on its `ready ROLE ID URL` line; `env` adds to this process's environment; `wrapper` runs it behind a command. */
export function startProc(args: readonly string[], timeoutMs = 15_000, env?: Record<string, string>, wrapper: readonly string[] = []): Promise<NodeProc> {
  const proc = spawnAllot(["start", ...args], env, wrapper);
  let err = "";
  proc.stderr?.setEncoding("utf8").on("data", (d: string) => (err += d));
  return new Promise<NodeProc>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error(`no ready line within ${timeoutMs} ms from allot start ${args.join(" ")}\n${err}`));
    }, timeoutMs);
    proc.stdout?.setEncoding("utf8").on("data", (d: string) => {
      out += d;
      const m = /^ready (\S+) (\S+) (\S+)$/m.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ proc, role: m[1] as string, id: m[2] as string, url: m[3] as string, stderr: () => err, stdout: () => out });
      }
    });
    proc.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`allot start ${args.join(" ")} exited with ${code} before ready\n${err}`));
    });
  });
}

/** Runs an allot command to completion; resolves with its exit code and output. */
export async function runCli(args: readonly string[], timeoutMs = 60_000, wrapper: readonly string[] = []): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = spawnAllot(args, undefined, wrapper);
  let stdout = "";
  let stderr = "";
  proc.stdout?.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  proc.stderr?.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  const [code] = (await once(proc, "exit")) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** Kills every process still running: SIGKILL, since a test must not wait on a stuck child. */
export async function killAll(procs: Iterable<NodeProc>): Promise<void> {
  await Promise.all(
    [...procs].map(async (p) => {
      if (p.proc.exitCode !== null || p.proc.signalCode !== null) return;
      const exited = once(p.proc, "exit");
      p.proc.kill("SIGKILL");
      await exited;
    }),
  );
}

/** Waits (bounded) until `cond` holds, checking it whenever one of `procs` writes to stderr. */
export function whenLogged(procs: readonly NodeProc[], cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const detach = (): void => {
      clearTimeout(timer);
      for (const p of procs) p.proc.stderr?.off("data", onData);
    };
    const onData = (): void => {
      if (!cond()) return;
      detach();
      resolve();
    };
    const timer = setTimeout(() => {
      detach();
      reject(new Error(`${what}: not seen within ${timeoutMs} ms`));
    }, timeoutMs);
    for (const p of procs) p.proc.stderr?.on("data", onData);
    onData();
  });
}
