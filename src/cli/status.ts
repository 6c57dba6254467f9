import { OUTPUT_OPTIONS, outputFormat } from "./output.js";
import type { AllocatorStatus, AppStatus, ForwarderStatus, LinkStatus, ServerStatusRow, SlaveStatus, StatusBody } from "../protocol/index.js";
import { queryStatus } from "../node/query.js";
import type { QueryOptions } from "../node/query.js";
import { mergeServers, querySet } from "./set-view.js";
import type { MemberView, MergedServer } from "./set-view.js";
import { CliError, parseIntFlag, urls } from "./errors.js";
import { TLS_OPTIONS, tlsFlags, tlsHelp, wssOnly } from "./tls-flags.js";
import { CREDENTIAL_HELP, CREDENTIAL_OPTIONS, credentialFlags } from "./credentials.js";
import { parseFlags } from "./flags.js";

export const STATUS_HELP = `allot status --entry URL[,URL…] [--entry URL…] [--all] [-o text|json] [--json]

Prints what the node at URL knows, as its role sees it. Given several entries (comma-separated
or --entry repeated: the members of a set, say) it prints each one's view, then the set's
merged server table (each server once, the newest row any allocator holds, with the
allocators that list it); an entry that does not answer is said and the exit code is 1. With
-o json several entries print {"members":[{"entry",…the one-entry answer} or
{"entry","error"}],"servers":[rows with "seenBy"]}. Each role's view:
  tier-2, master  its database: every server with its applications, load, reservations,
                  capacity, power, attributes, status, version and the age of its last
                  report; a master's slaves too (load = requests held); the client, user and
                  task-type tables. Dead entries are hidden unless --all; they leave the
                  table after the retention period (start --dead-retention-ms)
  vip, tier-1     its members: URL, node id, connection state, requests in flight and
                  requests passed on to each
  slave           its link mode, requests held and its capacity, the masters it registered
                  with and the app servers it reaches, with their connection state
  app server      capacity, load (running + expected tickets), power, attributes, the
                  allocators it reports to and their connection state, its running tasks
                  (age, deadline, overdue)

  --all           also list dead servers and slaves, and table entries whose attributes
                  were all unset (text; JSON holds every row, each with its status)
  -o, --output F  text (default) or json: the whole answer as one JSON object with its
                  "role". An allocator's is {"role","node","servers":[{"id","url","apps",
                  "load","capacity","power","attrs","status","version":[inc,seq],
                  "reserved","ageMs"}],"clients":[{"id","attrs","version":[time,node]}],
                  "users":[…],"taskTypes":[…],"deadRetentionMs"}, plus "slaves":[…] (rows
                  as servers) from a master; the other roles' as docs/protocol.md describes
                  the status message
  --json          the same as -o json
  --timeout-ms N  default 5000
${tlsHelp(false)}${CREDENTIAL_HELP}`;

const OPTIONS = {
  entry: { type: "string", multiple: true },
  ...OUTPUT_OPTIONS,
  all: { type: "boolean" },
  "timeout-ms": { type: "string" },
  ...TLS_OPTIONS,
  ...CREDENTIAL_OPTIONS,
  help: { type: "boolean", short: "h" },
} as const;

export async function status(argv: string[]): Promise<number> {
  const { values: v } = parseFlags(argv, OPTIONS);
  if (v.help) {
    process.stdout.write(STATUS_HELP);
    return 0;
  }
  const entry = entryFlags(v.entry);
  const json = outputFormat(v) === "json";
  const options = { timeoutMs: parseIntFlag("--timeout-ms", v["timeout-ms"], 5000, 1, 600_000), ...tlsFlags(v, false), ...credentialFlags(v) };
  wssOnly(options.tls, "--entry", entry.join(","));
  if (entry.length > 1) return statusOfSet(entry, options, json, v.all === true);
  const s = await queryStatus(entry[0] as string, options);
  if (json) {
    process.stdout.write(`${JSON.stringify(toJson(s))}\n`);
    return 0;
  }
  process.stdout.write(`${formatStatus(s, Date.now(), v.all === true).join("\n")}\n`);
  return 0;
}

/** `--entry` given once or more, each a comma-separated list: the URLs in order, each once. */
export function entryFlags(given: readonly string[] | undefined): string[] {
  const all = (given ?? []).flatMap((g) => urls("--entry", g, false));
  if (all.length === 0) throw new CliError("is required", "--entry");
  return [...new Set(all)];
}

async function statusOfSet(entries: readonly string[], options: QueryOptions, json: boolean, all: boolean): Promise<number> {
  const members = await querySet(entries, options);
  const servers = mergeServers(members);
  if (json) {
    const out = { members: members.map((m) => (m.status ? { entry: m.entry, ...toJson(m.status) } : { entry: m.entry, error: m.error })), servers };
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } else process.stdout.write(`${formatSet(members, servers, Date.now(), all).join("\n")}\n`);
  const failed = members.filter((m) => m.error !== undefined);
  for (const m of failed) process.stderr.write(`allot status: ${m.entry}: ${m.error}\n`);
  return failed.length > 0 ? 1 : 0;
}

/** Several members' views, each under its entry, then the set's merged server table. */
export function formatSet(members: readonly MemberView[], servers: readonly MergedServer[], now: number, all: boolean): string[] {
  const lines: string[] = [];
  for (const m of members) {
    lines.push(`== ${m.entry}`);
    lines.push(...(m.status ? formatStatus(m.status, now, all) : [`  does not answer: ${m.error}`]));
    lines.push("");
  }
  const allocators = members.filter((m) => m.status?.role === "tier2" || m.status?.role === "master").length;
  const shown = servers.filter((r) => all || r.status !== "dead");
  const hidden = servers.length - shown.length;
  lines.push(`set: ${members.length} member(s), ${allocators} allocator(s), ${servers.length} server(s)${hidden > 0 ? `; ${hidden} dead not shown (--all shows them)` : ""}`);
  for (const r of shown) lines.push(`${formatRow(r)}  seen by ${r.seenBy.join(",")}`);
  return lines;
}

/** The answer as printed by `-o json`: an allocator's tables under the names `allot status` has always used. */
export function toJson(s: StatusBody): object {
  if (s.role !== "tier2" && s.role !== "master") return s;
  const t = s.tables ?? { client: [], user: [], "task-type": [] };
  return {
    role: s.role,
    node: s.node,
    servers: s.servers,
    clients: t.client,
    users: t.user,
    taskTypes: t["task-type"],
    ...(s.slaves ? { slaves: s.slaves } : {}),
    ...(s.deadRetentionMs === undefined ? {} : { deadRetentionMs: s.deadRetentionMs }),
  };
}

/** The text view of a status answer, one line each; `now` dates deadlines, `all` keeps dead rows. */
export function formatStatus(s: StatusBody, now: number, all: boolean): string[] {
  switch (s.role) {
    case "tier2":
    case "master":
      return allocatorLines(s, all);
    case "vip":
    case "tier1":
      return forwarderLines(s);
    case "slave":
      return slaveLines(s);
    case "app":
      return appLines(s, now);
  }
}

function allocatorLines(s: AllocatorStatus, all: boolean): string[] {
  const shown = (rows: readonly ServerStatusRow[]): ServerStatusRow[] => [...rows].filter((r) => all || r.status !== "dead").sort((a, b) => (a.id < b.id ? -1 : 1));
  const dead = (rows: readonly ServerStatusRow[]): number => (all ? 0 : rows.filter((r) => r.status === "dead").length);
  const hidden = dead(s.servers) + dead(s.slaves ?? []);
  const head = `allocator ${s.node} (${s.role}): ${s.servers.length} server(s)${s.slaves ? `, ${s.slaves.length} slave(s)` : ""}`;
  const lines = [hidden > 0 ? `${head}; ${hidden} dead not shown (--all shows them)` : head];
  for (const r of shown(s.servers)) lines.push(formatRow(r));
  if (s.slaves) {
    lines.push("slaves:");
    for (const r of shown(s.slaves)) lines.push(formatRow(r));
  }
  const t = s.tables;
  if (t) {
    for (const [name, entries] of [["client", t.client], ["user", t.user], ["task-type", t["task-type"]]] as const) {
      for (const e of entries) {
        // An entry whose attributes were all unset stays in the table (so the removal wins over an
        // older copy, as a set would); it steers nothing, so only --all lists it.
        const attrs = formatAttrs(e.attrs, " ");
        if (attrs !== "" || all) lines.push(`  ${name} ${e.id}: ${attrs === "" ? "(none)" : attrs}`);
      }
    }
  }
  return lines;
}

function forwarderLines(s: ForwarderStatus): string[] {
  const head = s.role === "vip" ? `vip ${s.node}: ${s.forwarded} request(s) passed on` : `tier-1 ${s.node} (${s.policy ?? "sequence"}): ${s.forwarded} task(s) redirected`;
  return [`${head}, ${s.members.length} member(s)`, ...s.members.map((m) => formatLink(m))];
}

function slaveLines(s: SlaveStatus): string[] {
  return [
    `slave ${s.node}: link ${s.link}, holding ${s.held}/${s.capacity}, received ${s.received}, answered ${s.answered}, failovers ${s.failovers}`,
    `masters (${s.masters.length}):`,
    ...s.masters.map((m) => formatLink(m)),
    `servers (${s.servers.length}):`,
    ...s.servers.map((m) => formatLink(m)),
  ];
}

function appLines(s: AppStatus, now: number): string[] {
  const lines = [
    `app server ${s.node} ${s.url}: load ${s.load}/${s.capacity} (${s.runningCount} running, ${s.expected} expected), power ${s.power}, apps ${s.apps.join(",")}, ${s.completed} completed, v${s.version[0]}.${s.version[1]}${s.draining === true ? ", draining" : ""}`,
  ];
  const attrs = formatAttrs(s.attrs, " ");
  if (attrs) lines.push(`  attrs ${attrs}`);
  lines.push(`registrations (${s.registrations.length}):`, ...s.registrations.map((m) => formatLink(m)));
  const listed = s.running.length < s.runningCount ? `, ${s.running.length} listed` : "";
  lines.push(`running (${s.runningCount}${listed}):`);
  for (const r of s.running) {
    const left = r.deadline - now;
    const deadline = left >= 0 ? `deadline in ${seconds(left)}` : `deadline ${seconds(-left)} ago`;
    lines.push(`  ${r.taskId.padEnd(14)} ${r.app.padEnd(10)} running ${seconds(r.ageMs)}  ${deadline}${r.overdue ? "  OVERDUE" : ""}`);
  }
  return lines;
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)}s`;

const formatAttrs = (attrs: Record<string, unknown>, sep: string): string =>
  Object.entries(attrs)
    .map(([k, x]) => `${k}=${String(x)}`)
    .join(sep);

function formatLink(l: LinkStatus): string {
  const forwarded = l.forwarded === undefined ? "" : `  passed on ${l.forwarded}`;
  return `  ${l.url}  ${l.state.padEnd(10)} ${(l.id ?? "-").padEnd(14)} in flight ${l.inFlight}${forwarded}`;
}

export function formatRow(r: ServerStatusRow): string {
  const attrs = formatAttrs(r.attrs, ",");
  // Ejected or ramping at this allocator: said beside the status, which stays about liveness.
  const health =
    (r.ejectedForMs !== undefined ? `  ejected ${(r.ejectedForMs / 1000).toFixed(1)}s more` : "") +
    (r.failures !== undefined && r.failures > 0 ? `  ${r.failures} failed in a row` : "") +
    (r.rampLimit !== undefined ? `  slow start ${r.rampLimit}/${r.capacity}` : "");
  return (
    `  ${r.id.padEnd(14)} ${r.status.padEnd(8)}${health} load ${r.load}/${r.capacity}${r.reserved ? ` (+${r.reserved} reserved)` : ""}  power ${r.power}  apps ${r.apps.join(",")}` +
    `${attrs ? `  ${attrs}` : ""}  v${r.version[0]}.${r.version[1]}  ${(r.ageMs / 1000).toFixed(1)}s ago  ${r.url}`
  );
}
