import type { AttrValue, Attrs, Constraint, Preference } from "../protocol/index.js";
import { freeSlots } from "../state/index.js";
import type { ServerEntry } from "../state/index.js";

// The constraint language lives in its own module; these names stay importable from here.
export { formatConstraint, parseConstraint, parseValue } from "../protocol/index.js";

/** What a constraint compares against: one value, or a server's list of applications (`app`). */
export type ServerValue = AttrValue | readonly string[];

/**
 * A server's value for a constraint key: built-in fields first (`id`, `app` — the list of
 * applications it offers, `power`, `capacity`, `load`, `free`), then its free-form attributes.
 */
export function valueOf(e: ServerEntry, key: string): ServerValue | undefined {
  switch (key) {
    case "id":
      return e.id;
    case "app":
      return e.apps;
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

/**
 * Whether a value meets one constraint. `=`, `!=` and `in` compare as strings, the ordering ops
 * as numbers; a missing value meets only `!=`. A list of values (a server's applications) meets
 * a constraint when one of them does, and `!=` when none is equal.
 */
export function meets(v: ServerValue | undefined, c: Constraint): boolean {
  if (v === undefined) return c.op === "!=";
  if (typeof v === "object") {
    if (c.op === "!=") {
      for (const x of v) if (!meets(x, c)) return false;
      return true;
    }
    for (const x of v) if (meets(x, c)) return true;
    return false;
  }
  const want = c.value;
  if (c.op === "in") {
    const s = String(v);
    if (!Array.isArray(want)) return String(want) === s;
    for (const w of want) if (String(w) === s) return true;
    return false;
  }
  if (Array.isArray(want)) return false; // a list belongs to `in` only
  switch (c.op) {
    case "=":
      return String(v) === String(want);
    case "!=":
      return String(v) !== String(want);
    default: {
      const a = typeof v === "number" ? v : Number(v);
      const b = typeof want === "number" ? want : Number(want);
      if (Number.isNaN(a) || Number.isNaN(b)) return false;
      return c.op === ">=" ? a >= b : c.op === "<=" ? a <= b : c.op === ">" ? a > b : a < b;
    }
  }
}

export function meetsAll(e: ServerEntry, cs: readonly Constraint[]): boolean {
  for (const c of cs) if (!meets(valueOf(e, c.key), c)) return false;
  return true;
}

/**
 * Soft score: one point per client attribute or user preference the server's attributes share
 * (same key, same value and type), plus the weight of each of the task's weighted preferences
 * (`prefer`) the server meets, judged as a hard constraint would be.
 */
export function preferenceScore(e: ServerEntry, clientAttrs: Attrs, prefs: Attrs, prefer?: readonly Preference[]): number {
  let score = 0;
  for (const k in clientAttrs) if (Object.hasOwn(e.attrs, k) && e.attrs[k] === clientAttrs[k]) score++;
  for (const k in prefs) if (Object.hasOwn(e.attrs, k) && e.attrs[k] === prefs[k]) score++;
  if (prefer !== undefined) for (const p of prefer) if (meets(valueOf(e, p.key), p)) score += p.weight;
  return score;
}
