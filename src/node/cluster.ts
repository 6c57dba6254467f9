import type { Attrs, Role } from "../protocol/index.js";
import type { CommonConfig } from "./config.js";
import { issueCredential } from "./credentials.js";
import type { ClusterKey } from "../transport/index.js";
import { startNode } from "./node.js";
import type { RunningNode } from "./node.js";

export interface AppSpec {
  id?: string;
  apps: string[];
  capacity: number;
  power: number;
  attrs?: Attrs;
}

export interface TieredClusterOptions {
  /** Tier-1 and tier-2 set sizes; default 2 each. */
  tier1?: number;
  tier2?: number;
  apps: AppSpec[];
  /** Settings applied to every node (log level, transport, …). */
  common?: Omit<CommonConfig, "id" | "listen" | "advertise">;
  /** Issue every node a credential with this cluster key, in memory, so the cluster runs authenticated. */
  issuer?: ClusterKey;
}

export interface TieredCluster {
  /** The address clients use: the vip in front of the tier-1 set. */
  entry: string;
  nodes: RunningNode[];
  stop(): Promise<void>;
}

/**
 * Starts the whole tiered design in this process: app servers joined to every tier-2
 * distributor, a vip over the tier-2 set, a tier-1 set redirecting to that vip, and a vip over
 * the tier-1 set as the entry. Waits until every tier-2 distributor knows every app server.
 */
export async function startTieredCluster(o: TieredClusterOptions): Promise<TieredCluster> {
  const common = o.common ?? {};
  return startGroup(async (add) => {
    const tier2: RunningNode[] = [];
    for (let i = 1; i <= (o.tier2 ?? 2); i++) tier2.push(await add(startNode({ ...common, ...credentialsFor(o.issuer, "tier2", `tier2-${i}`), role: "tier2", id: `tier2-${i}` })));
    await startApps(add, o.apps, common, tier2.map((n) => n.url), o.issuer);
    const vip2 = await add(startNode({ ...common, ...credentialsFor(o.issuer, "vip", "vip-2"), role: "vip", id: "vip-2", to: tier2.map((n) => n.url) }));
    const tier1: RunningNode[] = [];
    for (let i = 1; i <= (o.tier1 ?? 2); i++) tier1.push(await add(startNode({ ...common, ...credentialsFor(o.issuer, "tier1", `tier1-${i}`), role: "tier1", id: `tier1-${i}`, to: [vip2.url] })));
    const vip1 = await add(startNode({ ...common, ...credentialsFor(o.issuer, "vip", "vip-1"), role: "vip", id: "vip-1", to: tier1.map((n) => n.url) }));
    await waitFor(() => tier2.every((t) => known(t, "servers") >= o.apps.length), 10_000, "app servers to register with every tier-2 distributor");
    return { entry: vip1.url };
  });
}

export interface MasterSlaveClusterOptions {
  /** Masters (peered with each other); default 2. */
  masters?: number;
  /** One slave per entry, with its link mode; default one proxy and one direct. */
  slaves?: Array<"proxy" | "direct">;
  assign?: "grant" | "indicate";
  apps: AppSpec[];
  common?: Omit<CommonConfig, "id" | "listen" | "advertise">;
  issuer?: ClusterKey;
}

/** A day: a cluster started in one process does not outlive its credentials' use. */
const IN_MEMORY_EXPIRY_MS = 86_400_000;

/** The config that makes a node of the cluster authenticated, when there is an issuer. */
export function credentialsFor(issuer: ClusterKey | undefined, role: Role, id: string): Pick<CommonConfig, "credentials" | "clusterPub"> {
  if (!issuer) return {};
  return { credentials: issueCredential(issuer.privateKey, { roles: [role], id, expires: Date.now() + IN_MEMORY_EXPIRY_MS }), clusterPub: [issuer.publicKey] };
}

/**
 * Starts the master/slave design in this process: masters peered into one set, app servers and
 * slaves registered with every master. Clients use any master as their entry. Waits until every
 * master knows every server and slave.
 */
export async function startMasterSlaveCluster(o: MasterSlaveClusterOptions): Promise<TieredCluster & { masters: string[] }> {
  const common = o.common ?? {};
  return startGroup(async (add) => {
    const masters: RunningNode[] = [];
    for (let i = 1; i <= (o.masters ?? 2); i++) {
      const peers = masters.map((m) => m.url);
      masters.push(await add(startNode({ ...common, ...credentialsFor(o.issuer, "master", `master-${i}`), role: "master", id: `master-${i}`, ...(o.assign ? { assign: o.assign } : {}), ...(peers.length > 0 ? { peers } : {}) })));
    }
    const urls = masters.map((m) => m.url);
    await startApps(add, o.apps, common, urls, o.issuer);
    const links = o.slaves ?? ["proxy", "direct"];
    for (const [i, link] of links.entries()) await add(startNode({ ...common, ...credentialsFor(o.issuer, "slave", `slave-${i + 1}-${link}`), role: "slave", id: `slave-${i + 1}-${link}`, masters: urls, link }));
    await waitFor(() => masters.every((m) => known(m, "servers") >= o.apps.length && known(m, "slaves") >= links.length), 10_000, "app servers and slaves to register with every master");
    return { entry: urls[0] as string, masters: urls };
  });
}

type Add = (n: Promise<RunningNode>) => Promise<RunningNode>;

/**
 * Runs `build`, which starts nodes through `add`; the nodes then stop together, newest first —
 * also when starting the rest fails, so nothing started outlives a failed start.
 */
async function startGroup<T extends object>(build: (add: Add) => Promise<T>): Promise<T & { nodes: RunningNode[]; stop(): Promise<void> }> {
  const nodes: RunningNode[] = [];
  const stop = async (): Promise<void> => {
    for (const n of [...nodes].reverse()) await n.stop();
  };
  try {
    const built = await build(async (p) => {
      const node = await p;
      nodes.push(node);
      return node;
    });
    return { ...built, nodes, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function startApps(add: Add, apps: readonly AppSpec[], common: Omit<CommonConfig, "id" | "listen" | "advertise">, join: string[], issuer: ClusterKey | undefined): Promise<void> {
  for (const [i, a] of apps.entries()) {
    const id = a.id ?? `app-${i + 1}`;
    await add(startNode({ ...common, ...credentialsFor(issuer, "app", id), role: "app", id, apps: a.apps, capacity: a.capacity, power: a.power, attrs: a.attrs ?? {}, join }));
  }
}

/** Members of `key` a node's stats show alive. */
function known(n: RunningNode, key: "servers" | "slaves"): number {
  const s = n.stats()[key];
  return Array.isArray(s) ? s.filter((e: { status?: unknown }) => e.status === "alive").length : 0;
}

/** Polls `cond` every 10 ms (bounded by `timeoutMs`) — for start-up, never inside a test's assertion. */
export async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
