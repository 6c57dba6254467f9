import type { PlacementHistogram, StatusBody } from "../protocol/index.js";
import { queryStatus } from "../node/query.js";
import type { QueryOptions } from "../node/query.js";
import { CliError, parseIntFlag } from "./errors.js";
import { OUTPUT_OPTIONS, outputFormat } from "./output.js";
import { TLS_OPTIONS, tlsFlags, tlsHelp, wssOnly } from "./tls-flags.js";
import { CREDENTIAL_HELP, CREDENTIAL_OPTIONS, credentialFlags } from "./credentials.js";
import { parseFlags } from "./flags.js";
import { entryFlags } from "./status.js";
import { errorText, mergeServers, querySet } from "./set-view.js";
import type { MemberView, MergedServer } from "./set-view.js";

export const TOP_HELP = `allot top --entry URL[,URL…] [--interval-ms N] [--once] [--count N] [-o text|json]

A live view of a set (the members given, comma-separated or --entry repeated: tier-2
distributors or masters, and any vip, tier-1, slave or app server): its servers by load, tasks
per second, errors. Every interval it asks each entry for its status, merges the allocators'
server tables (each server once, the newest row) and asks each live server listed for its
own status, whose count of completed tasks gives its tasks per second between two
snapshots; a forwarder's requests passed on and a slave's answered give theirs. At a
terminal the view is redrawn in place; otherwise (a pipe, a file) each snapshot is printed
as lines, one block an interval. Ctrl-C (SIGINT, SIGTERM) stops it.

Placement p99 is over the placements the set's allocators made between two snapshots (from
their placement-time histograms, so it is a bucket bound: "<= 5 ms"). Errors shown: entries
and servers that do not answer, servers whose runs failed in a row, servers ejected.

  --interval-ms N   time between snapshots (default 2000)
  --once            take two snapshots one interval apart, print the second (with the rates
                    between them) and exit
  --count N         exit after N snapshots (default: until stopped)
  -o, --output F    text (default) or json: one JSON object a snapshot, one a line:
                    {"time","intervalMs","members":[{"entry","ok","node","role",
                    "tasksPerSec"} or {"entry","ok":false,"error"}],"servers":[{"id","url",
                    "status","load","capacity","reserved","utilization","power","apps",
                    "failures","ejected","seenBy","ageMs","completed","tasksPerSec"}],
                    "totals":{"members","servers","alive","load","capacity","utilization",
                    "completed","tasksPerSec"},"placement":{"p99Ms","placed","note"},
                    "errors":{"unreachable":[{"url","error"}],"failing":[…],"ejected":[…]}}
                    (a rate is null until two snapshots have the counter)
  --max-servers N   ask at most N servers a snapshot for their counters (default 100; 0: none,
                    so no tasks per second from servers)
  --timeout-ms N    per request (default: the interval, at most 5000)
${tlsHelp(false)}${CREDENTIAL_HELP}`;

const OPTIONS = {
  entry: { type: "string", multiple: true },
  "interval-ms": { type: "string" },
  once: { type: "boolean" },
  count: { type: "string" },
  ...OUTPUT_OPTIONS,
  "max-servers": { type: "string" },
  "timeout-ms": { type: "string" },
  ...TLS_OPTIONS,
  ...CREDENTIAL_OPTIONS,
  help: { type: "boolean", short: "h" },
} as const;


/**
 * The q-quantile of the placements between two cumulative histograms of one bucket layout, as
 * the upper bound of the bucket it falls in (Infinity past the last bound); undefined when none
 * were made. Pure, for top and its test.
 */
export function placementQuantile(cur: readonly PlacementHistogram[], prev: readonly PlacementHistogram[], q: number): { ms: number; placed: number } | undefined {
  const layout = cur[0]?.buckets;
  if (layout === undefined) return undefined;
  const same = (h: PlacementHistogram): boolean => h.buckets.length === layout.length && h.buckets.every((b, i) => b === layout[i]);
  const counts = new Array<number>(layout.length + 1).fill(0);
  for (const h of cur.filter(same)) h.counts.forEach((c, i) => (counts[i] = (counts[i] as number) + c));
  for (const h of prev.filter(same)) h.counts.forEach((c, i) => (counts[i] = (counts[i] as number) - c));
  const placed = counts[counts.length - 1] as number;
  if (placed <= 0) return undefined;
  const i = counts.findIndex((c) => c >= q * placed);
  return { ms: i < layout.length ? (layout[i] as number) : Number.POSITIVE_INFINITY, placed };
}

const histogramsOf = (members: ReadonlyArray<{ status?: StatusBody | undefined }>): PlacementHistogram[] =>
  members.flatMap((m) => (m.status !== undefined && (m.status.role === "tier2" || m.status.role === "master") && m.status.placementMs !== undefined ? [m.status.placementMs] : []));

/** The counters of one sample, by key (`server:ID` completed tasks, `member:URL` requests passed on or answered), and when it was taken. */
interface Sample {
  at: number;
  members: MemberView[];
  servers: MergedServer[];
  /** Completed tasks by server id, from the servers' own answers (or an app server given as an entry). */
  completed: Map<string, number>;
  /** Server URLs that did not answer, with why. */
  unreachable: Array<{ url: string; error: string }>;
}

export interface TopServer {
  id: string;
  url: string;
  status: string;
  load: number;
  capacity: number;
  reserved: number;
  utilization: number;
  power: number;
  apps: string[];
  failures: number;
  ejected: boolean;
  seenBy: string[];
  ageMs: number;
  completed: number | null;
  tasksPerSec: number | null;
}

export interface TopSnapshot {
  time: string;
  intervalMs: number | null;
  members: Array<{ entry: string; ok: true; node: string; role: string; tasksPerSec: number | null } | { entry: string; ok: false; error: string }>;
  servers: TopServer[];
  totals: { members: number; servers: number; alive: number; load: number; capacity: number; utilization: number; completed: number; tasksPerSec: number | null };
  placement: { p99Ms: number | null; placed: number; note?: string };
  errors: { unreachable: Array<{ url: string; error: string }>; failing: Array<{ id: string; failures: number }>; ejected: string[] };
}

/** A member's own counter: requests a forwarder passed on, a slave answered, an app server completed. */
function memberCounter(s: StatusBody): number | undefined {
  switch (s.role) {
    case "vip":
    case "tier1":
      return s.forwarded;
    case "slave":
      return s.answered;
    case "app":
      return s.completed;
    default:
      return undefined;
  }
}

async function takeSample(entries: readonly string[], options: QueryOptions, maxServers: number): Promise<Sample> {
  const members = await querySet(entries, options);
  const servers = mergeServers(members);
  const completed = new Map<string, number>();
  for (const m of members) if (m.status?.role === "app") completed.set(m.status.node, m.status.completed);
  const unreachable: Array<{ url: string; error: string }> = members.filter((m) => m.error !== undefined).map((m) => ({ url: m.entry, error: m.error as string }));
  const ask = servers.filter((r) => r.status !== "dead" && !completed.has(r.id)).slice(0, maxServers);
  await Promise.all(
    ask.map(async (r) => {
      try {
        const s = await queryStatus(r.url, options);
        if (s.role === "app") completed.set(r.id, s.completed);
      } catch (err) {
        unreachable.push({ url: r.url, error: errorText(err) });
      }
    }),
  );
  return { at: Date.now(), members, servers, completed, unreachable };
}

const rate = (now: number | undefined, before: number | undefined, seconds: number): number | null =>
  now === undefined || before === undefined || seconds <= 0 || now < before ? null : Math.round(((now - before) / seconds) * 100) / 100;

/** One snapshot from the newest sample and, for rates, the one before it. */
export function snapshot(cur: Sample, prev: Sample | undefined): TopSnapshot {
  const seconds = prev === undefined ? 0 : (cur.at - prev.at) / 1000;
  const servers: TopServer[] = cur.servers
    .map((r) => ({
      id: r.id,
      url: r.url,
      status: r.status,
      load: r.load,
      capacity: r.capacity,
      reserved: r.reserved,
      utilization: r.capacity > 0 ? Math.round((r.load / r.capacity) * 1000) / 1000 : 0,
      power: r.power,
      apps: r.apps,
      failures: r.failures ?? 0,
      ejected: r.ejectedForMs !== undefined,
      seenBy: r.seenBy,
      ageMs: r.ageMs,
      completed: cur.completed.get(r.id) ?? null,
      tasksPerSec: rate(cur.completed.get(r.id), prev?.completed.get(r.id), seconds),
    }))
    .sort((a, b) => b.utilization - a.utilization || b.load - a.load || (a.id < b.id ? -1 : 1));
  const members = cur.members.map((m) => {
    if (m.status === undefined) return { entry: m.entry, ok: false as const, error: m.error };
    const before = prev?.members.find((p) => p.entry === m.entry)?.status;
    const counted = m.status.role === "tier2" || m.status.role === "master" ? undefined : memberCounter(m.status);
    return { entry: m.entry, ok: true as const, node: m.status.node, role: m.status.role, tasksPerSec: rate(counted, before === undefined ? undefined : memberCounter(before), seconds) };
  });
  const live = servers.filter((s) => s.status !== "dead");
  const load = live.reduce((a, s) => a + s.load, 0);
  const capacity = live.reduce((a, s) => a + s.capacity, 0);
  const rates = servers.map((s) => s.tasksPerSec).filter((x): x is number => x !== null);
  return {
    time: new Date(cur.at).toISOString(),
    intervalMs: prev === undefined ? null : cur.at - prev.at,
    members,
    servers,
    totals: {
      members: members.length,
      servers: servers.length,
      alive: servers.filter((s) => s.status === "alive").length,
      load,
      capacity,
      utilization: capacity > 0 ? Math.round((load / capacity) * 1000) / 1000 : 0,
      completed: servers.reduce((a, s) => a + (s.completed ?? 0), 0),
      tasksPerSec: rates.length > 0 ? Math.round(rates.reduce((a, x) => a + x, 0) * 100) / 100 : null,
    },
    placement: placementView(cur.members, prev?.members),
    errors: {
      unreachable: cur.unreachable,
      failing: servers.filter((s) => s.failures > 0).map((s) => ({ id: s.id, failures: s.failures })),
      ejected: servers.filter((s) => s.ejected).map((s) => s.id),
    },
  };
}

/** Placement p99 between two snapshots of the set's allocators; JSON has no Infinity, so past the last bound it says so. */
function placementView(cur: ReadonlyArray<{ status?: StatusBody | undefined }>, prev: ReadonlyArray<{ status?: StatusBody | undefined }> | undefined): TopSnapshot["placement"] {
  if (prev === undefined) return { p99Ms: null, placed: 0, note: "needs two snapshots" };
  const p = placementQuantile(histogramsOf(cur), histogramsOf(prev), 0.99);
  if (p === undefined) return { p99Ms: null, placed: 0, note: "no placements between the snapshots" };
  if (!Number.isFinite(p.ms)) return { p99Ms: null, placed: p.placed, note: "past the largest bucket bound" };
  return { p99Ms: p.ms, placed: p.placed };
}

const perSec = (x: number | null): string => (x === null ? "-" : x.toFixed(1));
const pct = (x: number): string => `${Math.round(x * 100)}%`;

/** The text view of a snapshot, one line each. */
export function formatTop(s: TopSnapshot): string[] {
  const t = s.totals;
  const lines = [
    `allot top  ${s.time}  ${t.members} member(s)  ${t.alive}/${t.servers} server(s) alive  load ${t.load}/${t.capacity} (${pct(t.utilization)})  ${perSec(t.tasksPerSec)} tasks/s  ${t.completed} completed`,
    `placement p99: ${s.placement.p99Ms === null ? `n/a (${s.placement.note ?? ""})` : `<= ${s.placement.p99Ms} ms over ${s.placement.placed} placements`}`,
    "",
    `${"MEMBER".padEnd(28)} ${"ROLE".padEnd(7)} ${"NODE".padEnd(16)} REQ/S`,
  ];
  for (const m of s.members) lines.push(m.ok ? `${m.entry.padEnd(28)} ${m.role.padEnd(7)} ${m.node.padEnd(16)} ${perSec(m.tasksPerSec)}` : `${m.entry.padEnd(28)} DOWN    ${m.error}`);
  lines.push("", `${"SERVER".padEnd(16)} ${"STATUS".padEnd(8)} ${"LOAD".padStart(9)} ${"UTIL".padStart(5)} ${"TASKS/S".padStart(8)} ${"DONE".padStart(8)} ${"FAIL".padStart(5)}  ${"AGE".padStart(6)}  APPS`);
  for (const r of s.servers) {
    const load = `${r.load}${r.reserved > 0 ? `+${r.reserved}` : ""}/${r.capacity}`;
    lines.push(
      `${r.id.padEnd(16)} ${(r.ejected ? "ejected" : r.status).padEnd(8)} ${load.padStart(9)} ${pct(r.utilization).padStart(5)} ${perSec(r.tasksPerSec).padStart(8)} ${(r.completed === null ? "-" : String(r.completed)).padStart(8)} ${String(r.failures).padStart(5)}  ${`${(r.ageMs / 1000).toFixed(1)}s`.padStart(6)}  ${r.apps.join(",")}`,
    );
  }
  const e = s.errors;
  const errs = [
    ...e.unreachable.map((u) => `${u.url} does not answer (${u.error})`),
    ...e.failing.map((f) => `${f.id}: ${f.failures} run(s) failed in a row`),
    ...e.ejected.map((id) => `${id} ejected`),
  ];
  lines.push("", errs.length === 0 ? "errors: none" : "errors:", ...errs.map((x) => `  ${x}`));
  return lines;
}

/** Resolves after `ms`, or at once when `stopped` settles. */
function pause(ms: number, stopped: Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([new Promise<void>((r) => (timer = setTimeout(r, ms))), stopped]).finally(() => clearTimeout(timer));
}

export async function top(argv: string[]): Promise<number> {
  const { values: v } = parseFlags(argv, OPTIONS);
  if (v.help) {
    process.stdout.write(TOP_HELP);
    return 0;
  }
  const entries = entryFlags(v.entry);
  const json = outputFormat(v) === "json";
  const intervalMs = parseIntFlag("--interval-ms", v["interval-ms"], 2000, 50, 3_600_000);
  const count = v.count === undefined ? undefined : parseIntFlag("--count", v.count, 1, 1, 1_000_000_000);
  if (v.once && count !== undefined) throw new CliError("--once prints one snapshot: give --once or --count", "--count");
  const maxServers = parseIntFlag("--max-servers", v["max-servers"], 100, 0, 100_000);
  const options = { timeoutMs: parseIntFlag("--timeout-ms", v["timeout-ms"], Math.min(intervalMs, 5000), 1, 600_000), ...tlsFlags(v, false), ...credentialFlags(v) };
  wssOnly(options.tls, "--entry", entries.join(","));
  const tty = process.stdout.isTTY === true && !json;
  let stop = (): void => {};
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  let halted = false;
  const onSignal = (): void => {
    halted = true;
    stop();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    const first = await takeSample(entries, options, maxServers);
    if (v.once) {
      await pause(intervalMs, stopped);
      const s = snapshot(await takeSample(entries, options, maxServers), first);
      process.stdout.write(json ? `${JSON.stringify(s)}\n` : `${formatTop(s).join("\n")}\n`);
      return s.members.some((m) => m.ok) ? 0 : 1;
    }
    let cur = first;
    let before: Sample | undefined;
    for (let shown = 1; ; shown++) {
      const s = snapshot(cur, before);
      if (json) process.stdout.write(`${JSON.stringify(s)}\n`);
      else if (tty) process.stdout.write(`\x1b[H\x1b[2J${formatTop(s).join("\n")}\n`);
      else process.stdout.write(`${formatTop(s).join("\n")}\n\n`);
      if ((count !== undefined && shown >= count) || halted) break;
      await pause(intervalMs, stopped);
      if (halted) break;
      before = cur;
      cur = await takeSample(entries, options, maxServers);
    }
    return 0;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}
