// The clusters the fault scenarios run on, as a user would start them, every node its own process.
import { setTimeout as delay } from "node:timers/promises";
import { queryStatus } from "../src/node/query.js";
import { Cluster, LEDGER_HANDLERS, freePorts } from "./faults-cluster.js";

/**
 * `tier2`: two peer tier-2 distributors, the client's entries; `tiered`: the whole tiered path,
 * client → vip-1 (×2) → tier-1 (×2) → vip-2 (×2) → tier-2 (×2); `ms`: two peer masters, a proxy
 * and a direct slave. Three app servers in each.
 */
export type Topology = "tier2" | "tiered" | "ms";

export interface TopologyOptions {
  topology: Topology;
  ledgerFile: string;
  /** Created to make app-1 fail every second run (see the ledger handler module). */
  failFile: string;
  capacity: number;
  /** App servers whose advertised URL is a fault proxy (the client reaches them through it). */
  proxiedApps?: readonly string[];
  /** Put a fault proxy between the app servers and tier2-a (or master-a): the link they report on. */
  proxyAllocatorA?: boolean;
  /** A directory for the nodes' memory probe (see Cluster). */
  memProbe?: string;
}

export interface Built {
  cluster: Cluster;
  /** The client's entry URLs. */
  entries: string[];
  apps: string[];
  allocators: string[];
}

export const APPS = ["app-1", "app-2", "app-3"] as const;

/** Starts a topology and waits (bounded) until every allocator sees every app server (and slave) alive. */
export async function buildTopology(o: TopologyOptions): Promise<Built> {
  const c = new Cluster(o.memProbe);
  try {
    const ms = o.topology === "ms";
    const [a, b] = ms ? ["master-a", "master-b"] : ["tier2-a", "tier2-b"];
    const role = ms ? "master" : "tier2";
    // Ports chosen up front, so that every node starts at once, each told the others' URLs.
    const [pa, pb] = (await freePorts(2)) as [number, number];
    const [urlA, urlB] = [`ws://127.0.0.1:${pa}`, `ws://127.0.0.1:${pb}`];
    const allocators = [a as string, b as string];
    const viaA = o.proxyAllocatorA ? (await c.proxy("allocator-a", urlA)).url : urlA;
    const join = `${viaA},${urlB}`;
    const masters = `${urlA},${urlB}`;
    const [, , , slaves] = await Promise.all([
      c.start(a as string, role, ["--peers", urlB], { port: pa }),
      c.start(b as string, role, ["--peers", urlA], { port: pb }),
      Promise.all(
        APPS.map((name) =>
          c.start(name, "app", ["--join", join, "--apps", "sleep", "--capacity", String(o.capacity), "--handlers", LEDGER_HANDLERS, "--workers", "0"], {
            env: { ALLOT_LEDGER: o.ledgerFile, ALLOT_LEDGER_ID: name, ...(name === "app-1" ? { ALLOT_FAIL_FILE: o.failFile } : {}) },
            proxied: o.proxiedApps?.includes(name) === true,
          }),
        ),
      ),
      ms ? Promise.all((["proxy", "direct"] as const).map((link) => c.start(`slave-${link}`, "slave", ["--master", masters, "--link", link]))) : Promise.resolve([]),
    ]);
    await Promise.all(allocators.map((n) => membersAlive(c.node(n).ownUrl, [...APPS], slaves.map((s) => s.name))));
    let entries = [urlA, urlB];
    if (o.topology === "tiered") {
      const ports = await freePorts(6);
      const url = (i: number): string => `ws://127.0.0.1:${ports[i] ?? 0}`;
      const layers: Array<[string, string, string]> = [
        ["vip2-a", "vip", entries.join(",")],
        ["vip2-b", "vip", entries.join(",")],
        ["tier1-a", "tier1", `${url(0)},${url(1)}`],
        ["tier1-b", "tier1", `${url(0)},${url(1)}`],
        ["vip1-a", "vip", `${url(2)},${url(3)}`],
        ["vip1-b", "vip", `${url(2)},${url(3)}`],
      ];
      await Promise.all(layers.map(([name, r, to], i) => c.start(name, r, ["--to", to], { port: ports[i] as number })));
      entries = [url(4), url(5)];
    }
    return { cluster: c, entries, apps: [...APPS], allocators };
  } catch (err) {
    await c.stop();
    throw err;
  }
}

/** Polls an allocator (bounded) until the servers and slaves named are alive in its database. */
export async function membersAlive(url: string, servers: readonly string[], slaves: readonly string[], timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  const alive = (rows: ReadonlyArray<{ id: string; status: string }> | undefined, ids: readonly string[]): boolean => ids.every((id) => rows?.some((r) => r.id === id && r.status === "alive") === true);
  for (let i = 0; i < 1000 && Date.now() < until; i++) {
    try {
      const s = await queryStatus(url, { timeoutMs: 2000 });
      if ((s.role === "tier2" || s.role === "master") && alive(s.servers, servers) && alive(s.slaves, slaves)) return;
    } catch {
      // Not up yet: ask again.
    }
    await delay(50);
  }
  throw new Error(`${url}: not all of ${[...servers, ...slaves].join(", ")} alive within ${timeoutMs} ms`);
}
