import { describe, expect, it } from "vitest";
import { formatConstraint, meets, meetsAll, parseConstraint, parseValue, preferenceScore, valueOf } from "../../src/policies/index.js";
import type { Constraint, ServerReport } from "../../src/protocol/index.js";
import { ServerTable } from "../../src/state/index.js";
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
      for (const s of ["region=eu", "power>=2", "gpu!=false", "load<3"]) expect(formatConstraint(parseConstraint(s))).toBe(s);
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
    });
  });

  describe("meetsAll", () => {
    it("needs every constraint met, and is met by no constraints", () => {
      const e = server({ power: 4, attrs: { region: "eu" } });
      expect(meetsAll(e, [])).toBe(true);
      expect(meetsAll(e, [c("power", ">=", 2), c("region", "=", "eu")])).toBe(true);
      expect(meetsAll(e, [c("power", ">=", 2), c("region", "=", "us")])).toBe(false);
      expect(meetsAll(e, [c("zone", "!=", "x"), c("free", ">", 0)])).toBe(true);
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
  });
});
