import type { NodeConfig } from "../node/config.js";
import type { Handler } from "../actors/runtime/handlers.js";
import type { Attrs } from "../protocol/index.js";
import type { ReportModes } from "../actors/runtime/reporter.js";
import { TestClusterSpecError } from "./errors.js";
import type { Delivery } from "./scheduler.js";

/**
 * What a test cluster is made of, and the checks that turn a wrong spec into a
 * TestClusterSpecError naming the field, before anything starts. Ids name nodes everywhere
 * (joins, peers, entries, faults); URLs are derived from them.
 */

/** An app server: its applications, capacity and power, attributes and how it reports. */
export interface AppServerSpec {
  id: string;
  apps: string[];
  /** Tasks at once, >= 1. */
  capacity: number;
  /** Relative power, > 0. Default 1. */
  power?: number;
  attrs?: Attrs;
  /** The allocators (tier-2s or masters) it joins; default all of them. */
  join?: string[];
  /** How it reports; default every load change and every 1 000 ms. */
  report?: ReportModes;
  /** `broadcast` (default): report to every joined allocator; `registered`: to one, which relays. */
  mode?: "broadcast" | "registered";
}

export interface Tier2Spec {
  id: string;
  /** Other tier-2s this one exchanges entries with. */
  peers?: string[];
  policy?: string;
}

/** A tier-1 distributor, forwarding to `to` (a vip or tier-2 ids; default every tier-2). */
export interface Tier1Spec {
  id: string;
  to?: string[];
  policy?: string;
}

/** A vip box in front of a set: tier-1 or tier-2 ids. */
export interface VipSpec {
  id: string;
  to: string[];
}

export interface TieredSpec {
  tier2: Tier2Spec[];
  /** Tier-1s by id, or a count: `tier1-1`…, forwarding to `vip-2` when there are 2 vips, else to every tier-2. */
  tier1?: Tier1Spec[] | number;
  /**
   * Vips by id, or a count (as startTieredCluster builds them): 1 is `vip-1` in front of the
   * tier-1s (of the tier-2s without tier-1s); 2 adds `vip-2` in front of the tier-2s.
   */
  vips?: VipSpec[] | number;
  apps: AppServerSpec[];
}

/** A spec whose tier-1s and vips are listed, not counted: what the rest of testing reads. */
export type ExpandedSpec = Omit<TestClusterSpec, "tiered"> & { tiered?: Omit<TieredSpec, "tier1" | "vips"> & { tier1?: Tier1Spec[]; vips?: VipSpec[] } };

/** Turns counts of tier-1s and vips into lists with the ids startTieredCluster uses. */
export function expandCounts(spec: TestClusterSpec): ExpandedSpec {
  const t = spec.tiered;
  if (!t || (typeof t.tier1 !== "number" && typeof t.vips !== "number")) return spec as ExpandedSpec;
  const tier2 = (t.tier2 ?? []).map((n) => n.id);
  const nVips = typeof t.vips === "number" ? t.vips : undefined;
  const tier1: Tier1Spec[] = typeof t.tier1 === "number" ? Array.from({ length: t.tier1 }, (_, i) => ({ id: `tier1-${i + 1}`, ...(nVips === 2 ? { to: ["vip-2"] } : {}) })) : (t.tier1 ?? []);
  let vips: VipSpec[];
  if (nVips === undefined) vips = (t.vips as VipSpec[] | undefined) ?? [];
  else {
    const front = tier1.length > 0 ? tier1.map((n) => n.id) : tier2;
    vips = nVips === 0 ? [] : nVips === 1 ? [{ id: "vip-1", to: front }] : [{ id: "vip-1", to: front }, { id: "vip-2", to: tier2 }];
  }
  return { ...spec, tiered: { ...t, tier1, vips } };
}

export interface MasterSpec {
  id: string;
  peers?: string[];
  assign?: "grant" | "indicate";
  policy?: string;
}

export interface SlaveSpec {
  id: string;
  link: "proxy" | "direct";
  /** Masters it registers with; default all. */
  masters?: string[];
  /** Requests it holds at once. */
  capacity?: number;
}

export interface MasterSlaveSpec {
  masters: MasterSpec[];
  slaves?: SlaveSpec[];
  apps: AppServerSpec[];
}

export interface ClientSpec {
  id: string;
  /**
   * Entry node ids (vips, tier-1s, tier-2s or masters). Default: the tiered front (vips nothing
   * else points at, else the tier-1s, else the tier-2s), or every master.
   */
  entries?: string[];
  /** A task's default deadline, ms. Default 30 000. */
  timeoutMs?: number;
  maxAttempts?: number;
  backoffMinMs?: number;
  backoffMaxMs?: number;
  entryTimeoutMs?: number;
}

/** A fault the cluster applies by itself at virtual time `at` (ms after start-up ended). */
export type FaultSpec = { at: number } & (
  | { kind: "partition"; a: string[]; b: string[] }
  | { kind: "heal" }
  | { kind: "crash" | "restart" | "pause" | "resume"; node: string }
  | { kind: "drop"; link: [string, string]; p?: number; n?: number }
  | { kind: "delay"; link: [string, string]; ms: number }
  | { kind: "duplicate"; link: [string, string]; p: number }
  | { kind: "reorder"; link: [string, string] }
);

export interface TestClusterSpec {
  /** Seeds every node's randomness and the hub's fault dice. Default 1. */
  seed?: number;
  tiered?: TieredSpec;
  masterSlave?: MasterSlaveSpec;
  /** Clients: ids (default entries) or full specs. */
  clients?: Array<string | ClientSpec>;
  /** User handlers by application name, run inline on the app servers (no worker threads). */
  handlers?: Readonly<Record<string, Handler>>;
  /** Failure detection on every connection (ms, 0 = off). Default 500. */
  heartbeatMs?: number;
  /** Must exceed heartbeatMs; default 3 × heartbeatMs. */
  silenceMs?: number;
  /** Default request deadline, ms. Default 10 000. */
  requestTimeoutMs?: number;
  /** Who orders deliveries: "fifo" (default), a choice tape, or a fast-check scheduler. */
  delivery?: Delivery;
  faults?: FaultSpec[];
  /** Virtual time start-up may take before a StartupTimeoutError. Default 30 000. */
  startupMs?: number;
  /**
   * Changes a node's configuration before each of its incarnations starts (it is given the id and
   * the configuration the cluster built, and returns the one to use): a knob the spec does not
   * have, or a deliberately broken node (a mutant, e.g. through `wrapBehaviour`) that a checker
   * must catch. What the history records (a server's capacity, attributes) stays the spec's.
   */
  configure?: (id: string, config: NodeConfig) => NodeConfig;
}

/** Handlers every app server has unless the spec gives its own. */
export const BUILTIN_APPS: ReadonlySet<string> = new Set(["echo", "sleep", "hash"]);

const ID = /^[A-Za-z0-9_.-]+$/;

type Role = "vip" | "tier1" | "tier2" | "app" | "master" | "slave" | "client";

function fail(path: string, reason: string): never {
  throw new TestClusterSpecError(path, reason);
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

function onlyKeys(x: Record<string, unknown>, path: string, allowed: readonly string[], what: string): void {
  for (const k of Object.keys(x)) if (!allowed.includes(k)) fail(path === "" ? k : `${path}.${k}`, `unknown ${what} (expected one of ${allowed.join(", ")})`);
}

function list(x: unknown, path: string): unknown[] {
  if (x === undefined) return [];
  if (!Array.isArray(x)) fail(path, "must be an array");
  return x;
}

function intAtLeast(x: unknown, path: string, min: number): void {
  if (typeof x !== "number" || !Number.isInteger(x) || x < min) fail(path, `must be an integer >= ${min}, got ${JSON.stringify(x)}`);
}

/** The nodes of a spec, by id, with their roles: what the references are checked against. */
export function rolesOf(spec: ExpandedSpec): Map<string, Role> {
  const m = new Map<string, Role>();
  const t = spec.tiered;
  const ms = spec.masterSlave;
  for (const n of t?.tier2 ?? []) m.set(n.id, "tier2");
  for (const n of t?.tier1 ?? []) m.set(n.id, "tier1");
  for (const n of t?.vips ?? []) m.set(n.id, "vip");
  for (const n of ms?.masters ?? []) m.set(n.id, "master");
  for (const n of ms?.slaves ?? []) m.set(n.id, "slave");
  for (const n of t?.apps ?? ms?.apps ?? []) m.set(n.id, "app");
  for (const c of spec.clients ?? []) m.set(typeof c === "string" ? c : c.id, "client");
  return m;
}

/** Checks a spec; throws TestClusterSpecError naming the first bad field. */
export function validateSpec(spec: TestClusterSpec): void {
  const raw: unknown = spec;
  if (!isObject(raw)) fail("", "the spec must be an object");
  onlyKeys(raw, "", ["seed", "tiered", "masterSlave", "clients", "handlers", "heartbeatMs", "silenceMs", "requestTimeoutMs", "delivery", "faults", "startupMs", "configure"], "field");
  if ((spec.tiered === undefined) === (spec.masterSlave === undefined)) fail("", "give exactly one of tiered and masterSlave");
  if (spec.seed !== undefined && (typeof spec.seed !== "number" || !Number.isInteger(spec.seed))) fail("seed", `must be an integer, got ${JSON.stringify(spec.seed)}`);
  const counted: unknown = spec.tiered;
  if (isObject(counted)) {
    if (typeof counted.tier1 === "number") intAtLeast(counted.tier1, "tiered.tier1", 0);
    if (typeof counted.vips === "number") {
      intAtLeast(counted.vips, "tiered.vips", 0);
      if (counted.vips > 2) fail("tiered.vips", `a count of vips is 0, 1 or 2 (list them to have more), got ${counted.vips}`);
    }
    if (!Array.isArray(counted.tier2)) fail("tiered.tier2", "must be an array");
  }
  validateExpanded(expandCounts(spec));
}

function validateExpanded(spec: ExpandedSpec): void {
  // Ids: well-formed and unique across the whole cluster.
  const seen = new Map<string, string>();
  const id = (x: unknown, path: string): string => {
    if (typeof x !== "string" || !ID.test(x)) fail(path, `an id must be letters, digits, '_', '.', '-', got ${JSON.stringify(x)}`);
    const before = seen.get(x);
    if (before !== undefined) fail(path, `duplicate id ${JSON.stringify(x)} (also ${before})`);
    seen.set(x, path);
    return x;
  };
  const roles = new Map<string, Role>();
  const declare = (items: unknown[], path: string, role: Role, keys: readonly string[]): void => {
    items.forEach((n, i) => {
      const p = `${path}[${i}]`;
      if (!isObject(n)) fail(p, "must be an object");
      onlyKeys(n, p, keys, "field");
      roles.set(id(n.id, `${p}.id`), role);
    });
  };
  const appKeys = ["id", "apps", "capacity", "power", "attrs", "join", "report", "mode"];
  let base: string;
  let apps: unknown[];
  let allocatorRole: Role;
  if (spec.tiered !== undefined) {
    const t: unknown = spec.tiered;
    base = "tiered";
    if (!isObject(t)) fail(base, "must be an object");
    onlyKeys(t, base, ["tier2", "tier1", "vips", "apps"], "role");
    const tier2 = list(t.tier2, "tiered.tier2");
    if (tier2.length === 0) fail("tiered.tier2", "a tiered cluster needs at least one tier-2 distributor");
    declare(tier2, "tiered.tier2", "tier2", ["id", "peers", "policy"]);
    declare(list(t.tier1, "tiered.tier1"), "tiered.tier1", "tier1", ["id", "to", "policy"]);
    declare(list(t.vips, "tiered.vips"), "tiered.vips", "vip", ["id", "to"]);
    apps = list(t.apps, "tiered.apps");
    allocatorRole = "tier2";
  } else {
    const m: unknown = spec.masterSlave;
    base = "masterSlave";
    if (!isObject(m)) fail(base, "must be an object");
    onlyKeys(m, base, ["masters", "slaves", "apps"], "role");
    const masters = list(m.masters, "masterSlave.masters");
    if (masters.length === 0) fail("masterSlave.masters", "a master/slave cluster needs at least one master");
    declare(masters, "masterSlave.masters", "master", ["id", "peers", "assign", "policy"]);
    declare(list(m.slaves, "masterSlave.slaves"), "masterSlave.slaves", "slave", ["id", "link", "masters", "capacity"]);
    apps = list(m.apps, "masterSlave.apps");
    allocatorRole = "master";
  }
  declare(apps, `${base}.apps`, "app", appKeys);
  const clients = list(spec.clients, "clients");
  clients.forEach((c, i) => {
    const p = `clients[${i}]`;
    if (typeof c === "string") roles.set(id(c, p), "client");
    else {
      if (!isObject(c)) fail(p, "must be an id or an object");
      onlyKeys(c, p, ["id", "entries", "timeoutMs", "maxAttempts", "backoffMinMs", "backoffMaxMs", "entryTimeoutMs"], "field");
      roles.set(id(c.id, `${p}.id`), "client");
    }
  });

  // References: every id named must exist and have a role that fits.
  const ref = (x: unknown, path: string, want: readonly Role[], self?: string): void => {
    if (typeof x !== "string") fail(path, `must be a node id, got ${JSON.stringify(x)}`);
    const r = roles.get(x);
    if (r === undefined) fail(path, `no node ${JSON.stringify(x)} in the cluster`);
    if (!want.includes(r)) fail(path, `${JSON.stringify(x)} is a ${r}, expected ${want.join(" or ")}`);
    if (x === self) fail(path, "a node cannot name itself");
  };
  const refs = (x: unknown, path: string, want: readonly Role[], self?: string): void => list(x, path).forEach((v, i) => ref(v, `${path}[${i}]`, want, self));
  const t = spec.tiered;
  if (t) {
    t.tier2.forEach((n, i) => refs(n.peers, `tiered.tier2[${i}].peers`, ["tier2"], n.id));
    (t.tier1 ?? []).forEach((n, i) => refs(n.to, `tiered.tier1[${i}].to`, ["vip", "tier2"]));
    (t.vips ?? []).forEach((n, i) => {
      if (list(n.to, `tiered.vips[${i}].to`).length === 0) fail(`tiered.vips[${i}].to`, "a vip needs a set behind it");
      refs(n.to, `tiered.vips[${i}].to`, ["tier1", "tier2"]);
    });
  }
  const ms = spec.masterSlave;
  if (ms) {
    ms.masters.forEach((n, i) => {
      refs(n.peers, `masterSlave.masters[${i}].peers`, ["master"], n.id);
      if (n.assign !== undefined && n.assign !== "grant" && n.assign !== "indicate") fail(`masterSlave.masters[${i}].assign`, `must be grant or indicate, got ${JSON.stringify(n.assign)}`);
    });
    (ms.slaves ?? []).forEach((n, i) => {
      const p = `masterSlave.slaves[${i}]`;
      if (n.link !== "proxy" && n.link !== "direct") fail(`${p}.link`, `must be proxy or direct, got ${JSON.stringify(n.link)}`);
      refs(n.masters, `${p}.masters`, ["master"]);
      if (n.capacity !== undefined) intAtLeast(n.capacity, `${p}.capacity`, 1);
    });
  }
  const handlers = spec.handlers ?? {};
  if (!isObject(handlers)) fail("handlers", "must be an object of functions by application name");
  for (const [k, h] of Object.entries(handlers)) if (typeof h !== "function") fail(`handlers.${k}`, "must be a function");
  (apps as AppServerSpec[]).forEach((a, i) => {
    const p = `${base}.apps[${i}]`;
    const names = list(a.apps, `${p}.apps`);
    if (names.length === 0) fail(`${p}.apps`, "an app server needs at least one application");
    names.forEach((n, j) => {
      if (typeof n !== "string" || n === "") fail(`${p}.apps[${j}]`, "must be an application name");
      if (!Object.hasOwn(handlers, n) && !BUILTIN_APPS.has(n)) fail(`${p}.apps[${j}]`, `no handler for ${JSON.stringify(n)} (give one in handlers; built in: ${[...BUILTIN_APPS].join(", ")})`);
    });
    intAtLeast(a.capacity, `${p}.capacity`, 1);
    if (a.power !== undefined && (typeof a.power !== "number" || !Number.isFinite(a.power) || a.power <= 0)) fail(`${p}.power`, `must be a number > 0, got ${JSON.stringify(a.power)}`);
    if (a.attrs !== undefined && !isObject(a.attrs)) fail(`${p}.attrs`, "must be an object");
    refs(a.join, `${p}.join`, [allocatorRole]);
    if (a.mode !== undefined && a.mode !== "broadcast" && a.mode !== "registered") fail(`${p}.mode`, `must be broadcast or registered, got ${JSON.stringify(a.mode)}`);
    if (a.report !== undefined) {
      if (!isObject(a.report) || typeof a.report.event !== "boolean") fail(`${p}.report`, "must be { event: boolean, periodicMs: number }");
      intAtLeast(a.report.periodicMs, `${p}.report.periodicMs`, 0);
      if (!a.report.event && a.report.periodicMs === 0) fail(`${p}.report`, "must report on events, periodically, or both");
    }
  });
  clients.forEach((c, i) => {
    if (typeof c === "string") return;
    const cs = c as ClientSpec;
    refs(cs.entries, `clients[${i}].entries`, ["vip", "tier1", "tier2", "master"]);
    if (cs.entries !== undefined && cs.entries.length === 0) fail(`clients[${i}].entries`, "a client needs at least one entry");
    for (const k of ["timeoutMs", "maxAttempts", "backoffMinMs", "backoffMaxMs", "entryTimeoutMs"] as const) if (cs[k] !== undefined) intAtLeast(cs[k], `clients[${i}].${k}`, 1);
  });

  // Timing knobs.
  if (spec.heartbeatMs !== undefined) intAtLeast(spec.heartbeatMs, "heartbeatMs", 0);
  if (spec.silenceMs !== undefined) {
    intAtLeast(spec.silenceMs, "silenceMs", 1);
    if (spec.silenceMs <= (spec.heartbeatMs ?? 500)) fail("silenceMs", `must exceed heartbeatMs (${spec.heartbeatMs ?? 500})`);
  }
  if (spec.requestTimeoutMs !== undefined) intAtLeast(spec.requestTimeoutMs, "requestTimeoutMs", 1);
  if (spec.startupMs !== undefined) intAtLeast(spec.startupMs, "startupMs", 1);
  if (spec.configure !== undefined && typeof spec.configure !== "function") fail("configure", "must be a function (id, config) => config");
  const d: unknown = spec.delivery;
  if (d !== undefined && d !== "fifo") {
    if (!isObject(d)) fail("delivery", `must be "fifo", { choices } or { scheduler }, got ${JSON.stringify(d)}`);
    if ("choices" in d) {
      list(d.choices, "delivery.choices").forEach((c, i) => intAtLeast(c, `delivery.choices[${i}]`, 0));
    } else if (typeof d.schedule !== "function" && (!("scheduler" in d) || !isObject(d.scheduler) || typeof d.scheduler.schedule !== "function")) fail("delivery", "must be \"fifo\", { choices: number[] }, an fc.scheduler() instance or { scheduler: it }");
  }

  // Faults name nodes of this cluster.
  list(spec.faults, "faults").forEach((f, i) => {
    const p = `faults[${i}]`;
    if (!isObject(f)) fail(p, "must be an object");
    intAtLeast(f.at, `${p}.at`, 0);
    const any: Role[] = ["vip", "tier1", "tier2", "app", "master", "slave", "client"];
    switch (f.kind) {
      case "partition":
        refs(f.a, `${p}.a`, any);
        refs(f.b, `${p}.b`, any);
        break;
      case "heal":
        break;
      case "crash":
      case "restart":
      case "pause":
      case "resume":
        ref(f.node, `${p}.node`, any);
        break;
      case "drop":
      case "delay":
      case "duplicate":
      case "reorder": {
        const l = list(f.link, `${p}.link`);
        if (l.length !== 2) fail(`${p}.link`, "a link is two node ids");
        refs(l, `${p}.link`, any);
        break;
      }
      default:
        fail(`${p}.kind`, `unknown fault ${JSON.stringify(f.kind)}`);
    }
  });
}
