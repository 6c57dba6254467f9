import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { copyPlainData } from "../../src/protocol/index.js";

/** Plain data as a handler may return it: what msgpack carries and checkPlainData admits. */
const plain = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: "small" }, fc.constant(null), fc.boolean(), fc.double({ noNaN: true }), fc.string(), fc.uint8Array({ maxLength: 8 }), fc.array(tie("value"), { maxLength: 4 }), fc.dictionary(fc.string().filter((k) => k !== "__proto__"), tie("value"), { maxKeys: 4 })),
})).value;

describe("protocol/copyPlainData", () => {
  it("returns an equal copy of any plain data, sharing no object with it", () => {
    fc.assert(
      fc.property(plain, (x) => {
        const c = copyPlainData(x);
        expect(c).toEqual(x);
        if (typeof x === "object" && x !== null) expect(c).not.toBe(x);
      }),
    );
  });

  it("reads each property once, so what a getter said first is what is kept", () => {
    let reads = 0;
    const o = {
      get v(): unknown {
        return reads++ === 0 ? 1 : 2n;
      },
    };
    expect(copyPlainData(o)).toEqual({ v: 1 });
    expect(reads).toBe(1);
  });

  it.each([
    ["a function", { f: () => 1 }],
    ["a BigInt", { n: 1n }],
    ["a class instance", { d: new Date(0) }],
    ["a Map", new Map()],
    ["NaN", [Number.NaN]],
    ["a symbol", { s: Symbol("x") }],
  ])("refuses %s", (_what, x) => {
    expect(() => copyPlainData(x)).toThrow(/expected/);
  });

  it("refuses a cycle by its depth, and passes on a getter's throw", () => {
    const a: Record<string, unknown> = {};
    a.self = a;
    expect(() => copyPlainData(a)).toThrow(/nested at most 32 deep/);
    const g = {
      get x(): never {
        throw new Error("boom");
      },
    };
    expect(() => copyPlainData(g)).toThrow("boom");
  });

  it("leaves out undefined properties and turns a bare undefined into null", () => {
    expect(copyPlainData({ a: undefined, b: 1 })).toEqual({ b: 1 });
    expect(copyPlainData(undefined)).toBeNull();
  });
});
