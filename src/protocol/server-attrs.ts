import { BUILTIN_FIELDS, REPORT_FIELDS, SETTABLE_FIELDS } from "./types.js";
import type { Attrs } from "./types.js";

/** What `attrs.set` and `attrs.unset` change at an app server: its own figures and its free attributes. */
export interface ServerFigures {
  power: number;
  capacity: number;
  attrs: Attrs;
}

/** A key of an attribute change that cannot apply, and why. */
export interface AttrProblem {
  key: string;
  reason: string;
}

const BUILTIN: ReadonlySet<string> = new Set(BUILTIN_FIELDS);
const SETTABLE: ReadonlySet<string> = new Set(SETTABLE_FIELDS);
const REPORT: ReadonlySet<string> = new Set(REPORT_FIELDS);

/**
 * Why setting `attrs` and removing `unset` at an app server cannot be done, or undefined when it
 * can: `power` must be a positive finite number and `capacity` an integer >= 1 (they change the
 * server's own figures); the other built-in fields a constraint reads (`id`, `app`, `load`,
 * `free`) and the report's own fields (`url`, `apps`, …) are not attributes and are refused; a
 * built-in cannot be removed.
 */
export function serverAttrsProblem(attrs: Attrs, unset: readonly string[] = []): AttrProblem | undefined {
  for (const key of Object.keys(attrs)) {
    const v = attrs[key];
    if (key === "power" && !(typeof v === "number" && Number.isFinite(v) && v > 0)) return { key, reason: `the server's power: expected a positive finite number, got ${JSON.stringify(v)}` };
    if (key === "capacity" && !(Number.isSafeInteger(v) && (v as number) >= 1)) return { key, reason: `the server's capacity: expected an integer >= 1, got ${JSON.stringify(v)}` };
    if (!SETTABLE.has(key) && (BUILTIN.has(key) || REPORT.has(key))) return { key, reason: `${notAttribute(key)}; it cannot be set` };
  }
  for (const key of unset) {
    if (SETTABLE.has(key)) return { key, reason: `the server's ${key} is built in: it cannot be removed, only set` };
    if (BUILTIN.has(key) || REPORT.has(key)) return { key, reason: `${notAttribute(key)}; it cannot be removed` };
  }
  return undefined;
}

/** Whether `key` names a server's built-in field or a report field, so cannot be a free attribute. */
export function isReservedAttr(key: string): boolean {
  return BUILTIN.has(key) || REPORT.has(key);
}

function notAttribute(key: string): string {
  return BUILTIN.has(key) ? `${key} is a built-in field a constraint reads, not an attribute` : `${key} is a field of the server's report, not an attribute`;
}

/**
 * The figures after a change: `power` and `capacity` taken as the server's own, every other key
 * merged into the attributes, `unset` keys removed from them. The change must have passed
 * `serverAttrsProblem`; this throws a RangeError when it does not.
 */
export function applyServerAttrs(cur: ServerFigures, set: Attrs, unset: readonly string[] = []): ServerFigures {
  const problem = serverAttrsProblem(set, unset);
  if (problem) throw new RangeError(`${problem.key}: ${problem.reason}`);
  const { power, capacity, ...rest } = set;
  const attrs: Attrs = { ...cur.attrs, ...rest };
  for (const k of unset) delete attrs[k];
  return { power: typeof power === "number" ? power : cur.power, capacity: typeof capacity === "number" ? capacity : cur.capacity, attrs };
}
