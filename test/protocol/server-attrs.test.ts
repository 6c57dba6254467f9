import { describe, expect, it } from "vitest";
import { BUILTIN_FIELDS, REPORT_FIELDS, applyServerAttrs, serverAttrsProblem } from "../../src/protocol/index.js";

const figures = { power: 1, capacity: 4, attrs: { region: "eu", gpu: true } };

describe("protocol/server-attrs", () => {
  describe("serverAttrsProblem", () => {
    it("accepts free attributes, a positive power and a whole capacity of at least 1", () => {
      expect(serverAttrsProblem({ region: "us", power: 0.5, capacity: 1 })).toBeUndefined();
      expect(serverAttrsProblem({}, ["region", "gpu"])).toBeUndefined();
    });

    it.each<[string, Record<string, string | number | boolean>]>([
      ["power 0", { power: 0 }],
      ["a negative power", { power: -2 }],
      ["an infinite power", { power: Infinity }],
      ["a string power", { power: "8" }],
      ["capacity 0", { capacity: 0 }],
      ["a fractional capacity", { capacity: 1.5 }],
      ["a boolean capacity", { capacity: true }],
    ])("refuses %s, naming the field", (_what, attrs) => {
      const key = Object.keys(attrs)[0];
      expect(serverAttrsProblem(attrs)).toEqual({ key, reason: expect.stringContaining(`the server's ${key}: expected`) });
    });

    it("refuses every other built-in name and report field, to set or to remove", () => {
      for (const key of [...BUILTIN_FIELDS.filter((k) => k !== "power" && k !== "capacity"), ...REPORT_FIELDS]) {
        expect(serverAttrsProblem({ [key]: "x" })?.key).toBe(key);
        expect(serverAttrsProblem({}, [key])?.reason).toMatch(/not an attribute; it cannot be removed/);
      }
    });

    it("refuses removing power or capacity: they can only be set", () => {
      expect(serverAttrsProblem({}, ["capacity"])).toEqual({ key: "capacity", reason: "the server's capacity is built in: it cannot be removed, only set" });
    });
  });

  describe("applyServerAttrs", () => {
    it("takes power and capacity as the server's own figures and merges the rest into its attributes", () => {
      expect(applyServerAttrs(figures, { power: 8, capacity: 16, region: "us" })).toEqual({ power: 8, capacity: 16, attrs: { region: "us", gpu: true } });
    });

    it("removes unset keys and leaves the figures", () => {
      expect(applyServerAttrs(figures, {}, ["gpu", "absent"])).toEqual({ power: 1, capacity: 4, attrs: { region: "eu" } });
      expect(figures.attrs).toEqual({ region: "eu", gpu: true });
    });

    it("throws a RangeError for a change serverAttrsProblem refuses", () => {
      expect(() => applyServerAttrs(figures, { load: 3 })).toThrow(RangeError);
    });
  });
});
