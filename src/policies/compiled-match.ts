import { BUILTIN_FIELDS } from "../protocol/index.js";
import type { AttrValue, Attrs, Constraint, Preference } from "../protocol/index.js";
import { freeSlots } from "../state/index.js";
import type { ServerEntry } from "../state/index.js";
import { meets, valueOf } from "./match.js";
import type { ServerValue } from "./match.js";

// Compiled constraints: what `meets(valueOf(e, c.key), c)` does per server read, with the key's
// field chosen and the wanted value converted once. A scalar test has the wanted side in the
// forms it needs (its string form, the number whose string form that is, whether it is "true" or
// "false"), so judging a server value converts nothing: no String() of a number per read.

/** A test of one scalar server value, as `meets` judges it for one constraint. */
type ScalarTest = (v: string | number | boolean) => boolean;

const never = (): boolean => false;
const always = (): boolean => true;
const OBJECT_PROTOTYPE: object = Object.prototype;
/** Wanted lists up to this long are scanned; longer ones are looked up in a Set. */
const SCAN = 8;

const isScalar = (x: unknown): x is AttrValue => typeof x === "string" || typeof x === "number" || typeof x === "boolean";

/**
 * The number whose string form `s` is (`String(Number(s)) === s`), if any: "2" but not "2.0",
 * " 2", "" or "-0"; "NaN" and "Infinity" are. Such a string starts with a digit, "-", "N" or "I".
 */
function numberForm(s: string): number | undefined {
  const c = s.charCodeAt(0);
  if (!((c >= 48 && c <= 57) || c === 45 || c === 73 || c === 78)) return undefined;
  const n = Number(s);
  return String(n) === s ? n : undefined;
}

/**
 * Whether a value's string form is `String(want)`. A number's string form is that string exactly
 * when it is the number whose string form the string is (SameValueZero: NaN is "NaN", either
 * zero "0"); a boolean's is "true" or "false".
 */
function equalTo(want: AttrValue): ScalarTest {
  const str = String(want);
  const form = typeof want === "number" ? want : numberForm(str);
  const n = form ?? NaN; // no number equals n when there is no number form
  const nan = form !== undefined && Number.isNaN(form);
  const t = str === "true";
  const f = str === "false";
  return (v) =>
    typeof v === "string" ? v === str : typeof v === "number" ? v === n || (nan && v !== v) : typeof v === "boolean" ? (v ? t : f) : String(v) === str;
}

/** Whether a value's string form is one of the wanted values' (`in`). */
function oneOf(wanted: readonly AttrValue[]): ScalarTest {
  if (wanted.length === 0) return never;
  if (wanted.length === 1) return equalTo(wanted[0] as AttrValue);
  const strs: string[] = [];
  const nums: number[] = [];
  for (const w of wanted) {
    const s = String(w);
    strs.push(s);
    const n = typeof w === "number" ? w : numberForm(s);
    if (n !== undefined) nums.push(n);
  }
  const t = strs.includes("true");
  const f = strs.includes("false");
  if (strs.length > SCAN) {
    // A Set's SameValueZero is the number test: NaN finds NaN, 0 finds -0.
    const strSet: ReadonlySet<string> = new Set(strs);
    const numSet: ReadonlySet<number> = new Set(nums);
    return (v) => (typeof v === "string" ? strSet.has(v) : typeof v === "number" ? numSet.has(v) : typeof v === "boolean" ? (v ? t : f) : strSet.has(String(v)));
  }
  return (v) => {
    if (typeof v === "number") {
      for (let i = 0; i < nums.length; i++) {
        const n = nums[i] as number;
        if (n === v || (n !== n && v !== v)) return true;
      }
      return false;
    }
    if (typeof v === "boolean") return v ? t : f;
    const s = typeof v === "string" ? v : String(v);
    for (let i = 0; i < strs.length; i++) if (strs[i] === s) return true;
    return false;
  };
}

/**
 * `meets(v, c)` for a scalar `v`, or undefined for a constraint outside the protocol's types (an
 * unknown op, a wanted value that is not a string, number, boolean or, for `in`, a list of them),
 * which is left to `meets`.
 */
function scalarTest(c: Constraint): ScalarTest | undefined {
  const op: string = c.op;
  const want: unknown = c.value;
  if (Array.isArray(want)) {
    if (!want.every(isScalar)) return undefined;
    if (op === "in") return oneOf(want);
    return op === "=" || op === "!=" || op === ">=" || op === "<=" || op === ">" || op === "<" ? never : undefined; // a list belongs to `in` only
  }
  if (!isScalar(want)) return undefined;
  switch (op) {
    case "=":
    case "in":
      return equalTo(want);
    case "!=": {
      const is = equalTo(want);
      return (v) => !is(v);
    }
    case ">=":
    case "<=":
    case ">":
    case "<": {
      const b = typeof want === "number" ? want : Number(want);
      if (Number.isNaN(b)) return never;
      // A server value that is not a number is NaN here, and NaN fails every comparison.
      if (op === ">=") return (v) => (typeof v === "number" ? v : Number(v)) >= b;
      if (op === "<=") return (v) => (typeof v === "number" ? v : Number(v)) <= b;
      if (op === ">") return (v) => (typeof v === "number" ? v : Number(v)) > b;
      return (v) => (typeof v === "number" ? v : Number(v)) < b;
    }
    default:
      return undefined;
  }
}

/** `meets(v, c)` for any value, given the constraint's scalar test and whether its op is `!=`. */
function valueMeets(test: ScalarTest, ne: boolean, v: ServerValue | undefined): boolean {
  if (v === undefined) return ne;
  if (typeof v !== "object") return test(v);
  if (ne) {
    for (const x of v) if (!valueMeets(test, ne, x)) return false;
    return true;
  }
  for (const x of v) if (valueMeets(test, ne, x)) return true;
  return false;
}

/**
 * One constraint as a test of a server entry: `meets(valueOf(e, c.key), c)`, with the key's
 * field chosen and the wanted value converted once rather than per server read. The constraint
 * is read when it is compiled.
 */
export function compileConstraint(c: Constraint): (e: ServerEntry) => boolean {
  const test = scalarTest(c);
  const k = c.key;
  if (test === undefined) {
    const copy: Constraint = { key: k, op: c.op, value: c.value };
    return (e) => meets(valueOf(e, k), copy);
  }
  const ne = c.op === "!=";
  // The built-in fields are typed (a report is validated when decoded): a string or a number.
  switch (k) {
    case "id":
      return (e) => test(e.id);
    case "app":
      return (e) => valueMeets(test, ne, e.apps);
    case "power":
      return (e) => test(e.power);
    case "capacity":
      return (e) => test(e.capacity);
    case "load":
      return (e) => test(e.load);
    case "free":
      return (e) => test(freeSlots(e));
    default: {
      // valueOf's own attribute, without Object.hasOwn on every read: on an object whose
      // prototype is Object.prototype, a value under a key Object.prototype lacks is its own.
      const inherited = k in OBJECT_PROTOTYPE;
      return (e) => {
        const attrs = e.attrs;
        const v = attrs[k];
        if (v === undefined || ((inherited || Object.getPrototypeOf(attrs) !== OBJECT_PROTOTYPE) && !Object.hasOwn(attrs, k))) return ne;
        return typeof v === "object" ? valueMeets(test, ne, v) : test(v);
      };
    }
  }
}

const BUILTIN_KEYS: ReadonlySet<string> = new Set(BUILTIN_FIELDS);
const isBuiltin = (c: Constraint): boolean => BUILTIN_KEYS.has(c.key);

/**
 * A task's hard constraints as one test of a server entry, equal to `meetsAll(e, cs)` for every
 * entry: compiled once, it judges each server without converting the wanted values again. No
 * constraints: always true. The constraints are read when it is compiled, not when it runs.
 */
export function compileRequire(cs: readonly Constraint[]): (e: ServerEntry) => boolean {
  // Built-in fields first: they are on the entry a decision has already read, while an attribute
  // is one more object to fetch (at 100,000 servers, a cache miss), needed only if they pass.
  if (cs.length > 1 && !isBuiltin(cs[0] as Constraint) && cs.some(isBuiltin)) cs = [...cs.filter(isBuiltin), ...cs.filter((c) => !isBuiltin(c))];
  switch (cs.length) {
    case 0:
      return always;
    case 1:
      return compileConstraint(cs[0] as Constraint);
    case 2: {
      const a = compileConstraint(cs[0] as Constraint);
      const b = compileConstraint(cs[1] as Constraint);
      return (e) => a(e) && b(e);
    }
    default: {
      const fs = cs.map(compileConstraint);
      return (e) => {
        for (let i = 0; i < fs.length; i++) if (!(fs[i] as (e: ServerEntry) => boolean)(e)) return false;
        return true;
      };
    }
  }
}

const zero = (): number => 0;

/**
 * `preferenceScore(e, clientAttrs, prefs, prefer)` compiled for a decision: the attributes to
 * share and the weighted preferences are read once, and the score sums the same terms in the
 * same order (points, then weights), so it is the same number for every entry. No soft
 * preferences at all: always 0.
 */
export function compilePreferenceScore(clientAttrs: Attrs, prefs: Attrs, prefer?: readonly Preference[]): (e: ServerEntry) => number {
  const keys: string[] = [];
  const values: AttrValue[] = [];
  for (const k in clientAttrs) {
    keys.push(k);
    values.push(clientAttrs[k] as AttrValue);
  }
  for (const k in prefs) {
    keys.push(k);
    values.push(prefs[k] as AttrValue);
  }
  const tests = prefer === undefined ? [] : prefer.map(compileConstraint);
  const weights = prefer === undefined ? [] : prefer.map((p) => p.weight);
  if (keys.length === 0 && tests.length === 0) return zero;
  return (e) => {
    let score = 0;
    const attrs = e.attrs;
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i] as string;
      if (Object.hasOwn(attrs, k) && attrs[k] === values[i]) score++;
    }
    for (let i = 0; i < tests.length; i++) if ((tests[i] as (e: ServerEntry) => boolean)(e)) score += weights[i] as number;
    return score;
  };
}
