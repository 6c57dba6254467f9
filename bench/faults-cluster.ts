// A cluster of real `allot start` processes for the fault scenarios: every node on a loopback
// port chosen up front, so that a node can be restarted at the same address (a new incarnation
// where the old one was) and a fault proxy can stand where a node's URL is advertised.
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import { appendFileSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { pino } from "pino";
import type { Logger } from "pino";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { createFaultProxy } from "../test/helpers/fault-proxy.js";
import type { FaultProxy } from "../test/helpers/fault-proxy.js";

// This file runs from bench/ under vitest and from dist/bench/ as the built bench.
const ROOT = fileURLToPath(new URL(import.meta.url.includes("/dist/bench/") ? "../../" : "../", import.meta.url));
const BIN = `${ROOT}bin/allot.js`;
/** The handler module that records every run in the ledger file. */
export const LEDGER_HANDLERS = `${ROOT}test/helpers/ledger-handlers.mjs`;

/** One node process and how to start it again. */
export interface Node {
  name: string;
  role: string;
  port: number;
  /** Where the others reach it: its own URL, or the proxy's in front of it. */
  url: string;
  /** Its own URL, past any proxy. */
  ownUrl: string;
  proc: ChildProcess;
  args: string[];
  env: Record<string, string>;
  /** The last of its stderr, for a report when something goes wrong. */
  tail(): string;
}

// Every child still running, so that none outlives its scenario: a failed start, a test that
// timed out or the bench stopped by a signal still ends them.
const live = new Set<ChildProcess>();
process.once("exit", () => killChildren());

/** SIGKILLs every node process a cluster started that is still running; resolves once they exited. */
export async function killChildren(): Promise<void> {
  await Promise.all(
    [...live].map(async (p) => {
      const exited = once(p, "exit");
      p.kill("SIGKILL");
      await exited;
    }),
  );
}

/**
 * Below Linux's ephemeral range (32768–60999): a port from it may be taken between release and
 * use not only by another listener but by any outgoing connection's local end, which a suite
 * running in parallel makes by the thousand.
 */
const FIXED_PORTS = { from: 20_000, to: 32_767 };

/** Listens on `port` and releases it at once: whether it was free. */
async function bindable(port: number): Promise<boolean> {
  const s = createServer();
  return new Promise<boolean>((resolve) => {
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

/**
 * `n` distinct free loopback ports, for nodes that must know each other's address before they
 * start (peers, a restart at the same address): tried at random below the ephemeral range, then
 * released, so another process could still take one first (the caller retries where it can).
 */
export async function freePorts(n: number): Promise<number[]> {
  const ports: number[] = [];
  for (let tries = 0; ports.length < n && tries < 1000; tries++) {
    const p = FIXED_PORTS.from + Math.floor(Math.random() * (FIXED_PORTS.to - FIXED_PORTS.from + 1));
    if (!ports.includes(p) && (await bindable(p))) ports.push(p);
  }
  if (ports.length < n) throw new Error(`found ${ports.length} of ${n} free ports in ${FIXED_PORTS.from}–${FIXED_PORTS.to}`);
  return ports;
}

/** The memory probe a soak preloads into its nodes (built only: node cannot preload the .ts). */
export const MEM_PROBE = import.meta.url.includes("/dist/bench/") ? `${ROOT}dist/bench/mem-probe.js` : undefined;

function spawnReady(name: string, args: string[], env: Record<string, string>, timeoutMs = 20_000, preload?: string): Promise<{ proc: ChildProcess; tail: () => string }> {
  const proc = spawn(process.execPath, [...(preload === undefined ? [] : ["--import", preload]), BIN, "start", ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
  live.add(proc);
  proc.once("exit", () => live.delete(proc));
  let err = "";
  // FAULTS_LOG_DIR=dir keeps each node's whole stderr in dir/<name>.log, to explain a run afterwards.
  const logDir = process.env.FAULTS_LOG_DIR;
  proc.stderr?.setEncoding("utf8").on("data", (d: string) => {
    err = (err + d).slice(-20_000);
    if (logDir) appendFileSync(join(logDir, `${name}.log`), d);
  });
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error(`${name}: no ready line within ${timeoutMs} ms\n${err}`));
    }, timeoutMs);
    proc.stdout?.setEncoding("utf8").on("data", (d: string) => {
      out += d;
      if (!/^ready \S+ \S+ \S+$/m.test(out)) return;
      clearTimeout(timer);
      resolve({ proc, tail: () => err });
    });
    proc.once("exit", (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`${name}: exited ${code ?? sig} before its ready line\n${err}`));
    });
  });
}

export interface StartOptions {
  env?: Record<string, string>;
  /** Put a fault proxy in front of the node's advertised URL (clients reach it through the proxy). */
  proxied?: boolean;
  /** Listen on this port (others were told it already); default one chosen here, retried once if taken. */
  port?: number;
}

/** The processes of one scenario, and the proxies on its links. */
export class Cluster {
  readonly nodes = new Map<string, Node>();
  readonly proxies = new Map<string, FaultProxy>();

  /** `memProbe`: a directory; every node then preloads the memory probe (see mem-probe.ts) writing into it. */
  constructor(private readonly memProbe?: string) {}

  private probeEnv(env: Record<string, string>): Record<string, string> {
    return this.memProbe === undefined || MEM_PROBE === undefined ? env : { ...env, ALLOT_MEM_PROBE: this.memProbe };
  }

  private get preload(): string | undefined {
    return this.memProbe === undefined ? undefined : MEM_PROBE;
  }

  node(name: string): Node {
    const n = this.nodes.get(name);
    if (!n) throw new Error(`no node ${name}`);
    return n;
  }

  /** A proxy on a link, by name, pointing at `target` (now or later). */
  async proxy(name: string, target?: string): Promise<FaultProxy> {
    const p = await createFaultProxy(target === undefined ? {} : { target });
    this.proxies.set(name, p);
    return p;
  }

  /** Starts `allot start --role ROLE --id NAME …` on `o.port` or a port chosen here (retried once if taken meanwhile). */
  async start(name: string, role: string, args: string[], o: StartOptions = {}): Promise<Node> {
    for (let tryNo = 0; ; tryNo++) {
      const port = o.port ?? ((await freePorts(1))[0] as number);
      const own = `ws://127.0.0.1:${port}`;
      const proxy = o.proxied ? await this.proxy(name, own) : undefined;
      const full = ["--role", role, "--id", name, "--listen", `127.0.0.1:${port}`, "--log-level", "warn", ...(proxy ? ["--advertise", proxy.url] : []), ...args];
      try {
        const { proc, tail } = await spawnReady(name, full, this.probeEnv(o.env ?? {}), undefined, this.preload);
        const n: Node = { name, role, port, url: proxy?.url ?? own, ownUrl: own, proc, args: full, env: o.env ?? {}, tail };
        this.nodes.set(name, n);
        return n;
      } catch (err) {
        await proxy?.stop();
        this.proxies.delete(name);
        if (tryNo >= 1 || o.port !== undefined || !String(err).includes("EADDRINUSE")) throw err;
      }
    }
  }

  /** Sends a signal; resolves once a killing one has ended the process. */
  async signal(name: string, sig: NodeJS.Signals): Promise<void> {
    const n = this.node(name);
    if (n.proc.exitCode !== null || n.proc.signalCode !== null) return;
    const exited = sig === "SIGKILL" || sig === "SIGTERM" ? once(n.proc, "exit") : undefined;
    n.proc.kill(sig);
    await exited;
  }

  /** Starts a node again with its arguments, at its address: a new incarnation. */
  async restart(name: string): Promise<Node> {
    const old = this.node(name);
    await this.signal(name, "SIGKILL");
    const { proc, tail } = await spawnReady(name, old.args, this.probeEnv(old.env), undefined, this.preload);
    const n: Node = { ...old, proc, tail };
    this.nodes.set(name, n);
    return n;
  }

  async stop(): Promise<void> {
    // SIGKILL ends a SIGSTOPped process too.
    await Promise.all([...this.nodes.keys()].map((k) => this.signal(k, "SIGKILL")));
    await Promise.all([...this.proxies.values()].map((p) => p.stop()));
  }
}

/** Resident memory (kB) and open file descriptors of a process, from /proc; undefined if it is gone. */
export function procFootprint(pid: number): { rssKb: number; fds: number } | undefined {
  try {
    const rss = /^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return { rssKb: Number(rss?.[1] ?? 0), fds: readdirSync(`/proc/${pid}/fd`).length };
  } catch {
    return undefined;
  }
}

/** FAULTS_LOG_DIR=dir: the bench's client logs at debug (why it placed each task again) to dir/client.log; else silent. */
export function clientLog(): { logger: Logger } | { logLevel: "silent" } {
  const dir = process.env.FAULTS_LOG_DIR;
  return dir ? { logger: pino({ level: "debug" }, pino.destination({ dest: join(dir, "client.log"), sync: false })) } : { logLevel: "silent" };
}
