import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ConstraintSyntaxError, Tokenizer, formatConstraint, formatNumber, formatPreference, parseConstraint, parsePreference, parseValue } from "../../src/protocol/index.js";
import { CONSTRAINT_OPS } from "../../src/protocol/index.js";
import type { AttrValue, Constraint, ConstraintOp, Preference } from "../../src/protocol/index.js";

const c = (key: string, op: ConstraintOp, value: Constraint["value"]): Constraint => ({ key, op, value });

/** The ConstraintSyntaxError `f` throws. */
function syntaxError(f: () => unknown): ConstraintSyntaxError {
  try {
    f();
  } catch (err) {
    if (err instanceof ConstraintSyntaxError) return err;
    throw new Error(`expected a ConstraintSyntaxError, got ${String(err)}`, { cause: err });
  }
  throw new Error("expected a ConstraintSyntaxError, got a result");
}

// ---- arbitraries ------------------------------------------------------------------------------

const name = fc.stringMatching(/^[A-Za-z_][\w.-]{0,8}$/);
/** Any key the protocol allows: names, and anything else (written quoted). */
const key = fc.oneof(name, fc.string({ minLength: 1, maxLength: 8 }), fc.string({ unit: "binary", minLength: 1, maxLength: 4 }));
/** Strings that need care: ones that look typed, carry separators, quotes, operators, colons or edge spaces. */
const awkward = fc.constantFrom("", " ", "true", "false", "4", "-2.5", "1e3", " x ", "a,b", "(x)", ")", '"q"', 'a"b', "=x", ">=1", "!x", "a:b", ":", "in", "x\ny", "\\");
const str = fc.oneof(fc.string({ maxLength: 8 }), fc.string({ unit: "binary", maxLength: 6 }), awkward);
const num = fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer());
const value: fc.Arbitrary<AttrValue> = fc.oneof(str, num, fc.boolean());
const ORDERING = ["<", ">", "<=", ">="] as const;

const constraintArb: fc.Arbitrary<Constraint> = fc.oneof(
  fc.record({ key, op: fc.constantFrom<ConstraintOp>("=", "!="), value }),
  fc.record({ key, op: fc.constantFrom<ConstraintOp>(...ORDERING), value: num }),
  fc.record({ key, op: fc.constant<ConstraintOp>("in"), value: fc.array(value, { minLength: 1, maxLength: 5 }) }),
);
const weight = fc.oneof(fc.double({ min: 0, max: 1e12, noNaN: true }), fc.nat(100)).map((w) => (w === 0 ? 0 : w));
const preferenceArb: fc.Arbitrary<Preference> = fc.tuple(constraintArb, weight).map(([k, w]) => ({ ...k, weight: w }));

/** Written expressions, spaced at random: bare words, numbers, booleans, quoted strings, lists. */
const sp = fc.constantFrom("", " ", "  ", "\t");
const bareWord = fc.oneof(fc.stringMatching(/^[a-z][a-z0-9._-]{0,6}$/), fc.constantFrom("true", "false", "eu-west-1", "a b"));
const written = fc.oneof(bareWord, fc.integer().map(String), fc.double({ noNaN: true, noDefaultInfinity: true }).map(formatNumber), fc.string({ maxLength: 6 }).map((s) => JSON.stringify(s)));
const listText = fc.tuple(sp, fc.array(fc.tuple(sp, written, sp), { minLength: 1, maxLength: 4 }), sp).map(([a, items, b]) => `(${a}${items.map(([x, v, y]) => `${x}${v}${y}`).join(",")}${b})`);
const expressionText = fc.oneof(
  fc.tuple(sp, name, sp, fc.constantFrom("=", "!="), sp, written, sp).map((parts) => parts.join("")),
  fc.tuple(sp, name, sp, fc.constantFrom(...ORDERING), sp, fc.oneof(fc.integer().map(String), fc.double({ noNaN: true, noDefaultInfinity: true }).map(formatNumber)), sp).map((parts) => parts.join("")),
  fc.tuple(sp, name, fc.constantFrom(" ", "  ", "\t"), sp, listText, sp).map(([a, k, b, d, l, e]) => `${a}${k}${b}in${d}${l}${e}`),
);

// ---- tests ------------------------------------------------------------------------------------

describe("policies/constraint-parser", () => {
  describe("parseConstraint", () => {
    it.each<[string, Constraint]>([
      ["app=render", c("app", "=", "render")],
      ["power>=4", c("power", ">=", 4)],
      ["region in (eu,us)", c("region", "in", ["eu", "us"])],
      ["gpu=true", c("gpu", "=", true)],
      ["label!=canary", c("label", "!=", "canary")],
      ["region in(eu)", c("region", "in", ["eu"])],
      ["  cores   in  ( 8 , 16 ,true,  x y )  ", c("cores", "in", [8, 16, true, "x y"])],
      ["region in (eu,us,)", c("region", "in", ["eu", "us"])],
      ['region in ("eu,west", "(x)", "4")', c("region", "in", ["eu,west", "(x)", "4"])],
      ["in in (in)", c("in", "in", ["in"])],
      ["in=3", c("in", "=", 3)],
      ['label="4"', c("label", "=", "4")],
      ['label = "a \\"b\\" c" ', c("label", "=", 'a "b" c')],
      ['"odd key"!=x', c("odd key", "!=", "x")],
      ["url=ws://h:1", c("url", "=", "ws://h:1")],
      ['x=a"b', c("x", "=", 'a"b')],
    ])("parses %j", (input, want) => {
      expect(parseConstraint(input)).toEqual(want);
    });

    it("types list items as parseValue does", () => {
      const v = parseConstraint("k in (1, -2.5, true, false, 1e3, True, 0x10)").value;
      expect(v).toEqual([1, -2.5, true, false, "1e3", "True", "0x10"]);
    });
  });

  describe("parsePreference", () => {
    it.each<[string, Preference]>([
      ["region=eu:2", { ...c("region", "=", "eu"), weight: 2 }],
      ["region=eu", { ...c("region", "=", "eu"), weight: 1 }],
      ["region = eu : 0.5 ", { ...c("region", "=", "eu"), weight: 0.5 }],
      ["region in (eu,us):3", { ...c("region", "in", ["eu", "us"]), weight: 3 }],
      ["region in (a:b, c) : 2", { ...c("region", "in", ["a:b", "c"]), weight: 2 }],
      ["power>=4:1e3", { ...c("power", ">=", 4), weight: 1000 }],
      ["gpu=true:0", { ...c("gpu", "=", true), weight: 0 }],
      ["time=12:30:1", { ...c("time", "=", "12:30"), weight: 1 }],
      ['time="12:30"', { ...c("time", "=", "12:30"), weight: 1 }],
      ['"a:b"=x', { ...c("a:b", "=", "x"), weight: 1 }],
    ])("parses %j", (input, want) => {
      expect(parsePreference(input)).toEqual(want);
    });

    it("reads the last colon of a bare value as the weight", () => {
      expect(parsePreference("time=12:30")).toEqual({ ...c("time", "=", 12), weight: 30 });
    });
  });

  describe("errors", () => {
    it.each<[string, number, string]>([
      ["region in (eu,", 14, 'expected a value or ")"'],
      ["", 0, "expected a key"],
      ["   ", 3, "expected a key"],
      ["=eu", 0, 'expected a key (a name such as region, or a quoted string), got "="'],
      ["1region=eu", 0, 'got "1region"'],
      ["region", 6, "expected an operator (=, !=, >=, <=, >, < or in)"],
      ["re gion=eu", 3, 'expected an operator (=, !=, >=, <=, >, < or in), got "gion"'],
      ["power~2", 5, 'got "~"'],
      ["region inside (eu)", 7, 'got "inside"'],
      ["region=", 7, "expected a value"],
      ["region=   ", 10, "expected a value"],
      ["power>=high", 7, '>= needs a number, got "high"'],
      ["power<1e3", 6, '< needs a number, got "1e3"'],
      ['power>"4"', 6, '> needs a number, got "\\"4\\""'],
      ["region in eu", 10, 'expected "(" to open the list of values, got "eu"'],
      ["region in", 9, 'expected "("'],
      ["region in ()", 11, 'expected a value, got ")"'],
      ["region in (,eu)", 11, 'expected a value, got ","'],
      ["region in (eu,,us)", 14, 'expected a value or ")", got ","'],
      ["region in (eu", 13, 'expected "," or ")"'],
      ['region in ("eu" us)', 16, 'expected "," or ")", got "us"'],
      ["region in (eu(x))", 13, 'expected "," or ")", got "("'],
      ["region in (eu) x", 15, 'expected the end of the constraint, got "x"'],
      ['a="x', 2, "unterminated string"],
      ['a="x\\"', 2, "unterminated string"],
      ['a="x" y', 6, 'expected the end of the constraint, got "y"'],
      ['a="\\q"', 2, "bad string"],
      ['""=1', 0, "expected a non-empty key"],
      ['a="x":2', 5, 'expected the end of the constraint, got ":"'],
    ])("parseConstraint(%j) fails at %i: %s", (input, position, problem) => {
      const err = syntaxError(() => parseConstraint(input));
      expect(err).toBeInstanceOf(SyntaxError);
      expect(err.name).toBe("ConstraintSyntaxError");
      expect([err.input, err.position]).toEqual([input, position]);
      expect(err.problem).toContain(problem);
      expect(err.message).toBe(`cannot parse ${JSON.stringify(input)}: ${err.problem} at ${position}`);
    });

    it.each<[string, number, string]>([
      ["region=eu:abc", 10, 'expected a weight (a finite number >= 0), got "abc"'],
      ["region=eu:1e999", 10, 'got "1e999"'],
      ["region=eu:-1", 10, 'got "-1"'],
      ["region=eu:0x10", 10, 'got "0x10"'],
      ["region=eu:", 10, "expected a weight (a finite number >= 0)"],
      ["region=eu:  ", 12, "expected a weight"],
      ["region in (eu):x", 15, 'got "x"'],
      ["region in (eu) 2", 15, 'expected ":" and a weight, or the end, got "2"'],
      ['region="eu" 2', 12, 'expected ":" and a weight'],
      ["region=:2", 7, 'expected a value, got ":"'],
      ["region in (eu,:2", 16, 'expected "," or ")"'], // ":2" is an item: a list item may hold a ":"
    ])("parsePreference(%j) fails at %i: %s", (input, position, problem) => {
      const err = syntaxError(() => parsePreference(input));
      expect([err.input, err.position]).toEqual([input, position]);
      expect(err.problem).toContain(problem);
      expect(err.message).toContain(`at ${position}`);
    });

    it("the example from the issue", () => {
      expect(() => parseConstraint("region in (eu,")).toThrow('cannot parse "region in (eu,": expected a value or ")" at 14');
    });

    it("points a caret at the offending token", () => {
      expect(syntaxError(() => parseConstraint("region in (eu,,us)")).pointer()).toBe("  region in (eu,,us)\n                ^");
      expect(syntaxError(() => parseConstraint("a\tb=1")).pointer("")).toBe("a b=1\n  ^");
    });
  });

  describe("formatConstraint / formatPreference", () => {
    it.each<[Constraint, string]>([
      [c("region", "in", ["eu", "us"]), "region in (eu,us)"],
      [c("cores", "in", [8, 16, true]), "cores in (8,16,true)"],
      [c("label", "in", ["a,b", "(x)", "4", "true", " x"]), 'label in ("a,b","(x)","4","true"," x")'],
      [c("region", "=", "eu"), "region=eu"],
      [c("label", "=", "4"), 'label="4"'],
      [c("label", "!=", ""), 'label!=""'],
      [c("label", "=", "=x"), 'label="=x"'],
      [c("odd key", "=", 1), '"odd key"=1'],
      [c("power", ">=", 1e21), "power>=1000000000000000000000"],
      [c("power", "<", 1.5e-7), "power<0.00000015"],
      [c("power", ">", -0), "power>-0"],
    ])("formats %j as %s", (con, text) => {
      expect(formatConstraint(con)).toBe(text);
      expect(parseConstraint(text)).toEqual(con);
    });

    it("writes a preference's weight always", () => {
      expect(formatPreference({ ...c("region", "=", "eu"), weight: 1 })).toBe("region=eu:1");
      expect(formatPreference({ ...c("t", "=", "12:30"), weight: 2.5 })).toBe("t=12:30:2.5");
      expect(formatPreference({ ...c("r", "in", ["a", "b"]), weight: 1e-7 })).toBe("r in (a,b):0.0000001");
    });
  });

  describe("round trips (property)", () => {
    it("parse(formatConstraint(c)) is c, for any constraint the language can hold", () => {
      fc.assert(
        fc.property(constraintArb, (con) => {
          expect(parseConstraint(formatConstraint(con))).toEqual(con);
        }),
        { numRuns: 2000 },
      );
    });

    it("parsePreference(formatPreference(p)) is p", () => {
      fc.assert(
        fc.property(preferenceArb, (p) => {
          expect(parsePreference(formatPreference(p))).toEqual(p);
        }),
        { numRuns: 1000 },
      );
    });

    it("format(parse(s)) parses back to the same constraint, and formats the same, for written expressions", () => {
      fc.assert(
        fc.property(expressionText, (s) => {
          const once = parseConstraint(s);
          const text = formatConstraint(once);
          expect(parseConstraint(text)).toEqual(once);
          expect(formatConstraint(parseConstraint(text))).toBe(text);
        }),
        { numRuns: 1000 },
      );
    });

    it("a written expression with a weight parses as a preference of that weight", () => {
      fc.assert(
        fc.property(expressionText, weight, sp, (s, w, pad) => {
          const p = parsePreference(`${s}${pad}:${pad}${formatNumber(w)}`);
          expect(p.weight).toBe(w);
          // Up to the weight, the same as the constraint alone — except a bare value holding a ":".
          if (!/[=<>]\s*[^"]*:/.test(s)) expect({ ...p, weight: undefined }).toEqual({ ...parseConstraint(s), weight: undefined });
        }),
      );
    });

    it("never throws anything but a ConstraintSyntaxError, whatever the input", () => {
      fc.assert(
        fc.property(fc.oneof(fc.string({ maxLength: 24 }), expressionText.map((s) => s.slice(0, -1)), fc.stringMatching(/^[a-z =!<>(),":0-9in]{0,16}$/)), (s) => {
          for (const parse of [parseConstraint, parsePreference]) {
            try {
              const out = parse(s);
              expect(CONSTRAINT_OPS).toContain(out.op);
            } catch (err) {
              expect(err).toBeInstanceOf(ConstraintSyntaxError);
              const e = err as ConstraintSyntaxError;
              expect(e.position).toBeGreaterThanOrEqual(0);
              expect(e.position).toBeLessThanOrEqual(s.length);
            }
          }
        }),
        { numRuns: 2000 },
      );
    });

    it("formatNumber writes every finite number so that parseValue reads it back exactly", () => {
      fc.assert(
        fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (n) => {
          const s = formatNumber(n);
          expect(s).toMatch(/^-?\d+(\.\d+)?$/);
          expect(Object.is(parseValue(s), n)).toBe(true);
        }),
        { numRuns: 2000 },
      );
    });
  });

  describe("Tokenizer", () => {
    it("reads the tokens the parser asks for, with their offsets", () => {
      const tz = new Tokenizer("region in ( eu , us ) : 2", true);
      const kinds = [tz.key(), tz.op(), tz.punct("("), tz.item(), tz.punct(","), tz.item(), tz.punct(")"), tz.punct(":"), tz.weight()];
      expect(kinds.map((t) => t && [t.kind, t.text, t.start, t.end])).toEqual([
        ["key", "region", 0, 6],
        ["in", "in", 7, 9],
        ["(", "(", 10, 11],
        ["value", "eu", 12, 14],
        [",", ",", 15, 16],
        ["value", "us", 17, 19],
        [")", ")", 20, 21],
        [":", ":", 22, 23],
        ["weight", "2", 24, 25],
      ]);
      expect(tz.atEnd()).toBe(true);
    });

    it("gives no token, and stays put, where the input holds none of the kind asked for", () => {
      const tz = new Tokenizer("  ~x");
      expect(tz.key()).toBeUndefined();
      expect(tz.op()).toBeUndefined();
      expect(tz.pos).toBe(2);
    });
  });
});
