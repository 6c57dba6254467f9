import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Summary } from "../../src/cli/load.js";
import { createHostNet, establishedIn, runIn, startIn } from "../helpers/netns.js";
import type { Connection, HostNet } from "../helpers/netns.js";
import { killAll, runCli } from "../helpers/proc.js";
import type { NodeProc } from "../helpers/proc.js";

// Five hosts, each a network namespace with its own address, joined by veth pairs to a bridge in
// a namespace of its own (nothing is made in the root namespace). Every node listens on its
// host's address, off loopback, so every node and command runs with credentials.
//
//   h1 10.77.0.11  tier-2 :7000            master :7001
//   h2 10.77.0.12  app t-a1 :7000 (tier 2)  app m-a1 :7001 (master)
//   h3 10.77.0.13  app t-a2 :7000           app m-a2 :7001      <- cut from the bridge
//   h4 10.77.0.14  vip :7000 (over h1)      slave :7001 (proxy)
//   h5 10.77.0.15  the client (allot submit, allot status)
//
// Needs root and iproute2, as CI has: when `ip netns add` fails, beforeAll throws and every test
// here fails; none is skipped.

const HOSTS = [1, 2, 3, 4, 5].map((i) => ({ name: `h${i}`, cidr: `10.77.0.1${i}/24` }));
const addr = (host: string): string => `10.77.0.1${host.slice(1)}`;
const url = (host: string, port: number): string => `ws://${addr(host)}:${port}`;
const T2 = url("h1", 7000);
const MASTER = url("h1", 7001);
const VIP = url("h4", 7000);
/** Heartbeats every 200 ms: a silent peer is dead after 3 × 200 ms. A cut TCP link without them stays open for minutes. */
const HEARTBEAT = ["--heartbeat-ms", "200"];
/** How long the tests wait for a cut host to be found dead: many times the heartbeat's 600 ms, far below TCP's own timeouts. */
const DETECT_BOUND_MS = 10_000;

interface Row {
  id: string;
  url: string;
  status: string;
}

describe("a cluster across hosts in network namespaces, each node on its host's address", () => {
  const dir = mkdtempSync(join(tmpdir(), "allot-hosts-"));
  const keys = join(dir, "keys");
  const pub = join(keys, "cluster.pub");
  const cred = (name: string): string => join(dir, `${name}.cred`);
  const auth = (name: string): string[] => ["--credentials", cred(name), "--cluster-pub", pub];
  const procs: NodeProc[] = [];
  let net: HostNet | undefined;
  let app2: NodeProc | undefined;

  const hosts = (): HostNet => {
    if (net === undefined) throw new Error("the hosts were not built");
    return net;
  };
  /** `allot start` on `host`, bound to ADDR:PORT and advertising the same URL. */
  const start = async (host: string, port: number, args: string[], who: string): Promise<NodeProc> => {
    const p = await startIn(hosts().host(host), [...args, "--listen", `${addr(host)}:${port}`, "--advertise", url(host, port), ...HEARTBEAT, "--log-level", "warn", ...auth(who)]);
    procs.push(p);
    return p;
  };
  /** An allot command run on the client's host, h5. */
  const onClient = (args: string[], who = "client", timeoutMs = 30_000): ReturnType<typeof runIn> => runIn(hosts().host("h5"), [...args, ...auth(who)], timeoutMs);
  const submit = async (entry: string, app: string, payload: unknown, count: number): Promise<Summary> => {
    const r = await onClient(["submit", "--entry", entry, "--app", app, "--payload", JSON.stringify(payload), "--count", String(count), "--concurrency", "8", ...HEARTBEAT, "-o", "json"]);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as Summary;
  };
  const rows = async (entry: string): Promise<{ servers: Row[]; slaves?: Row[] }> => {
    const r = await onClient(["status", "--entry", entry, "-o", "json", "--all"], "admin", 10_000);
    if (r.code !== 0) throw new Error(`allot status ${entry}: ${r.stderr}`);
    return JSON.parse(r.stdout) as { servers: Row[]; slaves?: Row[] };
  };
  /** Polls `allot status` on the client's host (bounded in time and count) until `ok` holds of the entry's rows. */
  const untilRows = async (entry: string, ok: (r: { servers: Row[]; slaves?: Row[] }) => boolean, what: string, timeoutMs: number): Promise<void> => {
    const end = Date.now() + timeoutMs;
    let last = "";
    for (let i = 0; i < 200 && Date.now() < end; i++) {
      const r = await rows(entry);
      if (ok(r)) return;
      last = JSON.stringify(r);
    }
    throw new Error(`${what}: not within ${timeoutMs} ms; last ${last}`);
  };
  const statusOf = (list: Row[] | undefined, id: string): string | undefined => list?.find((s) => s.id === id)?.status;
  /**
   * Samples the client host's established connections while `run` runs (one `ss` at a time,
   * bounded in count) or until `stopWhen` holds of what was seen; `run` goes on after.
   */
  const watch = async (run: Promise<unknown>, stopWhen: (seen: Connection[]) => boolean = () => false): Promise<Connection[]> => {
    const seen: Connection[] = [];
    let done = false;
    void run.then(
      () => (done = true),
      () => (done = true),
    );
    for (let i = 0; i < 2_000 && !done && !stopWhen(seen); i++) {
      seen.push(...establishedIn(hosts(), "h5"));
      await new Promise((r) => setImmediate(r));
    }
    return seen;
  };

  /** Builds the hosts, the keys and both clusters, and waits until every member is registered. */
  const build = async (): Promise<void> => {
    net = await createHostNet(`allot${process.pid}`, HOSTS);
    const init = await runCli(["keys", "init", "--out", keys]);
    expect(init.code, init.stderr).toBe(0);
    const issued = await Promise.all(
      (
        [
          ["tier2", "--role", "tier2", "--id", "t2"],
          ["master", "--role", "master", "--id", "m1"],
          ["app", "--role", "app", "--id-prefix", "app-"],
          ["vip", "--role", "vip", "--id", "vip"],
          ["slave", "--role", "slave", "--id", "slave"],
          ["client", "--role", "client", "--id-prefix", "client-"],
          ["admin", "--role", "admin", "--id", "ops"],
        ] as const
      ).map(([name, ...args]) => runCli(["keys", "issue", "--cluster-key", join(keys, "cluster.key"), "--out", cred(name), ...args])),
    );
    for (const r of issued) expect(r.code, r.stderr).toBe(0);

    await Promise.all([start("h1", 7000, ["--role", "tier2", "--id", "t2"], "tier2"), start("h1", 7001, ["--role", "master", "--id", "m1"], "master")]);
    // Capacity 8: the tasks placed again after the cut fit on the host left at once.
    const apps = ["--apps", "echo,sleep", "--capacity", "8", "--power", "2"];
    const started = await Promise.all([
      start("h2", 7000, ["--role", "app", "--id", "app-t1", "--join", T2, ...apps], "app"),
      start("h3", 7000, ["--role", "app", "--id", "app-t2", "--join", T2, ...apps], "app"),
      start("h2", 7001, ["--role", "app", "--id", "app-m1", "--join", MASTER, ...apps], "app"),
      start("h3", 7001, ["--role", "app", "--id", "app-m2", "--join", MASTER, ...apps], "app"),
      start("h4", 7000, ["--role", "vip", "--id", "vip", "--to", T2], "vip"),
      start("h4", 7001, ["--role", "slave", "--id", "slave", "--master", MASTER], "slave"),
    ]);
    app2 = started[1];
    const alive = (list: Row[] | undefined, ids: string[]): boolean => ids.every((id) => statusOf(list, id) === "alive");
    await Promise.all([
      untilRows(T2, (r) => alive(r.servers, ["app-t1", "app-t2"]), "both app servers registered at the tier-2", 20_000),
      untilRows(MASTER, (r) => alive(r.servers, ["app-m1", "app-m2"]) && alive(r.slaves, ["slave"]), "both app servers and the slave registered at the master", 20_000),
    ]);
  };
  // A failed build (no root, no iproute2) must fail every test, not skip it as vitest does the
  // tests of a failed beforeAll: each test awaits the build first and so rethrows its error.
  let built: Promise<void> = Promise.resolve();
  beforeAll(async () => {
    built = build();
    await built.catch(() => {});
  }, 90_000);

  afterAll(async () => {
    await killAll(procs);
    rmSync(dir, { recursive: true, force: true });
    await net?.remove();
  }, 30_000);

  it("each allocator lists the app servers at their hosts' addresses, as they advertised them", async () => {
    await built;
    const t2 = await rows(T2);
    expect(t2.servers.map((s) => [s.id, s.url]).sort()).toEqual([
      ["app-t1", url("h2", 7000)],
      ["app-t2", url("h3", 7000)],
    ]);
    const m = await rows(MASTER);
    expect(m.servers.map((s) => [s.id, s.url]).sort()).toEqual([
      ["app-m1", url("h2", 7001)],
      ["app-m2", url("h3", 7001)],
    ]);
    expect(m.slaves?.map((s) => [s.id, s.url])).toEqual([["slave", url("h4", 7001)]]);
  });

  it("tiered: placed through the vip, each task.run goes from the client's host straight to its app server's host address", async () => {
    await built;
    const run = submit(VIP, "sleep", { ms: 1000 }, 8);
    const seen = await watch(run);
    const result = await run;
    expect(result).toMatchObject({ completed: 8, failed: 0 });
    expect(Object.keys(result.byServer).sort()).toEqual(["app-t1", "app-t2"]);
    const peers = new Set(seen.map((c) => c.peer));
    // Placement through the vip; every run on a direct connection to the server that ran it.
    expect(peers).toContain(`${addr("h4")}:7000`);
    expect(peers).toContain(`${addr("h2")}:7000`);
    expect(peers).toContain(`${addr("h3")}:7000`);
    // From the client host's own address, and never through the tier-2's host.
    expect(new Set(seen.map((c) => c.local.split(":")[0]))).toEqual(new Set([addr("h5")]));
    expect([...peers].filter((p) => p.startsWith(`${addr("h1")}:`))).toEqual([]);
  }, 30_000);

  it("master/slave: the master picks the slave on its host, which relays every run to the app servers on theirs", async () => {
    await built;
    const run = submit(MASTER, "sleep", { ms: 500 }, 8);
    const seen = await watch(run);
    const result = await run;
    expect(result).toMatchObject({ completed: 8, failed: 0, bySlave: { slave: 8 } });
    expect(Object.keys(result.byServer).every((id) => id === "app-m1" || id === "app-m2")).toBe(true);
    const peers = new Set(seen.map((c) => c.peer));
    expect(peers).toContain(`${addr("h1")}:7001`);
    expect(peers).toContain(`${addr("h4")}:7001`);
    // The slave proxies: the client never dials an app server's host itself.
    expect([...peers].filter((p) => p.startsWith(`${addr("h2")}:`) || p.startsWith(`${addr("h3")}:`))).toEqual([]);
  }, 30_000);

  it("a host cut from the bridge is a dead node: found by heartbeat, its runs placed again, every task completed on the other host", async () => {
    await built;
    // Eight 3 s tasks over two servers: the cut comes as soon as the client has a connection to h3,
    // so the runs sent there are still running when its link goes down.
    const run = submit(VIP, "sleep", { ms: 3000 }, 8);
    const seen = await watch(run, (s) => s.some((c) => c.peer === `${addr("h3")}:7000`));
    expect(seen.map((c) => c.peer)).toContain(`${addr("h3")}:7000`);
    hosts().cut("h3");
    const cutAt = Date.now();

    const found = (entry: string, id: string): Promise<number> =>
      untilRows(entry, (r) => statusOf(r.servers, id) === "dead" || statusOf(r.servers, id) === "suspect", `${id} out of selection at ${entry}`, DETECT_BOUND_MS).then(() => Date.now() - cutAt);
    const [t2Ms, masterMs] = await Promise.all([found(T2, "app-t2"), found(MASTER, "app-m2")]);
    const summary = await run;
    const doneMs = Date.now() - cutAt;
    console.log(`h3 cut from the bridge: out of selection at the tier-2 after ${t2Ms} ms, at the master after ${masterMs} ms (status polls from h5); the 8 tiered tasks done ${doneMs} ms after the cut`);

    // Every task completed, those sent to h3 placed again on h2; the process on h3 still runs: it is the network that failed.
    expect(summary).toMatchObject({ completed: 8, failed: 0, byServer: { "app-t1": 8 } });
    expect(app2?.proc.exitCode).toBeNull();
    expect(app2?.proc.signalCode).toBeNull();
    // New tasks, in both designs, go to the host still on the bridge.
    expect(await submit(VIP, "echo", 1, 20)).toMatchObject({ completed: 20, failed: 0, byServer: { "app-t1": 20 } });
    expect(await submit(MASTER, "echo", 1, 20)).toMatchObject({ completed: 20, failed: 0, byServer: { "app-m1": 20 } });
  }, 45_000);
});
