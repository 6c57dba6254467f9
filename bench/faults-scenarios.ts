// The fault scenarios of issue 13, part 9: each a fault injected mid-stream into a cluster of real
// processes. Shared by `npm run bench:faults` (all of them) and test/multiprocess/faults.test.ts
// (those that pass today).
import { setTimeout as delay } from "node:timers/promises";
import { readRuns } from "../test/helpers/ledger.js";
import type { FaultContext, Scenario, Watch } from "./faults-run.js";
import type { Topology } from "./faults-topology.js";

/** Waits (bounded, 5 s) until `server` is running a task, so a fault there hits one in flight. */
async function runningOn(server: string, runsFile: string): Promise<void> {
  for (let i = 0; i < 250; i++) {
    if (readRuns(runsFile).some((r) => r.server === server && r.end === undefined)) return;
    await delay(20);
  }
}

type Sig = "SIGKILL" | "SIGSTOP";

/** Signals one node; a stopped one is resumed once the stream has drained. */
function signalled(name: string, topology: Topology, target: string, sig: Sig, watch: Watch, isServer = false): Scenario {
  return {
    name,
    topology,
    watch,
    ...(isServer ? { ready: (_f: FaultContext, runs: string) => runningOn(target, runs) } : {}),
    async inject(f) {
      if (isServer && sig === "SIGKILL") f.killed(target, sig);
      else if (isServer) f.failed(target, sig);
      await f.cluster.signal(target, sig);
    },
    ...(sig === "SIGSTOP" ? { undo: async (f: FaultContext) => void f.cluster.node(target).proc.kill("SIGCONT") } : {}),
  };
}

const allocators = (t: Topology): string[] => (t === "ms" ? ["master-a", "master-b"] : ["tier2-a", "tier2-b"]);
const apps = ["app-1", "app-2", "app-3"];

/** An app server signalled mid-run: its allocators should take it out of selection. */
export const appServer = (sig: Sig, topology: Topology = "tier2"): Scenario => signalled(`${sig} app server`, topology, "app-1", sig, { observers: allocators(topology), target: "app-1" }, true);

/** A tier-2 signalled: the app servers' links to it (their registrations) show it. */
export const tier2 = (sig: Sig, topology: Topology = "tiered"): Scenario =>
  signalled(`${sig} tier-2`, topology, "tier2-a", sig, topology === "tiered" ? { observers: ["vip2-a", "vip2-b"], target: "tier2-a" } : { observers: apps, target: "tier2-a" });

export const tier1 = (sig: Sig): Scenario => signalled(`${sig} tier-1`, "tiered", "tier1-a", sig, { observers: ["vip1-a", "vip1-b"], target: "tier1-a" });

export const vip = (sig: Sig): Scenario => signalled(`${sig} vip`, "tiered", "vip2-a", sig, { observers: ["tier1-a", "tier1-b"], target: "vip2-a" });

export const master = (sig: Sig): Scenario => signalled(`${sig} master`, "ms", "master-a", sig, { observers: ["slave-proxy", "slave-direct", ...apps], target: "master-a" });

export const slave = (sig: Sig, link: "proxy" | "direct"): Scenario => signalled(`${sig} ${link} slave`, "ms", `slave-${link}`, sig, { observers: ["master-a", "master-b"], target: `slave-${link}` });

/** The app servers' link to tier2-a goes silent both ways: tier2-a should stop placing on them. */
export const partitionTier2: Scenario = {
  name: "partition tier-2 | servers",
  topology: "tier2",
  proxyAllocatorA: true,
  watch: { observers: ["tier2-a"], target: "app-1" },
  inject: async (f) => f.cluster.proxies.get("allocator-a")?.partition(),
  undo: async (f) => f.cluster.proxies.get("allocator-a")?.heal(),
};

/** The client's link to app-1 goes silent while app-1 runs its tasks; only the client can tell. */
export const partitionClient: Scenario = {
  name: "partition client | server",
  topology: "tier2",
  proxiedApps: ["app-1"],
  clientWatch: "app-1",
  ready: (_f, runs) => runningOn("app-1", runs),
  async inject(f) {
    f.failed("app-1", "partitioned from the client");
    f.cluster.proxies.get("app-1")?.partition();
  },
  undo: async (f) => f.cluster.proxies.get("app-1")?.heal(),
};

export const delayed: Scenario = {
  name: "200 ms delay on a server",
  topology: "tier2",
  proxiedApps: ["app-1"],
  inject: async (f) => f.cluster.proxies.get("app-1")?.delay(200, 0, "both"),
  undo: async (f) => f.cluster.proxies.get("app-1")?.heal(),
};

export const halfFailing: Scenario = {
  name: "server failing half its runs",
  topology: "tier2",
  inject: async (f) => f.grayFail(),
};

/** app-1 killed with tasks in flight and started again at its address: a new incarnation. */
export const restarted: Scenario = {
  name: "restarted server",
  topology: "tier2",
  watch: { observers: allocators("tier2"), target: "app-1" },
  ready: (_f, runs) => runningOn("app-1", runs),
  async inject(f) {
    f.killed("app-1", "restart");
    await f.cluster.restart("app-1");
  },
};

export const crashLoop: Scenario = {
  name: "crash-looping server",
  topology: "tier2",
  watch: { observers: allocators("tier2"), target: "app-1" },
  ready: (_f, runs) => runningOn("app-1", runs),
  async inject(f) {
    for (let i = 0; i < 4; i++) {
      f.killed("app-1", `crash ${i + 1}`);
      await f.cluster.restart("app-1");
      await delay(500);
    }
  },
};

/** Every app server killed and started again at once: they all reconnect together. */
export const reconnectStorm: Scenario = {
  name: "reconnect storm",
  topology: "tier2",
  watch: { observers: allocators("tier2"), target: "app-1" },
  async inject(f) {
    for (const a of apps) f.killed(a, "restart");
    await Promise.all(apps.map((a) => f.cluster.restart(a)));
  },
};

/** Every scenario of the issue, in the bench's order. */
export function allScenarios(): Scenario[] {
  const sigs: Sig[] = ["SIGKILL", "SIGSTOP"];
  return [
    ...sigs.flatMap((s) => [appServer(s), tier2(s), tier1(s), vip(s), master(s), slave(s, "proxy"), slave(s, "direct")]),
    partitionTier2,
    partitionClient,
    delayed,
    halfFailing,
    restarted,
    crashLoop,
    reconnectStorm,
  ];
}
