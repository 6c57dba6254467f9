/**
 * The fleet a simulation runs on: which servers there are (power, applications, attributes) and
 * what every task asks for (application, hard constraints). Read from a user's JSON file, so
 * every key is checked and a bad one is named with the reason.
 */
import { MAX_ID, isReservedAttr, parseConstraint } from "../protocol/index.js";
import type { AttrValue, Attrs, Constraint } from "../protocol/index.js";

/** The application every simulated server offers and every task asks for, unless a fleet file says otherwise. */
export const SIM_APP = "sim";

/** One group of identical servers. */
export interface ServerGroup {
  count: number;
  power: number;
  apps: readonly string[];
  attrs: Attrs;
}

export interface Fleet {
  groups: readonly ServerGroup[];
  /** The application every task asks for. */
  app: string;
  /** Hard constraints every task carries. */
  require: readonly Constraint[];
}

/** A fleet file that cannot be used: `key` is where (`servers[2].count`), the message says why. */
export class FleetError extends Error {
  override readonly name = "FleetError";
  readonly code = "BAD_FLEET";
  constructor(
    readonly key: string,
    readonly reason: string,
  ) {
    super(`${key}: ${reason}`);
  }
}

/** Most servers a fleet file may describe (the simulator's own bound on --servers). */
export const MAX_FLEET_SERVERS = 1_000_000;

/**
 * The powers a server may have, in a fleet file as in --powers: past them virtual time leaves the
 * range of a double (125 × 1e308 is an infinite capacity; at 5e-324 tasks arrive at rate 0).
 */
export const MIN_POWER = 0.000001;
export const MAX_POWER = 1_000_000;

const FLEET_KEYS = ["servers", "task"];
const GROUP_KEYS = ["count", "power", "apps", "attrs"];
const TASK_KEYS = ["app", "require"];

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

function onlyKeys(o: Record<string, unknown>, allowed: readonly string[], at: string): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) throw new FleetError(at === "" ? k : `${at}.${k}`, `unknown key; expected one of ${allowed.join(", ")}`);
}

function attrValue(v: unknown, at: string): AttrValue {
  if (typeof v === "string" || typeof v === "boolean" || (typeof v === "number" && Number.isFinite(v))) return v;
  throw new FleetError(at, "expected a string, a finite number or a boolean");
}

function group(g: unknown, at: string): ServerGroup {
  if (!isRecord(g)) throw new FleetError(at, "expected an object {count, power, apps?, attrs?}");
  onlyKeys(g, GROUP_KEYS, at);
  const { count, power } = g;
  if (typeof count !== "number" || !Number.isInteger(count) || count < 0) throw new FleetError(`${at}.count`, `expected a whole number >= 0, got ${JSON.stringify(count)}`);
  if (typeof power !== "number" || !Number.isFinite(power) || power <= 0) throw new FleetError(`${at}.power`, `expected a number > 0, got ${JSON.stringify(power)}`);
  if (power < MIN_POWER || power > MAX_POWER) throw new FleetError(`${at}.power`, `expected a number from ${MIN_POWER} to ${MAX_POWER}, got ${JSON.stringify(power)}`);
  let apps: string[] = [SIM_APP];
  if (g.apps !== undefined) {
    if (!Array.isArray(g.apps) || g.apps.length === 0 || !g.apps.every((a): a is string => typeof a === "string" && a !== "")) throw new FleetError(`${at}.apps`, "expected a non-empty list of application names");
    apps = [...new Set(g.apps)];
  }
  const attrs: Attrs = {};
  if (g.attrs !== undefined) {
    if (!isRecord(g.attrs)) throw new FleetError(`${at}.attrs`, "expected an object of attributes");
    for (const [k, v] of Object.entries(g.attrs)) {
      // As the runtime takes attributes: a built-in name would be shadowed in every constraint, and attrs.__proto__ = v sets nothing.
      if (k === "" || k.length > MAX_ID || k === "__proto__") throw new FleetError(`${at}.attrs.${k}`, `expected a non-empty name of at most ${MAX_ID} characters, not __proto__`);
      if (isReservedAttr(k)) throw new FleetError(`${at}.attrs.${k}`, `${k} is a built-in field or a field of a server's report, not an attribute${k === "power" ? " (the group's power is its own key)" : ""}`);
      attrs[k] = attrValue(v, `${at}.attrs.${k}`);
    }
  }
  return { count, power, apps, attrs };
}

/**
 * Checks a parsed fleet file: `{"servers":[{"count","power","apps"?,"attrs"?}…],"task"?:{"app"?,"require"?}}`.
 * Throws a FleetError naming the key for an unknown key, a negative or fractional count, a power
 * that is not from MIN_POWER to MAX_POWER, a constraint that does not parse, no servers at all, or no server offering the
 * task's application.
 */
export function parseFleet(json: unknown): Fleet {
  if (!isRecord(json)) throw new FleetError("(top level)", "expected an object {servers, task?}");
  onlyKeys(json, FLEET_KEYS, "");
  if (!Array.isArray(json.servers) || json.servers.length === 0) throw new FleetError("servers", "expected a non-empty list of server groups");
  const groups = json.servers.map((g, i) => group(g, `servers[${i}]`));
  const total = groups.reduce((a, g) => a + g.count, 0);
  if (total < 1) throw new FleetError("servers", "the counts add up to no server");
  if (total > MAX_FLEET_SERVERS) throw new FleetError("servers", `the counts add up to ${total} servers, more than ${MAX_FLEET_SERVERS}`);
  let app = SIM_APP;
  let require: Constraint[] = [];
  if (json.task !== undefined) {
    const t = json.task;
    if (!isRecord(t)) throw new FleetError("task", "expected an object {app?, require?}");
    onlyKeys(t, TASK_KEYS, "task");
    if (t.app !== undefined) {
      if (typeof t.app !== "string" || t.app === "") throw new FleetError("task.app", "expected an application name");
      app = t.app;
    }
    if (t.require !== undefined) {
      if (!Array.isArray(t.require)) throw new FleetError("task.require", 'expected a list of constraints, e.g. ["gpu=true"]');
      require = t.require.map((c, i) => {
        if (typeof c !== "string") throw new FleetError(`task.require[${i}]`, "expected a constraint string");
        try {
          return parseConstraint(c);
        } catch (err) {
          throw new FleetError(`task.require[${i}]`, err instanceof Error ? err.message : String(err));
        }
      });
    }
  }
  if (!groups.some((g) => g.count > 0 && g.apps.includes(app))) throw new FleetError("task.app", `no server offers application ${JSON.stringify(app)}`);
  return { groups, app, require };
}
