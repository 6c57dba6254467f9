// The master/slave figures of `npm run bench` (issue 4): each link mode through Allot's master and
// slave, and beside it a raw ws + msgpackr chain with the same hops. Every node its own process;
// the load generator (and, for Allot, the client node) runs in the bench process.
//
// Hops per task (→ one message received and answered or passed on):
//   proxy:  client → master (task.place → slave.picked) → client → slave (task.submit)
//           → master (server.request → task.placed) → slave → app (task.expect + task.run, one
//           frame) → slave → client
//   direct: client → master → client → slave → master → slave → app (task.expect) → slave
//           → client (task.placed) → app (task.run) → client
// In grant mode a direct slave waits for the server's task.expected before it answers the client,
// so the raw direct chain has that leg too.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { startNode } from "../src/node/node.js";
import type { RunningClient } from "../src/node/node.js";
import { queryStatus } from "../src/node/query.js";
import { closedLoop } from "./measure.js";
import type { Figure, Window } from "./measure.js";
import { killAll, spawnReady } from "./procs.js";
import type { Proc } from "./procs.js";
import { RawLink } from "./raw-link.js";
import { authFlags } from "./creds.js";
import type { BenchKeys } from "./creds.js";

export type Link = "proxy" | "direct";

export interface MsOptions {
  inFlight: number;
  seconds: number;
  warmup: number;
  /** App servers behind the master. */
  apps: number;
}

/** A figure and the CPU each process spent per task in the timed window (µs), when /proc is there. */
export interface MsFigure extends Figure {
  cpu?: Array<[string, number]>;
}

const quiet = ["--log-level", "warn"];
const script = (name: string): string => fileURLToPath(new URL(`./${name}.js`, import.meta.url));

/** utime + stime of a process in µs (fields 14 and 15 of /proc/PID/stat, in 1/100 s ticks). */
function cpuMicros(pid: number): number | undefined {
  try {
    const fields = (readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1] ?? "").split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  } catch {
    return undefined;
  }
}

/** Reads every process's CPU time when the timed window opens and closes. */
function cpuWindow(procs: Record<string, Proc>, fig: { cpu?: Array<[string, number]> }): Window {
  let before: Array<number | undefined> = [];
  let self0 = process.cpuUsage();
  const pids = Object.entries(procs).map(([name, p]) => [name, p.proc.pid ?? -1] as const);
  return {
    start() {
      before = pids.map(([, pid]) => cpuMicros(pid));
      self0 = process.cpuUsage();
    },
    end(ops) {
      const self = process.cpuUsage(self0);
      const after = pids.map(([, pid]) => cpuMicros(pid));
      if (ops === 0 || before.some((b) => b === undefined) || after.some((a) => a === undefined)) return;
      fig.cpu = pids.map(([name], i) => [name, ((after[i] as number) - (before[i] as number)) / ops]);
      fig.cpu.push(["client", (self.user + self.system) / ops]);
    },
  };
}

export function cpuLine(f: MsFigure): string {
  if (!f.cpu) return "";
  const total = f.cpu.reduce((s, [, us]) => s + us, 0);
  return `    CPU µs/task: ${f.cpu.map(([n, us]) => `${n} ${us.toFixed(0)}`).join(", ")}; total ${total.toFixed(0)}`;
}

/** The raw chain: raw servers, a raw master that knows them, a raw slave registered with it. */
export async function rawChain(link: Link, o: MsOptions): Promise<MsFigure> {
  const procs: Record<string, Proc> = {};
  const links: RawLink[] = [];
  try {
    const serverUrls: string[] = [];
    for (let i = 1; i <= o.apps; i++) {
      const p = await spawnReady([], script("raw-ms-server"));
      procs[`app${i}`] = p;
      serverUrls.push(p.url);
    }
    procs["master"] = await spawnReady([serverUrls.join(",")], script("raw-ms-master"));
    procs["slave"] = await spawnReady([procs["master"].url, link], script("raw-ms-slave"));
    const master = await RawLink.open(procs["master"].url);
    const slave = await RawLink.open(procs["slave"].url);
    const servers = new Map<string, RawLink>();
    for (const u of serverUrls) servers.set(u, await RawLink.open(u));
    links.push(master, slave, ...servers.values());
    const client = { id: "bench", addr: "" };
    const fig: MsFigure = { name: "", ops: 0, seconds: 0, perSec: 0, p50Ms: 0, p99Ms: 0 };
    const prefix = `raw-${Date.now().toString(36)}`;
    Object.assign(
      fig,
      await closedLoop(
        `raw ${link} chain: ws+msgpackr, same hops, ${o.apps} servers`,
        o.inFlight,
        o.seconds,
        o.warmup,
        async (i) => {
          const id = `${prefix}-${i.toString(36)}`;
          const task = { id, key: id, app: "echo", deadline: Date.now() + 30_000, require: [], clientAttrs: {}, prefs: {}, payload: { i } };
          const picked = (await master.request("pick", { task: { ...task, payload: null }, client })) as { slaveUrl: string; pick: string };
          // One slave: the pick always names it (the raw master answers its URL).
          const answer = (await slave.request("submit", { task, pick: picked.pick })) as { serverUrl?: string; ticket: string; result?: unknown };
          if (link === "proxy") return answer;
          const server = servers.get(answer.serverUrl as string) as RawLink;
          const r = (await server.request("run", { run: { taskId: id, key: id, app: "echo", ticket: answer.ticket, payload: task.payload } })) as { error?: string };
          if (r.error) throw new Error(r.error);
          return r;
        },
        cpuWindow(procs, fig),
      ),
    );
    return fig;
  } finally {
    for (const l of links) l.close();
    killAll(Object.values(procs));
  }
}

/** Allot: one master (grant), `apps` app servers joined to it, one slave with the given link. */
export async function allotMs(link: Link, o: MsOptions, keys?: BenchKeys): Promise<MsFigure> {
  const procs: Record<string, Proc> = {};
  let client: RunningClient | undefined;
  try {
    const master = await spawnReady(["--role", "master", "--assign", "grant", "--id", "master-1", ...authFlags(keys, "master", "master-1"), ...quiet]);
    procs["master"] = master;
    for (let i = 1; i <= o.apps; i++) {
      procs[`app${i}`] = await spawnReady(["--role", "app", "--id", `app-${i}`, "--join", master.url, "--apps", "echo", "--capacity", "100000", ...authFlags(keys, "app", `app-${i}`), ...quiet]);
    }
    procs["slave"] = await spawnReady(["--role", "slave", "--id", `slave-${link}`, "--master", master.url, "--link", link, ...authFlags(keys, "slave", `slave-${link}`), ...quiet]);
    // Registration travels on its own: wait until the master shows every server and the slave alive.
    const until = Date.now() + 10_000;
    for (;;) {
      const s = await queryStatus(master.url, keys ? { credentials: keys.credential("admin", "bench-admin"), clusterPub: [keys.issuer.publicKey] } : {});
      if (s.role !== "master") throw new Error(`${master.url} answered status as a ${s.role}, not a master`);
      const alive = (rows: Array<{ status: string }> | undefined): number => (rows ?? []).filter((r) => r.status === "alive").length;
      if (alive(s.servers) >= o.apps && alive(s.slaves) >= 1) break;
      if (Date.now() > until) throw new Error(`master knows ${alive(s.servers)}/${o.apps} servers and ${alive(s.slaves)}/1 slaves after 10 s`);
      await new Promise((r) => setTimeout(r, 20));
    }
    client = await startNode({ role: "client", id: "bench-client", ...(keys ? keys.config("client", "bench-client") : {}), entries: [master.url], logLevel: "warn" });
    const c = client;
    const first = await c.submit({ app: "echo", payload: 0 });
    if (first.slaveId !== `slave-${link}`) throw new Error(`the task went to ${first.slaveId ?? "no slave"}, not slave-${link}`);
    const fig: MsFigure = { name: "", ops: 0, seconds: 0, perSec: 0, p50Ms: 0, p99Ms: 0 };
    const label = link === "proxy" ? "client → master → client → slave ⇄ master, slave ⇄ app, → client" : "client → master → client → slave ⇄ master, slave ⇄ app, → client ⇄ app";
    Object.assign(fig, await closedLoop(`allot master/slave ${link}: ${label}`, o.inFlight, o.seconds, o.warmup, (i) => c.submit({ app: "echo", payload: { i } }), cpuWindow(procs, fig)));
    return fig;
  } finally {
    await client?.stop();
    killAll(Object.values(procs));
  }
}
