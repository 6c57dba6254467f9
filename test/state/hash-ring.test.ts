import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { HashRing, hash32 } from "../../src/state/index.js";

const firstOf = (r: HashRing<{ id: string }>, key: string): string | undefined => {
  let first: string | undefined;
  r.walk(hash32(key), (e) => ((first = e.id), false));
  return first;
};

describe("state/hash-ring", () => {
  it("puts every key in the same place whether the ring was built at once or member by member, and a removal undoes an add (property)", () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.string({ minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 12 }), fc.array(fc.string(), { minLength: 1, maxLength: 20 }), fc.string({ minLength: 9, maxLength: 9 }), (ids, keys, extra) => {
        const members = ids.map((id) => ({ id }));
        const built = HashRing.of(members);
        const grown = new HashRing<{ id: string }>();
        for (const m of members) grown.add(m);
        expect(built.size).toBe(ids.length);
        for (const k of keys) expect(firstOf(grown, k)).toBe(firstOf(built, k));
        const x = { id: extra };
        grown.add(x);
        grown.remove(x);
        for (const k of keys) expect(firstOf(grown, k)).toBe(firstOf(built, k));
      }),
      { numRuns: 300 },
    );
  });

  it("walks every member once, clockwise from the key", () => {
    const members = Array.from({ length: 20 }, (_, i) => ({ id: `m${i}` }));
    const seen: string[] = [];
    HashRing.of(members).walk(hash32("k"), (e) => (seen.push(e.id), true));
    expect(seen.sort()).toEqual(members.map((m) => m.id).sort());
    let n = 0;
    new HashRing<{ id: string }>().walk(1, () => (n++, true));
    expect(n).toBe(0);
  });
});
