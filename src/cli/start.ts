import type { Attrs } from "../protocol/index.js";
import { MAX_ID, MAX_LEASE_TTL_MS, parseValue } from "../protocol/index.js";
import type { CommonConfig, NodeConfig } from "../node/config.js";
import { isLogLevel } from "../node/logger.js";
import { MonitorListenError, isApp, startNode } from "../node/node.js";
import { CliError, checkPolicyFlag, idFlag, list, logFormatFlag, oneOf, parseIntFlag, parseNumberFlag, urls } from "./errors.js";
import { parseFlags } from "./flags.js";
import { envValues, layer, naming, printable, readConfigFile } from "./config-file.js";
import type { OptionSpec } from "./config-file.js";
import { TLS_FLAGS, TLS_OPTIONS, tlsFlags, tlsHelp, wssOnly } from "./tls-flags.js";
import type { ReportModes, ServerHealthConfig } from "../node/config.js";
import { ASSIGN_MODES, DEFAULT_KEY_MEMORY, HandlerModuleError, TlsConfigError, builtinHandlers } from "../node/config.js";
import { DETECTION_HELP, DETECTION_OPTIONS, detectionFlags } from "./detection-flags.js";
import type { KeyMemoryOptions } from "../node/config.js";
import { LINK_MODES } from "../node/config.js";
import { isLoopback } from "../node/node.js";
import { credentialIdentity } from "../node/credentials.js";
import { CREDENTIAL_HELP, CREDENTIAL_OPTIONS, credentialFlags } from "./credentials.js";

export const START_HELP = `allot start --role ROLE [options]

Starts one node. When it is ready it prints one line to stdout, "ready ROLE ID URL" (ROLE
vip, tier1, tier2, app, master or slave); logs go to stderr (see --log-format). SIGTERM or
SIGINT stops it (an app server drains on SIGTERM first: see --drain-timeout-ms). Each role
takes the common flags and its own below; a flag of another role is a usage error.

Roles:
  --role vip --to URL[,URL…]                    round-robin front over a distributor set
  --role tier1 --to URL[,URL…] [--policy NAME]  (or --role distributor --tier 1) a vip over
                                                tier 2, or the tier-2 distributors; --policy
                                                chooses among --to by a policy (load = requests
                                                in flight to each) instead of in sequence
  --role tier2 [--peers URL,…] [--policy NAME]  (or --role distributor --tier 2) the allocator
                                                (holds the server database)
  --role app --join URL[,URL…] --apps echo,hash --capacity 4 --power 2 [--attr key=value]…
                  [--report event[:MIN_MS[:THRESHOLD]],periodic:MS]  when to report load: on a
                                                change (at most every MIN_MS, only when the load
                                                moved by THRESHOLD), every MS; default
                                                event,periodic:1000
                  [--mode broadcast|registered] report to every --join URL (default), or to one
                                                at a time, which relays to its --peers
                                                (--join takes tier-2 distributors or masters)
                  [--handlers FILE]             an ES or CommonJS module whose named exports are
                                                handlers by application name (and optionally
                                                setup/teardown); an application in --apps uses
                                                the module's export of that name, else the
                                                built-in (echo, sleep, hash). A missing file, a
                                                module that does not load or an export that is
                                                not a function exits 2. Handlers' console output
                                                goes to stderr
                  [--workers N]                 worker threads running the module's handlers
                                                and the built-in hash, so CPU-bound work never
                                                blocks the server (default: the number of
                                                cores); 0 runs them inline, on the event loop
                  [--max-run-ms N]              the longest a run may take, whatever deadline
                                                its client asks (default 600000); past it the
                                                run is answered TIMEOUT, not retried
                  [--max-ticket-ms N]           the longest an announced ticket holds a slot
                                                while its run has not come (default 60000)
                  [--drain-timeout-ms N]        on SIGTERM (or allot drain) the server drains:
                                                it refuses new runs DRAINING, lets the running
                                                ones finish for at most N ms (default 30000),
                                                leaves its distributors and exits 0
  --role master [--peers URL,…] [--policy NAME] [--assign grant|indicate]
                                                the allocator of the master/slave design: picks
                                                a slave for each client, a server for each slave
  --role slave --master URL[,URL…] [--link proxy|direct]
                                                takes a client's task, asks a master for a
                                                server, then relays the task (proxy, default) or
                                                hands the client the server (direct); fails over
                                                between masters

Common:
  --listen HOST:PORT    address to bind (default 127.0.0.1:0, a free port)
  --http HOST:PORT      serve a monitoring port there (off unless given): GET /metrics
                        (Prometheus text format), /healthz and /readyz (200 or 503 with a JSON
                        reason); its address is logged. With --credentials, all but /healthz and
                        /readyz need an admin's token (allot keys token) as a Bearer header
  --advertise URL       the URL other nodes should use (default: the bound ws://HOST:PORT,
                        wss:// with --tls-cert)
  --id ID               node id (default ROLE-xxxxxx)
  --log-level LEVEL     fatal|error|warn|info|debug|trace|silent (default info)
  --log-format FORMAT   json, pretty (human lines, coloured at a terminal) or auto (default:
                        pretty when stderr is a terminal, JSON otherwise)
${DETECTION_HELP}  --max-connections N   connections accepted at once; more are refused with HTTP 503
                        (default 10000)
  --max-connections-per-address N
                        connections accepted at once from one IP address; more are refused
                        with HTTP 429 (default 1024)
  --revoked FILE        revoked node ids and key fingerprints, one a line; re-read when it
                        changes, checked at every handshake (needs --credentials)
  --insecure            listen beyond loopback without credentials (a warning is logged);
                        without credentials, a --listen beyond loopback is otherwise refused
  --config FILE         settings from a YAML or JSON file: a mapping whose keys are these flags'
                        names without the dashes (role: app, apps: [echo], heartbeat-ms: 500,
                        attr: {region: eu}); an ALLOT_* variable gives a flag too
                        (ALLOT_HEARTBEAT_MS=500). Flags win over the environment, which wins
                        over the file. An unknown key, a value of the wrong type or a file that
                        does not parse exits 2 naming the key (or line) and the file
  --print-config        print the merged settings as JSON (a valid config file) and exit 0
                        without starting
${CREDENTIAL_HELP.replace(/^Credentials.*\n/, "")}${tlsHelp(true)}Tier 2 and master (tier 1: --policy only):
  --policy NAME[:k=v,…] server selection policy: shortest-delay[:margin=M,look=N] (tier-2
                        default: least (load + reserved + 1) / power, preferring this
                        distributor's home servers unless another's is M shorter), most-idle,
                        least-loaded (master default), round-robin, random (uniform over all
                        eligible servers), weighted (by power), best-fit (tightest idle power
                        for the task's cost), p2c[:d=N] (of N servers drawn uniformly from all
                        eligible ones, the least (load + reserved + 1) / power; default 2),
                        hash[:key=user|attr:NAME,bound=B] (affinity by consistent hashing,
                        at most B × its share of the load; default user, 1.25),
                        idle-queue[:look=N] (join-idle-queue: the server idle longest, else a
                        uniformly random one); custom policies registered through the API
  --peers URL,…         the other members of the set: server (and slave) entries are exchanged
                        (whole table on connect, changes after); list every peer on every member
  --dead-retention-ms N how long a dead server's (or slave's) entry stays before it is dropped
                        (default 300000)
  --key-window-ms N     how long a client's idempotency key is remembered with the server it
                        went to, so a repeat goes there (default 300000; 0: not remembered)
  --keys-per-client N   keys remembered per client; past it that client's oldest goes
                        (default 10000; 100000 in all)
  --max-lease-slots-per-client N
                        tier-2: slots one client may hold under leases here; a request past
                        it is refused OVERLOADED (default 1024)
  --max-lease-ms MS     tier-2: the longest lease granted; a longer one asked is clamped
                        (default 60000)
  --eject-after N       eject an app server whose runs failed N times in a row for reasons
                        not the handler's own (deadline passed, result unsendable, worker
                        thread died; TASK_FAILED does not count); 0 never ejects (default 5)
  --eject-ms MS         the first ejection's length; the n-th lasts n × MS (default 30000)
  --max-eject-ms MS     the longest ejection (default 300000)
  --max-ejected-percent P
                        at most P% of an application's live servers ejected at once, rounded
                        down, so never a last one (default 50)
  --slow-start-ms MS    a server that comes back (restarted, back from dead or from an
                        ejection) is given 1 task at once, rising linearly to its capacity over
                        MS, and more only when every other server is full; 0 gives it its
                        capacity at once (default 10000)
Master:
  --assign grant        identify the chosen server to the slave, which announces the ticket
                        (default)
  --assign indicate     tell the chosen server to perform the task first; identify it to the
                        slave once it accepted
Slave:
  --master URL,…        the masters to register with; a master that stops answering is skipped
  --link proxy|direct   relay the run through this slave (default), or send the client to the server
  --capacity N          requests held at once; more are refused OVERLOADED (default 1024)
  --report …            when to report the queue to the masters, as for app (default
                        event,periodic:1000)
`;

const OPTIONS = {
  role: { type: "string" },
  tier: { type: "string" },
  listen: { type: "string" },
  http: { type: "string" },
  advertise: { type: "string" },
  id: { type: "string" },
  "log-level": { type: "string" },
  "log-format": { type: "string" },
  ...DETECTION_OPTIONS,
  "max-connections": { type: "string" },
  "max-connections-per-address": { type: "string" },
  to: { type: "string" },
  peers: { type: "string" },
  policy: { type: "string" },
  join: { type: "string" },
  apps: { type: "string" },
  capacity: { type: "string" },
  power: { type: "string" },
  attr: { type: "string", multiple: true },
  report: { type: "string" },
  mode: { type: "string" },
  assign: { type: "string" },
  master: { type: "string" },
  link: { type: "string" },
  handlers: { type: "string" },
  workers: { type: "string" },
  "max-run-ms": { type: "string" },
  "max-ticket-ms": { type: "string" },
  "drain-timeout-ms": { type: "string" },
  "dead-retention-ms": { type: "string" },
  "key-window-ms": { type: "string" },
  "keys-per-client": { type: "string" },
  "max-lease-slots-per-client": { type: "string" },
  "max-lease-ms": { type: "string" },
  "eject-after": { type: "string" },
  "eject-ms": { type: "string" },
  "max-eject-ms": { type: "string" },
  "max-ejected-percent": { type: "string" },
  "slow-start-ms": { type: "string" },
  ...TLS_OPTIONS,
  ...CREDENTIAL_OPTIONS,
  revoked: { type: "string" },
  insecure: { type: "boolean" },
  config: { type: "string" },
  "print-config": { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

type Flag = keyof typeof OPTIONS;

/** Flags that take a comma-separated list, which a config file may give as a list too. */
const LIST_FLAGS = ["to", "peers", "join", "apps", "master", "report"] as const satisfies readonly Flag[];
/** Flags that are no setting: neither a config file nor the environment gives them. */
const NOT_SETTINGS = ["config", "print-config", "help"] as const satisfies readonly Flag[];
/** The settings a config file and `ALLOT_*` variables may give: every flag of OPTIONS but NOT_SETTINGS. */
const SETTINGS: Readonly<Record<string, OptionSpec>> = Object.fromEntries(Object.entries(OPTIONS).filter(([k]) => !(NOT_SETTINGS as readonly string[]).includes(k)));

/** The roles `allot start` runs: every role but the client, which `allot submit` is. */
export type StartRole = Exclude<NodeConfig["role"], "client">;

/** Flags every role takes. */
export const COMMON_FLAGS = ["role", "listen", "http", "advertise", "id", "log-level", "log-format", "heartbeat-ms", "silence-ms", "max-connections", "max-connections-per-address", ...TLS_FLAGS, "credentials", "cluster-pub", "revoked", "insecure", "config", "print-config", "help"] as const satisfies readonly Flag[];

/**
 * The flags each role takes besides the common ones; any other is a usage error naming the flag
 * and the role. A new role-specific flag is one entry in OPTIONS and one here.
 */
const HEALTH_FLAGS = ["eject-after", "eject-ms", "max-eject-ms", "max-ejected-percent", "slow-start-ms"] as const;

export const ROLE_FLAGS: { readonly [R in StartRole]: readonly Flag[] } = {
  vip: ["to"],
  tier1: ["tier", "to", "policy"],
  tier2: ["tier", "peers", "policy", "dead-retention-ms", "key-window-ms", "keys-per-client", "max-lease-slots-per-client", "max-lease-ms", ...HEALTH_FLAGS],
  app: ["join", "apps", "capacity", "power", "attr", "report", "mode", "handlers", "workers", "max-run-ms", "max-ticket-ms", "drain-timeout-ms"],
  master: ["peers", "policy", "assign", "dead-retention-ms", "key-window-ms", "keys-per-client", ...HEALTH_FLAGS],
  slave: ["master", "link", "capacity", "report"],
};

/** `--role tier1`/`tier2`, or `--role distributor --tier 1|2` (a `--tier` beside tier1/tier2 must agree). */
export function startRole(role: string | undefined, tier: string | undefined): StartRole {
  switch (role) {
    case "distributor":
      if (tier === "1" || tier === "2") return `tier${tier}`;
      throw new CliError(`expected 1 or 2, got ${JSON.stringify(tier ?? "")}`, "--tier");
    case "tier1":
    case "tier2":
      if (tier !== undefined && `tier${tier}` !== role) throw new CliError(`contradicts --role ${role}, got ${JSON.stringify(tier)}`, "--tier");
      return role;
    case "vip":
    case "app":
    case "master":
    case "slave":
      return role;
    default:
      throw new CliError(`expected vip, tier1, tier2 (or distributor --tier 1|2), app, master or slave, got ${JSON.stringify(role ?? "")}`, "--role");
  }
}

/** Refuses the first of `given` that neither every role nor `role` takes. */
export function checkFlagsApply(role: StartRole, given: readonly string[]): void {
  const takes: readonly string[] = ROLE_FLAGS[role];
  const common: readonly string[] = COMMON_FLAGS;
  const stray = given.find((f) => !common.includes(f) && !takes.includes(f));
  if (stray === undefined) return;
  const own = takes.length > 0 ? ` (it takes ${takes.map((f) => `--${f}`).join(", ")} and the common flags)` : "";
  throw new CliError(`does not apply to --role ${role}${own}`, `--${stray}`);
}

/** The allocators' key memory, from --key-window-ms and --keys-per-client (defaults where absent). */
function keyMemory(window: string | undefined, perClient: string | undefined): { keyMemory?: KeyMemoryOptions } {
  if (window === undefined && perClient === undefined) return {};
  return {
    keyMemory: {
      ...DEFAULT_KEY_MEMORY,
      ...(window === undefined ? {} : { windowMs: parseIntFlag("--key-window-ms", window, 0, 0, 86_400_000) }),
      ...(perClient === undefined ? {} : { maxPerClient: parseIntFlag("--keys-per-client", perClient, 1, 1, DEFAULT_KEY_MEMORY.maxTotal) }),
    },
  };
}

/** A tier-2's lease limits, from --max-lease-slots-per-client and --max-lease-ms (defaults where absent). */
function leaseLimits(slots: string | undefined, ms: string | undefined): { maxLeaseSlotsPerClient?: number; maxLeaseMs?: number } {
  return {
    ...(slots === undefined ? {} : { maxLeaseSlotsPerClient: parseIntFlag("--max-lease-slots-per-client", slots, 0, 0, 1_000_000_000) }),
    ...(ms === undefined ? {} : { maxLeaseMs: parseIntFlag("--max-lease-ms", ms, 1, 1, MAX_LEASE_TTL_MS) }),
  };
}

const deadRetention = (v: string | undefined): { deadRetentionMs?: number } => (v === undefined ? {} : { deadRetentionMs: parseIntFlag("--dead-retention-ms", v, 0, 0, 86_400_000) });
/** Outlier ejection and slow start at an allocator (tier-2, master). */
function serverHealthFlags(v: Partial<Record<(typeof HEALTH_FLAGS)[number], string>>): ServerHealthConfig {
  const int = (flag: (typeof HEALTH_FLAGS)[number], min: number, max: number): number | undefined => (v[flag] === undefined ? undefined : parseIntFlag(`--${flag}`, v[flag], 0, min, max));
  const ejectAfter = int("eject-after", 0, 1_000_000);
  const ejectMs = int("eject-ms", 1, 86_400_000);
  const maxEjectMs = int("max-eject-ms", 1, 86_400_000);
  const maxEjectedPercent = int("max-ejected-percent", 0, 100);
  const slowStartMs = int("slow-start-ms", 0, 3_600_000);
  return {
    ...(ejectAfter === undefined ? {} : { ejectAfter }),
    ...(ejectMs === undefined ? {} : { ejectMs }),
    ...(maxEjectMs === undefined ? {} : { maxEjectMs }),
    ...(maxEjectedPercent === undefined ? {} : { maxEjectedPercent }),
    ...(slowStartMs === undefined ? {} : { slowStartMs }),
  };
}
const checkedPolicy = (name: string | undefined): { policy?: string } => (name === undefined ? {} : { policy: checkPolicyFlag(name) });

function parseMode(s: string): "broadcast" | "registered" {
  if (s === "broadcast" || s === "registered") return s;
  throw new CliError(`expected broadcast or registered, got ${JSON.stringify(s)}`, "--mode");
}

/** `event[:MIN_MS[:THRESHOLD]]`, `periodic:MS`, or both comma-separated. */
export function parseReport(s: string): ReportModes {
  const modes: ReportModes = { event: false, periodicMs: 0 };
  for (const item of list("--report", s, true)) {
    const periodic = /^periodic:(\d+)$/.exec(item);
    const event = /^event(?::(\d+)(?::(\d+))?)?$/.exec(item);
    if (event) {
      modes.event = true;
      if (event[1] !== undefined) modes.eventMinMs = parseIntFlag("--report", event[1], 0, 0, 3_600_000);
      if (event[2] !== undefined) modes.eventThreshold = parseIntFlag("--report", event[2], 0, 0, 1_000_000);
    } else if (periodic) modes.periodicMs = parseIntFlag("--report", periodic[1], 0, 10, 3_600_000);
    else throw new CliError(`expected event[:MIN_MS[:THRESHOLD]] and/or periodic:MS, got ${JSON.stringify(item)}`, "--report");
  }
  return modes;
}

export function parseAttrs(flag: string, items: readonly string[] | undefined): Attrs {
  const out: Attrs = {};
  for (const item of items ?? []) {
    const m = /^([A-Za-z_][\w.-]*)=(.*)$/.exec(item);
    if (!m || m[1] === undefined || m[2] === undefined) throw new CliError(`expected key=value, got ${JSON.stringify(item)}`, flag);
    // out.__proto__ = v sets no key: the attribute would vanish in silence (and the protocol refuses the name).
    if (m[1] === "__proto__") throw new CliError(`expected key=value with a key other than __proto__, got ${JSON.stringify(item)}`, flag);
    out[m[1]] = parseValue(m[2]);
  }
  return out;
}

/** Turns `allot start` flags into a node configuration, or a CliError naming the bad flag. */
export function startConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): NodeConfig | "help" {
  const s = startSettings(argv, env);
  return s === "help" ? s : s.config;
}

/** What `allot start` runs with: the node's configuration, the merged settings it came from and whether to print them (`--print-config`) instead. */
export interface StartSettings {
  config: NodeConfig;
  /** The merged settings by flag name, as a config file would hold them. */
  settings: Record<string, unknown>;
  print: boolean;
}

/**
 * The flags, `ALLOT_*` variables and `--config` file merged (flags over environment over file,
 * key by key) into a node configuration; a bad value is a usage error naming its flag, its
 * variable, or its key and file.
 */
export function startSettings(argv: string[], env: NodeJS.ProcessEnv = process.env): StartSettings | "help" {
  const { values: flags } = parseFlags(argv, OPTIONS);
  if (flags.help) return "help";
  const file = flags.config === undefined ? {} : readConfigFile(nonEmpty("--config", flags.config), SETTINGS, LIST_FLAGS);
  const merged = layer(flags, envValues(env, SETTINGS, NOT_SETTINGS), file, flags.config);
  // Every value is typed as its flag's (readConfigFile and envValues check), so this is parseArgs's shape.
  const v = merged.values as StartValues;
  const config = naming(merged.sources, () => configFromValues(v));
  const settings = printable(Object.fromEntries(Object.entries(merged.values).filter(([k]) => !(NOT_SETTINGS as readonly string[]).includes(k))), LIST_FLAGS);
  return { config, settings, print: flags["print-config"] === true };
}

function configFromValues(v: StartValues): NodeConfig {
  const logLevel = v["log-level"] ?? "info";
  if (!isLogLevel(logLevel)) throw new CliError(`expected fatal|error|warn|info|debug|trace|silent, got ${JSON.stringify(logLevel)}`, "--log-level");
  const common = {
    listen: v.listen ?? "127.0.0.1:0",
    logLevel,
    ...logFormatFlag(v["log-format"]),
    ...detectionFlags(v["heartbeat-ms"], v["silence-ms"]),
    ...(v["max-connections"] !== undefined ? { maxConnections: parseIntFlag("--max-connections", v["max-connections"], 10_000, 1, 10_000_000) } : {}),
    ...(v["max-connections-per-address"] !== undefined
      ? { maxConnectionsPerAddress: parseIntFlag("--max-connections-per-address", v["max-connections-per-address"], 1024, 1, 10_000_000) }
      : {}),
    ...(v.id !== undefined ? { id: idFlag("--id", v.id, MAX_ID) } : {}),
    ...(v.advertise !== undefined ? { advertise: urls("--advertise", v.advertise, true)[0] as string } : {}),
    ...(v.http !== undefined ? { http: httpFlag(v.http) } : {}),
    ...tlsFlags(v, true),
  };
  if (common.tls && common.advertise !== undefined && !common.advertise.startsWith("wss://")) throw new CliError(`the node serves wss:// (--tls-cert), got ${JSON.stringify(common.advertise)}`, "--advertise");
  if (!/^(\[[^\]]+\]|[^:\s]+):\d{1,5}$/.test(common.listen)) throw new CliError(`expected HOST:PORT, got ${JSON.stringify(common.listen)}`, "--listen");
  const role = startRole(v.role, v.tier);
  checkFlagsApply(role, Object.keys(v));
  for (const f of ["to", "peers", "join", "master"] as const) wssOnly(common.tls, `--${f}`, v[f]);
  const auth = { ...credentialFlags(v), ...(v.revoked !== undefined ? { revoked: nonEmpty("--revoked", v.revoked) } : {}), ...(v.insecure ? { insecure: true } : {}) };
  checkTrust(auth, role, common.listen, v.id, common.http);
  const config = roleConfig(role, v, common);
  return { ...config, ...auth };
}

/** A credential must cover the node's --id and --role; without one, only loopback unless --insecure (--listen and --http both). */
function checkTrust(auth: ReturnType<typeof credentialFlags> & { revoked?: string; insecure?: boolean }, role: StartRole, listen: string, id: string | undefined, http: string | undefined): void {
  const c = auth.credentials;
  if (c === undefined) {
    if (auth.revoked !== undefined) throw new CliError("needs --credentials: without them no peer is verified", "--revoked");
    if (!isLoopback(listen) && auth.insecure !== true) throw new CliError(`${listen} is beyond loopback: give --credentials and --cluster-pub, or --insecure to run unauthenticated`, "--listen");
    // Without credentials the monitoring port asks for no token: its metrics and dashboard would be anyone's.
    if (http !== undefined && !isLoopback(http) && auth.insecure !== true) throw new CliError(`${http} is beyond loopback: without credentials the monitoring port asks for no token; give --credentials and --cluster-pub, or --insecure to serve it unauthenticated`, "--http");
    return;
  }
  try {
    credentialIdentity(c, role, id);
  } catch (err) {
    throw new CliError(err instanceof Error ? err.message : String(err), id !== undefined && c.claim.roles.includes(role) ? "--id" : "--role");
  }
}

type StartValues = ReturnType<typeof parseFlags<typeof OPTIONS>>["values"];
type Common = Pick<CommonConfig, "id" | "advertise" | "logFormat" | "logLevel" | "http"> & { listen: string; heartbeatMs: number; silenceMs?: number };

function roleConfig(role: StartRole, v: StartValues, common: Common): NodeConfig {
  switch (role) {
    case "vip":
      return { ...common, role: "vip", to: urls("--to", v.to, true) };
    case "tier1":
      return { ...common, role: "tier1", to: urls("--to", v.to, true), ...checkedPolicy(v.policy) };
    case "tier2": {
      const peers = urls("--peers", v.peers, false);
      return { ...common, role: "tier2", ...(peers.length > 0 ? { peers } : {}), ...checkedPolicy(v.policy), ...deadRetention(v["dead-retention-ms"]), ...keyMemory(v["key-window-ms"], v["keys-per-client"]), ...leaseLimits(v["max-lease-slots-per-client"], v["max-lease-ms"]), ...serverHealthFlags(v) };
    }
    case "app":
      return {
        ...common,
        role: "app",
        join: urls("--join", v.join, true),
        apps: builtinApps(list("--apps", v.apps, true), v.handlers),
        capacity: parseIntFlag("--capacity", v.capacity, 4, 1, 1_000_000),
        power: parseNumberFlag("--power", v.power, 1),
        attrs: parseAttrs("--attr", v.attr),
        ...(v.report !== undefined ? { report: parseReport(v.report) } : {}),
        ...(v.mode !== undefined ? { mode: parseMode(v.mode) } : {}),
        ...(v.handlers !== undefined ? { handlers: nonEmpty("--handlers", v.handlers) } : {}),
        ...(v.workers !== undefined ? { workers: parseIntFlag("--workers", v.workers, 0, 0, 1024) } : {}),
        ...(v["max-run-ms"] !== undefined ? { maxRunMs: parseIntFlag("--max-run-ms", v["max-run-ms"], 0, 1, 86_400_000) } : {}),
        ...(v["max-ticket-ms"] !== undefined ? { maxTicketMs: parseIntFlag("--max-ticket-ms", v["max-ticket-ms"], 0, 1, 3_600_000) } : {}),
        ...(v["drain-timeout-ms"] !== undefined ? { drainTimeoutMs: parseIntFlag("--drain-timeout-ms", v["drain-timeout-ms"], 0, 0, 3_600_000) } : {}),
      };
    case "master": {
      const peers = urls("--peers", v.peers, false);
      const assign = oneOf("--assign", ASSIGN_MODES, v.assign);
      return { ...common, role: "master", ...(peers.length > 0 ? { peers } : {}), ...checkedPolicy(v.policy), ...(assign ? { assign } : {}), ...deadRetention(v["dead-retention-ms"]), ...keyMemory(v["key-window-ms"], v["keys-per-client"]), ...serverHealthFlags(v) };
    }
    case "slave": {
      const link = oneOf("--link", LINK_MODES, v.link);
      return {
        ...common,
        role: "slave",
        masters: urls("--master", v.master, true),
        ...(link ? { link } : {}),
        ...(v.capacity !== undefined ? { capacity: parseIntFlag("--capacity", v.capacity, 1024, 1, 1_000_000) } : {}),
        ...(v.report !== undefined ? { report: parseReport(v.report) } : {}),
      };
    }
  }
}

/** --http HOST:PORT, a port between 0 and 65535. */
function httpFlag(v: string): string {
  const m = /^(\[[^\]]+\]|[^:\s\[\]]+):(\d{1,5})$/.exec(v);
  if (!m || Number(m[2]) > 65535) throw new CliError(`expected HOST:PORT (e.g. 127.0.0.1:9464), got ${JSON.stringify(v)}`, "--http");
  return v;
}

/** --apps without --handlers: every application needs a built-in handler (a module's exports are checked when it loads). */
function builtinApps(apps: string[], handlers: string | undefined): string[] {
  if (handlers !== undefined) return apps;
  const missing = apps.find((a) => !Object.hasOwn(builtinHandlers, a));
  if (missing !== undefined) {
    throw new CliError(`no handler for application ${JSON.stringify(missing)}: give --handlers FILE exporting it, or use a built-in (${Object.keys(builtinHandlers).join(", ")})`, "--apps");
  }
  return apps;
}

function nonEmpty(flag: string, v: string): string {
  if (v.trim() === "") throw new CliError("expected a file path", flag);
  return v;
}

export async function start(argv: string[]): Promise<number> {
  const s = startSettings(argv);
  if (s === "help") {
    process.stdout.write(START_HELP);
    return 0;
  }
  if (s.print) {
    process.stdout.write(`${JSON.stringify(s.settings, null, 2)}\n`);
    return 0;
  }
  const config = s.config;
  // Anything this process writes to stdout — a user's handler's console.log, above all — goes to
  // stderr: stdout carries the one ready line, which whoever started the node reads.
  const out = process.stdout.write.bind(process.stdout);
  process.stdout.write = process.stderr.write.bind(process.stderr);
  let node;
  try {
    // This process is this node: a stray throw from a handler's callback is logged, not fatal (within the restart budget).
    node = await startNode({ ...config, catchStrayErrors: true });
  } catch (err) {
    if (err instanceof HandlerModuleError) throw new CliError(err.message, "--handlers");
    if (err instanceof TlsConfigError) throw new CliError(err.message, `--tls-${err.field}`);
    if (err instanceof MonitorListenError) throw new CliError(err.message, "--http");
    throw new CliError(`cannot start: ${err instanceof Error ? err.message : String(err)}`);
  }
  // Handlers go in before the ready line: whoever reads it may signal at once, and a signal that
  // arrives before a handler is installed kills the process with the default disposition.
  // An app server drains on SIGTERM (and on `allot drain`): its running tasks finish, it leaves
  // its distributors, then it exits 0. SIGINT, or a second signal while it drains, stops it now.
  const app = isApp(node) ? node : undefined;
  const stopped = new Promise<void>((resolve) => {
    let signals = 0;
    const stop = (signal: NodeJS.Signals): void => {
      signals++;
      if (app !== undefined && signal === "SIGTERM" && signals === 1) {
        void app.drain().then(resolve);
        return;
      }
      process.off("SIGTERM", stop);
      process.off("SIGINT", stop);
      resolve();
    };
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
    void app?.drained.then(resolve);
  });
  out(`ready ${node.role} ${node.id} ${node.url}\n`);
  await stopped;
  await node.stop();
  return 0;
}
