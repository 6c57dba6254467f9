import type { AttrValue, Attrs, Constraint } from "../protocol/index.js";
import { freeSlots } from "../state/index.js";
import type { ServerEntry } from "../state/index.js";

/** A server's value for a constraint key: built-in fields first, then its free-form attributes. */
export function valueOf(e: ServerEntry, key: string): AttrValue | undefined {
  switch (key) {
    case "id":
      return e.id;
    case "power":
      return e.power;
    case "capacity":
      return e.capacity;
    case "load":
      return e.load;
    case "free":
      return freeSlots(e);
    default:
      return Object.hasOwn(e.attrs, key) ? e.attrs[key] : undefined;
  }
}

/** Whether a value meets one hard constraint; a missing value meets only `!=`. */
export function meets(v: AttrValue | undefined, c: Constraint): boolean {
  if (v === undefined) return c.op === "!=";
  switch (c.op) {
    case "=":
      return String(v) === String(c.value);
    case "!=":
      return String(v) !== String(c.value);
    default: {
      const a = typeof v === "number" ? v : Number(v);
      const b = typeof c.value === "number" ? c.value : Number(c.value);
      if (Number.isNaN(a) || Number.isNaN(b)) return false;
      return c.op === ">=" ? a >= b : c.op === "<=" ? a <= b : c.op === ">" ? a > b : a < b;
    }
  }
}

export function meetsAll(e: ServerEntry, cs: readonly Constraint[]): boolean {
  for (const c of cs) if (!meets(valueOf(e, c.key), c)) return false;
  return true;
}

/** Soft score: one point per client attribute or user preference the server's attributes share. */
export function preferenceScore(e: ServerEntry, clientAttrs: Attrs, prefs: Attrs): number {
  let score = 0;
  for (const k in clientAttrs) if (Object.hasOwn(e.attrs, k) && e.attrs[k] === clientAttrs[k]) score++;
  for (const k in prefs) if (Object.hasOwn(e.attrs, k) && e.attrs[k] === prefs[k]) score++;
  return score;
}

export function formatConstraint(c: Constraint): string {
  return `${c.key}${c.op}${String(c.value)}`;
}

const CONSTRAINT_RE = /^([A-Za-z_][\w.-]*)\s*(>=|<=|!=|=|>|<)\s*(.+)$/;

/** Parses `key=value`, `key!=value`, `key>=N`, `key<=N`, `key>N`, `key<N`; numbers and true/false are typed. */
export function parseConstraint(s: string): Constraint {
  const m = CONSTRAINT_RE.exec(s.trim());
  if (!m || m[1] === undefined || m[2] === undefined || m[3] === undefined) {
    throw new SyntaxError(`cannot parse constraint ${JSON.stringify(s)}: expected KEY=VALUE, KEY!=VALUE, KEY>=N or KEY<=N`);
  }
  const op = m[2] as Constraint["op"];
  const value = parseValue(m[3].trim());
  if ((op === ">=" || op === "<=" || op === ">" || op === "<") && typeof value !== "number") {
    throw new SyntaxError(`cannot parse constraint ${JSON.stringify(s)}: ${op} needs a number, got ${JSON.stringify(m[3])}`);
  }
  return { key: m[1], op, value };
}

/** "4" → 4, "true" → true, anything else stays a string. */
export function parseValue(s: string): AttrValue {
  if (s === "true") return true;
  if (s === "false") return false;
  if (/^-?\d+(\.\d+)?$/.test(s)) return Number(s);
  return s;
}
