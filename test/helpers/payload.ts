import fc from "fast-check";

/** msgpack has no -0: it arrives as 0. */
export const noNegZero = (x: number): number => (Object.is(x, -0) ? 0 : x);

/** Plain data as a payload can be: a JSON value without -0 and without "__proto__" keys (msgpackr renames those). */
export function plain(v: unknown): unknown {
  if (typeof v === "number") return noNegZero(v);
  if (Array.isArray(v)) return v.map(plain);
  if (v !== null && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (k !== "__proto__" && x !== undefined) out[k] = plain(x);
    return out;
  }
  return v;
}

/** Any payload that survives the wire unchanged. */
export const plainPayload: fc.Arbitrary<unknown> = fc.jsonValue({ maxDepth: 4 }).map(plain);
