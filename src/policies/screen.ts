import type { AttrValue, Constraint } from "../protocol/index.js";
import { FAILS, PASSES } from "../state/index.js";
import type { FreeIndex, ServerEntry, ServerTable } from "../state/index.js";
import { compileRequire } from "./compiled-match.js";

/** Constraint keys whose answer moves with the load: judged on every read, never kept by seat. */
const MOVING: ReadonlySet<string> = new Set(["load", "free"]);
const moves = (c: Constraint): boolean => MOVING.has(c.key);
const stays = (c: Constraint): boolean => !MOVING.has(c.key);

/** A task's hard constraints, compiled once per distinct list (`requirement`). */
export interface Requirement {
  /** All of them: `compileRequire(cs)`. */
  all: (e: ServerEntry) => boolean;
  /**
   * Names the list (equal lists, equal names); undefined for a list no seat verdicts are kept
   * for: one with a value outside the protocol's types, or with no constraint on what stays put.
   */
  key: string | undefined;
  /** The constraints on what only a full report changes (attributes, power, capacity, applications, id). */
  fixed: (e: ServerEntry) => boolean;
  /** The constraints on the load (`load`, `free`). */
  moving: (e: ServerEntry) => boolean;
  /** Whether there are any. */
  moves: boolean;
}

/** Distinct constraint lists compiled and kept; past this many the oldest is compiled again when next seen. */
export const MAX_REQUIREMENTS = 256;

interface Kept {
  /** A copy of the list compiled. */
  list: readonly Constraint[];
  req: Requirement;
}
/** By a hash of the list: a decision hashes its task's list and compares it with the one kept, building no string. */
const kept = new Map<number, Kept>();

const FNV = 16_777_619;
const bits = new Float64Array(1);
const words = new Uint32Array(bits.buffer);

function hashString(h: number, s: string): number {
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), FNV);
  return Math.imul(h ^ s.length, FNV);
}

function hashValue(h: number, v: unknown): number {
  switch (typeof v) {
    case "string":
      return hashString(Math.imul(h ^ 1, FNV), v);
    case "number":
      bits[0] = v === 0 ? 0 : v; // 0 and -0 are one value to every op
      return Math.imul(Math.imul(h ^ 2 ^ (words[0] as number), FNV) ^ (words[1] as number), FNV);
    case "boolean":
      return Math.imul(h ^ (v ? 3 : 4), FNV);
    default: {
      if (!Array.isArray(v)) return Math.imul(h ^ 5, FNV);
      h = Math.imul(h ^ 6 ^ v.length, FNV);
      for (const x of v as readonly unknown[]) h = hashValue(h, x);
      return h;
    }
  }
}

function hashList(cs: readonly Constraint[]): number {
  let h = 2_166_136_261;
  for (let i = 0; i < cs.length; i++) {
    const c = cs[i] as Constraint;
    h = hashValue(hashString(hashString(h, c.key), c.op), c.value);
  }
  return h & 0x3fff_ffff; // a small integer: a Map keys it without boxing a number
}

/** The same scalar to every op (=== but 0 and -0 alike; NaN never, so a NaN constraint is compiled each time). */
function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sameList(a: readonly Constraint[], b: readonly Constraint[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as Constraint;
    const y = b[i] as Constraint;
    if (x.key !== y.key || x.op !== y.op || !sameValue(x.value, y.value)) return false;
  }
  return true;
}

/** A length-prefixed string: no two lists of them join to the same text. */
const part = (s: string): string => `${s.length}:${s}`;

function valueKey(v: unknown): string | undefined {
  switch (typeof v) {
    case "string":
      return `s${part(v)}`;
    case "number":
      // String(n) tells apart every two numbers an op tells apart (0 and -0 it does not, nor does any op).
      return `n${String(v)};`;
    case "boolean":
      return v ? "t" : "f";
    default: {
      if (!Array.isArray(v)) return undefined;
      let k = `a${v.length};`;
      for (const x of v as readonly unknown[]) {
        if (Array.isArray(x)) return undefined;
        const xk = valueKey(x);
        if (xk === undefined) return undefined;
        k += xk;
      }
      return k;
    }
  }
}

/** A name for the list `cs` (equal lists, equal names), or undefined for a value outside the protocol's types. */
export function requirementKey(cs: readonly Constraint[]): string | undefined {
  let k = "";
  for (const c of cs) {
    const vk = valueKey(c.value);
    if (vk === undefined) return undefined;
    k += part(c.key) + part(c.op) + vk;
  }
  return k;
}

/**
 * `cs` compiled, from a bounded cache: a stream of tasks with the same constraints compiles them
 * once, not per decision (the list is hashed and compared with the one kept, in about half the
 * time compiling took).
 */
export function requirement(cs: readonly Constraint[]): Requirement {
  const h = hashList(cs);
  const hit = kept.get(h);
  if (hit !== undefined && sameList(hit.list, cs)) return hit.req;
  const key = requirementKey(cs);
  const fixedOnes = cs.filter(stays);
  const req: Requirement = {
    all: compileRequire(cs),
    key: fixedOnes.length > 0 ? key : undefined,
    fixed: compileRequire(fixedOnes),
    moving: compileRequire(cs.filter(moves)),
    moves: cs.some(moves),
  };
  if (key !== undefined) {
    if (hit === undefined && kept.size >= MAX_REQUIREMENTS) kept.delete(kept.keys().next().value as number);
    kept.set(h, { list: cs.map((c) => ({ key: c.key, op: c.op, value: Array.isArray(c.value) ? [...(c.value as readonly AttrValue[])] : c.value }) as Constraint), req });
  }
  return req;
}

/**
 * What a sampling policy may judge of a drawn place before it reads the entry there: the table's
 * verdicts on the task's fixed constraints, and the reservations (from the index's rows). A
 * held entry is alive with a free slot, so with no constraint on the load and no server to
 * avoid that is all eligibility asks; otherwise `rest` asks the rest of the entry.
 */
export interface Screen {
  /** By seat: UNJUDGED, PASSES or FAILS `fixed` (`ServerTable.seatVerdicts`). */
  verdicts: Int8Array;
  fixed: (e: ServerEntry) => boolean;
  /** Reservations not yet acknowledged at which a server takes no more (`allocate`'s `maxUnconfirmed`). */
  maxUnconfirmed: number;
  /** What else eligibility asks of a held entry (constraints on the load, servers to avoid); undefined for nothing. */
  rest: ((e: ServerEntry) => boolean) | undefined;
}

/** The screen of a decision, or undefined when its constraints have none (`Requirement.key`) or the table keeps no more verdict sets. */
export function screenFor(table: ServerTable, req: Requirement, maxUnconfirmed: number, rest: ((e: ServerEntry) => boolean) | undefined): Screen | undefined {
  if (req.key === undefined) return undefined;
  const verdicts = table.seatVerdicts(req.key);
  if (verdicts === undefined) return undefined;
  if (rest !== undefined) return { verdicts, fixed: req.fixed, maxUnconfirmed, rest };
  // The last decision's screen while the next one's would be the same: a stream of like tasks makes it once.
  const last = lastScreen;
  if (last !== undefined && last.verdicts === verdicts && last.fixed === req.fixed && last.maxUnconfirmed === maxUnconfirmed) return last;
  return (lastScreen = { verdicts, fixed: req.fixed, maxUnconfirmed, rest: undefined });
}

let lastScreen: Screen | undefined;

/**
 * Whether the entry at place `h` of `index` is eligible by `screen`: its seat's kept verdict
 * on the fixed constraints (judged from the entry, and kept, when there is none), then its
 * reservations from the index's rows, then `rest`. The entry is read only to judge a verdict not
 * kept yet or for `rest`.
 */
export function passes(index: FreeIndex<ServerEntry>, h: number, screen: Screen): boolean {
  const seat = index.seatAt(h);
  const v = screen.verdicts[seat];
  if (v === FAILS) return false;
  if (v !== PASSES) {
    const ok = screen.fixed(index.at(h));
    screen.verdicts[seat] = ok ? PASSES : FAILS; // past the array's end (a seat newer than it): not kept
    if (!ok) return false;
  }
  if (index.reservedAt(h) >= screen.maxUnconfirmed) return false;
  return screen.rest === undefined || screen.rest(index.at(h));
}
