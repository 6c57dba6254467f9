// The clusters the fault scenarios run on, as a user would start them, every node its own process.
import { setTimeout as delay } from "node:timers/promises";
import { queryStatus } from "../src/node/query.js";
import { Cluster, LEDGER_HANDLERS } from "./faults-cluster.js";

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
  const c = new Cluster();
  try {
    const ms = o.topology === "ms";
    const [a, b] = ms ? ["master-a", "master-b"] : ["tier2-a", "tier2-b"];
    const role = ms ? "master" : "tier2";
    // The second knows the first's URL; the first learns of the second when it connects (peer sync).
    const first = await c.start(a as string, role, []);
    const second = await c.start(b as string, role, ["--peers", first.url]);
    const allocators = [first.name, second.name];
    const viaA = o.proxyAllocatorA ? (await c.proxy("allocator-a", first.ownUrl)).url : first.url;
    const join = `${viaA},${second.url}`;
    const masters = `${first.url},${second.url}`;
    const [, slaves] = await Promise.all([
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
    let entries = [first.url, second.url];
    if (o.topology === "tiered") {
      const vip2 = await Promise.all(["vip2-a", "vip2-b"].map((n) => c.start(n, "vip", ["--to", entries.join(",")])));
      const tier1 = await Promise.all(["tier1-a", "tier1-b"].map((n) => c.start(n, "tier1", ["--to", vip2.map((v) => v.url).join(",")])));
      const vip1 = await Promise.all(["vip1-a", "vip1-b"].map((n) => c.start(n, "vip", ["--to", tier1.map((t) => t.url).join(",")])));
      entries = vip1.map((v) => v.url);
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
