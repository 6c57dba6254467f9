// The tiered figures of `npm run bench`: client → vip → tier-1 → vip → tier-2 → app, every node
// its own process but the client, which runs in the bench process. The same cluster serves the
// full-allocation row, the leased row and the one-task-in-flight row.
import { startNode } from "../src/node/node.js";
import type { TaskSpec } from "../src/node/config.js";
import { closedLoop } from "./measure.js";
import type { Figure } from "./measure.js";
import { killAll, spawnReady } from "./procs.js";
import type { Proc } from "./procs.js";
import { authFlags } from "./creds.js";
import type { BenchKeys } from "./creds.js";
import type { LoopOptions } from "./direct-link.js";

const quiet = ["--log-level", "warn"];

/** What a lease-aware client counts in `stats().leases`. */
export interface LeaseCounts {
  granted: number;
  runs: number;
  fallbacks: number;
}

export interface TieredFigure extends Figure {
  /** For a leased row: the client's lease counters at the end of it. */
  leases?: LeaseCounts;
}

export interface TieredRow {
  /** Shown after the row's name (" (no auth)", " with leases"…). */
  label: string;
  /** Slots to ask a lease for with each submit; none means a full allocation per task. */
  lease?: number;
}

/**
 * `lease` is a TaskSpec field of lease-aware clients only: spelled out here so this compiles
 * against a client without it too (such a client just ignores the field).
 */
type LeaseSpec = TaskSpec & { lease?: number };

function leaseCounts(stats: Record<string, unknown>): LeaseCounts | undefined {
  const l = stats.leases;
  if (typeof l !== "object" || l === null) return undefined;
  const { granted, runs, fallbacks } = l as Record<string, unknown>;
  return { granted: Number(granted ?? 0), runs: Number(runs ?? 0), fallbacks: Number(fallbacks ?? 0) };
}

/**
 * One tiered row on a fresh cluster. Resolves undefined for a leased row when the client shows
 * no lease counters after its first leased submit: this build's client does not lease.
 */
export async function tieredPath(keys: BenchKeys | undefined, o: LoopOptions, row: TieredRow): Promise<TieredFigure | undefined> {
  const procs: Proc[] = [];
  let client: Awaited<ReturnType<typeof startNode>> | undefined;
  try {
    const t2 = await spawnReady(["--role", "distributor", "--tier", "2", ...authFlags(keys, "tier2", "bench-tier2"), ...quiet]);
    procs.push(t2);
    procs.push(await spawnReady(["--role", "app", "--join", t2.url, "--apps", "echo", "--capacity", "100000", ...authFlags(keys, "app", "bench-app"), ...quiet]));
    const vip2 = await spawnReady(["--role", "vip", "--to", t2.url, ...authFlags(keys, "vip", "bench-vip-2"), ...quiet]);
    procs.push(vip2);
    const t1 = await spawnReady(["--role", "distributor", "--tier", "1", "--to", vip2.url, ...authFlags(keys, "tier1", "bench-tier1"), ...quiet]);
    procs.push(t1);
    const vip1 = await spawnReady(["--role", "vip", "--to", t1.url, ...authFlags(keys, "vip", "bench-vip-1"), ...quiet]);
    procs.push(vip1);
    const c = await startNode({ role: "client", id: o.benchId, ...(keys ? keys.config("client", o.benchId) : {}), entries: [vip1.url], logLevel: "warn" });
    client = c;
    const spec = (i: unknown): LeaseSpec => (row.lease === undefined ? { app: "echo", payload: i } : { app: "echo", payload: i, lease: row.lease });
    await c.submit(spec(0));
    if (row.lease !== undefined && leaseCounts(c.stats()) === undefined) return undefined;
    const how = row.lease === undefined ? "full allocation per task" : `leases of ${row.lease} slots`;
    const fig: TieredFigure = await closedLoop(
      `tiered path: client → vip → tier-1 → vip → tier-2 → app, ${how}, ${o.inFlight} in flight${row.label}`,
      o.inFlight,
      o.seconds,
      o.warmup,
      (i) => c.submit(spec({ i })),
    );
    const stats = c.stats();
    const t = stats.traffic as { framesOut: number; envelopesOut: number; framesIn: number; envelopesIn: number; closedSilent?: number };
    // No node is stopped here: a link closed as silent is a false positive of the failure detector.
    const b = client.stats().batches as { sent: number; tasks: number } | undefined;
    const batched = b !== undefined && b.sent > 0 ? `; ${b.sent} placement batches of ${(b.tasks / b.sent).toFixed(1)} tasks on average` : "";
    console.log(`    client: ${(t.envelopesOut / t.framesOut).toFixed(1)} envelopes per frame out, ${(t.envelopesIn / t.framesIn).toFixed(1)} in; links closed as silent ${t.closedSilent ?? 0}${batched}`);
    const leases = row.lease === undefined ? undefined : leaseCounts(stats);
    if (leases) {
      fig.leases = leases;
      console.log(`    leases: ${leases.granted} granted; ${leases.runs} runs under a lease, ${leases.fallbacks} fell back to a full allocation`);
    }
    return fig;
  } finally {
    await client?.stop();
    killAll(procs);
  }
}
