import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  compileConstraint,
  compilePreferenceScore,
  compileRequire,
  formatConstraint,
  meets,
  meetsAll,
  parseConstraint,
  parseValue,
  preferenceScore,
  valueOf,
} from "../../src/policies/index.js";
import type { AttrValue, Attrs, Constraint, Preference, ServerReport } from "../../src/protocol/index.js";
import { ServerTable, newOutlierState } from "../../src/state/index.js";
import type { ServerEntry } from "../../src/state/index.js";

function server(over: Partial<ServerReport> = {}, reserved = 0): ServerEntry {
  const t = new ServerTable();
  const r: ServerReport = { id: "s1", url: "ws://h:1", apps: ["echo"], capacity: 8, power: 4, load: 3, attrs: { region: "eu", gpu: true, cores: 16 }, version: [1, 1], ...over };
  t.apply(r, 0);
  const e = t.get(r.id);
  if (!e) throw new Error("not applied");
  for (let i = 0; i < reserved; i++) t.reserve(e);
  return e;
}

const c = (key: string, op: Constraint["op"], value: Constraint["value"]): Constraint => ({ key, op, value });

describe("policies/match", () => {
  describe("parseConstraint", () => {
    it.each<[string, Constraint]>([
      ["region=eu", c("region", "=", "eu")],
      ["region!=us", c("region", "!=", "us")],
      ["power>=2", c("power", ">=", 2)],
      ["load<=3", c("load", "<=", 3)],
      ["free>0", c("free", ">", 0)],
      ["power<1.5", c("power", "<", 1.5)],
      ["temp>=-4", c("temp", ">=", -4)],
      ["gpu=true", c("gpu", "=", true)],
      ["gpu!=false", c("gpu", "!=", false)],
      ["cores=16", c("cores", "=", 16)],
      ["zone=eu-west-1", c("zone", "=", "eu-west-1")],
      ["node.label_x=a b", c("node.label_x", "=", "a b")],
      ["  power >= 2  ", c("power", ">=", 2)],
      ["_k=v", c("_k", "=", "v")],
      ["region in (eu,us)", c("region", "in", ["eu", "us"])],
      ["cores in ( 8, 16 )", c("cores", "in", [8, 16])],
      ["app=render", c("app", "=", "render")],
    ])("parses %j", (input, want) => {
      expect(parseConstraint(input)).toEqual(want);
    });

    it("types numbers and booleans but keeps other values as strings", () => {
      expect(typeof parseConstraint("a=1").value).toBe("number");
      expect(typeof parseConstraint("a=true").value).toBe("boolean");
      expect(typeof parseConstraint("a=True").value).toBe("string");
      expect(typeof parseConstraint("a=1e3").value).toBe("string");
      expect(typeof parseConstraint("a=0x10").value).toBe("string");
    });

    it.each(["", "region", "=eu", "region=", "region=   ", "1region=eu", "re gion=eu", ">=2", "power>=", "power~2"])(
      "throws a SyntaxError naming the input for %j",
      (input) => {
        expect(() => parseConstraint(input)).toThrow(SyntaxError);
        expect(() => parseConstraint(input)).toThrow(JSON.stringify(input));
      },
    );

    it.each(["power>=high", "load<=true", "free>abc", "power<1e3"])("throws a SyntaxError when an ordering op gets no number: %j", (input) => {
      expect(() => parseConstraint(input)).toThrow(SyntaxError);
      expect(() => parseConstraint(input)).toThrow(/needs a number/);
      expect(() => parseConstraint(input)).toThrow(JSON.stringify(input));
    });

    it("round-trips through formatConstraint", () => {
      for (const s of ["region=eu", "power>=2", "gpu!=false", "load<3", "region in (eu,us)", "cores in (8,16,true)"]) expect(formatConstraint(parseConstraint(s))).toBe(s);
    });

    it("says where it failed", () => {
      expect(() => parseConstraint("region in (eu,")).toThrow('cannot parse "region in (eu,": expected a value or ")" at 14');
    });
  });

  describe("parseValue", () => {
    it("turns decimals into numbers and true/false into booleans", () => {
      expect(parseValue("4")).toBe(4);
      expect(parseValue("-2.5")).toBe(-2.5);
      expect(parseValue("true")).toBe(true);
      expect(parseValue("false")).toBe(false);
      expect(parseValue("eu")).toBe("eu");
      expect(parseValue("")).toBe("");
    });
  });

  describe("valueOf", () => {
    it("reads the built-in fields", () => {
      const e = server({ id: "srv", power: 4, capacity: 8, load: 3 }, 2);
      expect(valueOf(e, "id")).toBe("srv");
      expect(valueOf(e, "power")).toBe(4);
      expect(valueOf(e, "capacity")).toBe(8);
      expect(valueOf(e, "load")).toBe(3);
      expect(valueOf(e, "free")).toBe(3);
    });

    it("reads free-form attributes", () => {
      const e = server();
      expect(valueOf(e, "region")).toBe("eu");
      expect(valueOf(e, "gpu")).toBe(true);
      expect(valueOf(e, "cores")).toBe(16);
    });

    it("prefers a built-in field over an attribute of the same name", () => {
      expect(valueOf(server({ power: 4, attrs: { power: 100 } }), "power")).toBe(4);
      expect(valueOf(server({ apps: ["echo"], attrs: { app: "other" } }), "app")).toEqual(["echo"]);
    });

    it("reads app as the list of applications the server offers", () => {
      expect(valueOf(server({ apps: ["echo", "render"] }), "app")).toEqual(["echo", "render"]);
    });

    it("is undefined for a missing attribute, including inherited names", () => {
      const e = server();
      for (const k of ["zone", "toString", "constructor", "hasOwnProperty", "__proto__"]) expect(valueOf(e, k)).toBeUndefined();
    });
  });

  describe("meets", () => {
    it("compares = and != as strings", () => {
      expect(meets("eu", c("region", "=", "eu"))).toBe(true);
      expect(meets("us", c("region", "=", "eu"))).toBe(false);
      expect(meets(4, c("power", "=", 4))).toBe(true);
      expect(meets(true, c("gpu", "=", true))).toBe(true);
      expect(meets(false, c("gpu", "=", true))).toBe(false);
      expect(meets("us", c("region", "!=", "eu"))).toBe(true);
      expect(meets("eu", c("region", "!=", "eu"))).toBe(false);
    });

    it("compares the ordering ops as numbers", () => {
      expect(meets(4, c("power", ">=", 4))).toBe(true);
      expect(meets(3, c("power", ">=", 4))).toBe(false);
      expect(meets(4, c("power", "<=", 4))).toBe(true);
      expect(meets(5, c("power", "<=", 4))).toBe(false);
      expect(meets(5, c("power", ">", 4))).toBe(true);
      expect(meets(4, c("power", ">", 4))).toBe(false);
      expect(meets(3, c("power", "<", 4))).toBe(true);
      expect(meets(4, c("power", "<", 4))).toBe(false);
      expect(meets("10", c("cores", ">", 9))).toBe(true);
    });

    it("fails an ordering op on a value that is not a number", () => {
      expect(meets("eu", c("region", ">=", 1))).toBe(false);
      expect(meets("eu", c("region", "<", 1))).toBe(false);
      expect(meets(3, c("power", ">=", "lots"))).toBe(false);
    });

    it("lets a missing value meet only !=", () => {
      expect(meets(undefined, c("zone", "!=", "a"))).toBe(true);
      for (const op of ["=", ">=", "<=", ">", "<"] as const) expect(meets(undefined, c("zone", op, 1))).toBe(false);
      expect(meets(undefined, c("zone", "in", ["a", "b"]))).toBe(false);
    });

    it("meets in when the value is one of the list, compared as strings", () => {
      expect(meets("eu", c("region", "in", ["eu", "us"]))).toBe(true);
      expect(meets("us", c("region", "in", ["eu", "us"]))).toBe(true);
      expect(meets("ap", c("region", "in", ["eu", "us"]))).toBe(false);
      expect(meets(16, c("cores", "in", [8, 16]))).toBe(true);
      expect(meets("16", c("cores", "in", [8, 16]))).toBe(true);
      expect(meets(true, c("gpu", "in", [true]))).toBe(true);
      expect(meets(false, c("gpu", "in", [true]))).toBe(false);
      expect(meets("eu", c("region", "in", "eu"))).toBe(true); // a single value, as a list of one
    });

    it("meets no op but in with a list value", () => {
      for (const op of ["=", "!=", ">=", "<=", ">", "<"] as const) expect(meets(1, c("k", op, [1]))).toBe(false);
    });

    it("matches a list of applications when one of them meets it, != when none is equal", () => {
      const apps = ["echo", "render"];
      expect(meets(apps, c("app", "=", "render"))).toBe(true);
      expect(meets(apps, c("app", "=", "hash"))).toBe(false);
      expect(meets(apps, c("app", "in", ["hash", "echo"]))).toBe(true);
      expect(meets(apps, c("app", "in", ["hash"]))).toBe(false);
      expect(meets(apps, c("app", "!=", "hash"))).toBe(true);
      expect(meets(apps, c("app", "!=", "render"))).toBe(false);
      expect(meets(apps, c("app", ">", 1))).toBe(false);
    });
  });

  describe("meetsAll", () => {
    it("needs every constraint met, and is met by no constraints", () => {
      const e = server({ power: 4, attrs: { region: "eu" } });
      expect(meetsAll(e, [])).toBe(true);
      expect(meetsAll(e, [c("power", ">=", 2), c("region", "=", "eu")])).toBe(true);
      expect(meetsAll(e, [c("power", ">=", 2), c("region", "=", "us")])).toBe(false);
      expect(meetsAll(e, [c("zone", "!=", "x"), c("free", ">", 0)])).toBe(true);
      expect(meetsAll(e, [c("region", "in", ["us", "eu"]), c("app", "=", "echo")])).toBe(true);
      expect(meetsAll(e, [c("region", "in", ["us", "ap"])])).toBe(false);
      expect(meetsAll(e, [c("app", "=", "render")])).toBe(false);
    });
  });

  describe("compileRequire", () => {
    // Values whose string and number forms disagree: a number's string form is canonical ("2",
    // never "2.0" or " 2"), "" and " " are the number 0, "NaN" is NaN's string form, true is "true".
    const TRICKY = ["1", "2", "2.0", "02", " 2", "", " ", "0", "-0", "NaN", "Infinity", "-Infinity", "1e3", "1000", "0x10", "16", "true", "false", "True", "eu", "us", "echo", "render"];
    const KEYS = ["id", "app", "power", "capacity", "load", "free", "region", "gpu", "cores", "zone", "toString", "constructor"];
    const OPS = ["=", "!=", ">=", "<=", ">", "<", "in"] as const;
    const str = fc.oneof(fc.constantFrom(...TRICKY), fc.string({ maxLength: 4 }));
    const num = fc.oneof(fc.integer({ min: -3, max: 20 }), fc.constantFrom(0, -0, 2, 2.5, 1000, 16, 0.1 + 0.2, 1e21, 1e-7, NaN, Infinity, -Infinity), fc.double());
    const scalar: fc.Arbitrary<AttrValue> = fc.oneof(str, num, fc.boolean());
    // Lists: empty, short (scanned) and longer than the scan limit (looked up in a Set).
    const list = fc.oneof(fc.array(scalar, { maxLength: 4 }), fc.array(scalar, { minLength: 9, maxLength: 20 }));
    const constraint: fc.Arbitrary<Constraint> = fc.record({ key: fc.constantFrom(...KEYS), op: fc.constantFrom(...OPS), value: fc.oneof(scalar, scalar, list) });
    const entry: fc.Arbitrary<ServerEntry> = fc
      .record({
        id: str,
        apps: fc.array(str, { maxLength: 4 }),
        capacity: num,
        power: num,
        load: num,
        reserved: fc.integer({ min: 0, max: 4 }),
        attrs: fc.dictionary(fc.constantFrom(...KEYS), scalar, { maxKeys: 6 }),
      })
      .map((r) => ({ ...r, url: "ws://h:1", version: [1, 1] as [number, number], periodMs: 0, failures: 0, limit: r.capacity, outlier: newOutlierState(), rampFrom: 0, status: "alive" as const, updatedAt: 0, seat: 0, idleSince: 0 }));

    it("judges every entry as meetsAll does (fast-check)", () => {
      fc.assert(
        fc.property(fc.array(constraint, { maxLength: 4 }), fc.array(entry, { minLength: 1, maxLength: 8 }), (cs, es) => {
          const compiled = compileRequire(cs);
          for (const e of es) expect(compiled(e)).toBe(meetsAll(e, cs));
        }),
        { numRuns: 2000 },
      );
    });

    it("judges one constraint as meets(valueOf) does, for values the generators may miss (fast-check)", () => {
      // Server values and wanted values drawn from one small pool, so they collide often.
      const pool = fc.constantFrom<AttrValue>(...TRICKY, 1, 2, 16, 1000, 0, -0, NaN, Infinity, true, false);
      fc.assert(
        fc.property(fc.constantFrom(...OPS), fc.oneof(pool, fc.array(pool, { maxLength: 3 })), fc.option(pool, { nil: undefined }), fc.array(pool, { maxLength: 3 }), (op, value, v, apps) => {
          const cs = [c("k", op, value), c("app", op, value)];
          const e = { ...server({ apps: apps as string[], attrs: v === undefined ? {} : { k: v } }) };
          for (const x of cs) expect(compileConstraint(x)(e)).toBe(meets(valueOf(e, x.key), x));
        }),
        { numRuns: 3000 },
      );
    });

    it("is always true with no constraints", () => {
      expect(compileRequire([])(server())).toBe(true);
      expect(compileRequire([])(server({ attrs: {} }))).toBe(true);
    });

    it("keeps the string semantics of =, != and in for numbers, booleans and numeric strings", () => {
      const e = server({ power: 2, attrs: { cores: 16, v: "2.0", gpu: true, t: "true", nan: "NaN", z: -0, blank: "" } });
      const yes = (x: Constraint): void => expect([compileRequire([x])(e), meetsAll(e, [x])]).toEqual([true, true]);
      const no = (x: Constraint): void => expect([compileRequire([x])(e), meetsAll(e, [x])]).toEqual([false, false]);
      yes(c("power", "=", "2"));
      no(c("power", "=", "2.0"));
      no(c("v", "=", 2));
      yes(c("v", "=", "2.0"));
      yes(c("cores", "in", ["8", "16"]));
      no(c("cores", "in", ["16.0", " 16", "0x10"]));
      yes(c("gpu", "=", "true"));
      yes(c("t", "=", true));
      yes(c("gpu", "!=", "True"));
      yes(c("nan", "=", NaN));
      yes(c("z", "=", 0));
      no(c("z", "=", "-0"));
      no(c("blank", "=", 0));
      yes(c("blank", "<=", 0)); // "" is the number 0 to an ordering op
      no(c("cores", "in", []));
    });

    it("never meets an ordering op against a value that is not a number, on either side", () => {
      const e = server({ power: 4, attrs: { nan: "NaN", region: "eu" } });
      for (const op of [">=", "<=", ">", "<"] as const) {
        expect(compileRequire([c("power", op, NaN)])(e)).toBe(false);
        expect(compileRequire([c("power", op, "NaN")])(e)).toBe(false);
        expect(compileRequire([c("power", op, "lots")])(e)).toBe(false);
        expect(compileRequire([c("nan", op, 1)])(e)).toBe(false);
        expect(compileRequire([c("region", op, 1)])(e)).toBe(false);
      }
    });

    it("matches a list of applications when one meets it, != when none is equal, and an empty list only !=", () => {
      const e = server({ apps: ["echo", "render"] });
      expect(compileRequire([c("app", "=", "render")])(e)).toBe(true);
      expect(compileRequire([c("app", "!=", "render")])(e)).toBe(false);
      expect(compileRequire([c("app", "!=", "hash")])(e)).toBe(true);
      const none = server({ apps: [] });
      expect(compileRequire([c("app", "in", ["echo"])])(none)).toBe(false);
      expect(compileRequire([c("app", "!=", "echo")])(none)).toBe(true);
      expect(compileRequire([c("app", "!=", ["echo"])])(none)).toBe(meetsAll(none, [c("app", "!=", ["echo"])]));
    });

    it("reads the constraints when compiled", () => {
      const cs = [c("region", "=", "eu")];
      const compiled = compileRequire(cs);
      cs[0] = c("region", "=", "us");
      expect(compiled(server({ attrs: { region: "eu" } }))).toBe(true);
    });
  });

  describe("compilePreferenceScore", () => {
    const KEYS = ["region", "gpu", "cores", "zone", "power", "toString"];
    const value = fc.oneof(fc.constantFrom<AttrValue>("eu", "us", "16", "true", "", 16, 0, true, false), fc.double({ noNaN: true }));
    const attrs: fc.Arbitrary<Attrs> = fc.dictionary(fc.constantFrom(...KEYS), value, { maxKeys: 4 });
    const preference: fc.Arbitrary<Preference> = fc.record({
      key: fc.constantFrom(...KEYS, "app", "free", "load"),
      op: fc.constantFrom("=", "!=", ">=", "<=", ">", "<", "in" as const),
      value: fc.oneof(value, fc.array(value, { maxLength: 3 })),
      weight: fc.oneof(fc.constantFrom(0, 0.1, 0.2, 0.5, 1, 3), fc.double({ min: 0, max: 1e6, noNaN: true })),
    });

    it("scores every entry as preferenceScore does, to the last bit (fast-check)", () => {
      fc.assert(
        fc.property(attrs, attrs, fc.option(fc.array(preference, { maxLength: 4 }), { nil: undefined }), fc.array(attrs, { minLength: 1, maxLength: 6 }), (client, prefs, prefer, servers) => {
          const score = compilePreferenceScore(client, prefs, prefer);
          for (const a of servers) {
            const e = server({ apps: ["echo", "render"], attrs: a });
            expect(Object.is(score(e), preferenceScore(e, client, prefs, prefer))).toBe(true);
          }
        }),
        { numRuns: 1000 },
      );
    });

    it("is 0 with no soft preferences", () => {
      expect(compilePreferenceScore({}, {})(server())).toBe(0);
      expect(compilePreferenceScore({}, {}, [])(server())).toBe(0);
    });
  });

  describe("preferenceScore", () => {
    it("scores one point per client attribute and per preference the server shares", () => {
      const e = server({ attrs: { region: "eu", gpu: true, tier: "gold" } });
      expect(preferenceScore(e, {}, {})).toBe(0);
      expect(preferenceScore(e, { region: "eu" }, {})).toBe(1);
      expect(preferenceScore(e, { region: "eu" }, { gpu: true })).toBe(2);
      expect(preferenceScore(e, { region: "eu", tier: "gold" }, { region: "eu" })).toBe(3);
    });

    it("gives no point for a different value, a different type or a missing attribute", () => {
      const e = server({ attrs: { region: "eu", cores: 16, gpu: true } });
      expect(preferenceScore(e, { region: "us" }, { zone: "a" })).toBe(0);
      expect(preferenceScore(e, { cores: "16" }, { gpu: "true" })).toBe(0);
    });

    it("ignores built-in fields and inherited names", () => {
      const e = server({ power: 4, attrs: {} });
      expect(preferenceScore(e, { power: 4 }, { toString: "x" })).toBe(0);
    });

    it("adds the weight of each weighted preference the server meets, built-in fields included", () => {
      const e = server({ power: 4, apps: ["echo", "render"], attrs: { region: "eu", gpu: true } });
      const p = (key: string, op: Constraint["op"], value: Constraint["value"], weight: number): Preference => ({ key, op, value, weight });
      expect(preferenceScore(e, {}, {}, [])).toBe(0);
      expect(preferenceScore(e, {}, {}, [p("region", "=", "eu", 2)])).toBe(2);
      expect(preferenceScore(e, {}, {}, [p("region", "in", ["us", "eu"], 0.5), p("power", ">=", 4, 3), p("app", "=", "render", 1)])).toBe(4.5);
      expect(preferenceScore(e, {}, {}, [p("region", "=", "us", 5), p("zone", "=", "a", 5), p("power", ">", 4, 5)])).toBe(0);
      expect(preferenceScore(e, {}, {}, [p("zone", "!=", "a", 1.5)])).toBe(1.5); // missing meets !=, as for a hard constraint
      // On top of one point per client attribute and stored preference.
      expect(preferenceScore(e, { region: "eu" }, { gpu: true }, [p("gpu", "=", true, 2)])).toBe(4);
    });
  });
});
