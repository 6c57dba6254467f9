import { CONSTRAINT_OPS } from "./types.js";
import type { AttrValue, Constraint, ConstraintOp, Preference } from "./types.js";

/*
 * The constraint language, parsed once (at the CLI, or by an embedder) into the typed
 * `Constraint` and `Preference` objects the allocator matches; nothing is parsed per decision.
 *
 *   constraint := key ( op value | "in" "(" item ( "," item )* [","] ")" )
 *   preference := constraint [ ":" weight ]                      weight: a finite number >= 0
 *   key        := [A-Za-z_][A-Za-z0-9_.-]*  |  "json string"
 *   op         := "=" | "!=" | ">=" | "<=" | ">" | "<"
 *   value      := "json string"  |  the rest of the input, trimmed (up to the last ":" in a preference)
 *   item       := "json string"  |  a run of characters other than , ( ), trimmed
 *
 * Bare values are typed as `parseValue` types them (4 and -2.5 are numbers, true and false
 * booleans, anything else a string); a quoted value is always a string. Spaces around tokens are
 * optional. `>=`, `<=`, `>` and `<` need a number.
 */

/** A constraint or preference that does not parse: where, and what was expected there. */
export class ConstraintSyntaxError extends SyntaxError {
  override readonly name = "ConstraintSyntaxError";
  constructor(
    /** The text that did not parse. */
    readonly input: string,
    /** 0-based offset of the offending token in `input` (`input.length` for its end). */
    readonly position: number,
    /** What is wrong there, without the input and position: `expected a value or ")"`. */
    readonly problem: string,
  ) {
    super(`cannot parse ${JSON.stringify(input)}: ${problem} at ${position}`);
  }

  /** Two lines: the input, and a caret under the offending token. */
  pointer(indent = "  "): string {
    // Control characters would move the caret off its column: each shows as one space.
    const shown = this.input.replace(/[\u0000-\u001f\u007f]/g, " ");
    return `${indent}${shown}\n${indent}${" ".repeat(this.position)}^`;
  }
}

export type TokenKind = "key" | "op" | "in" | "(" | ")" | "," | ":" | "value" | "weight" | "end";

/** One token: its kind, its text as written, where it starts and ends (offsets into the input). */
export interface Token {
  kind: TokenKind;
  text: string;
  start: number;
  end: number;
}

const KEY_RE = /[A-Za-z_][\w.-]*/y;
const WORD_RE = /[\w.-]+|[<>=!~]+|\S/y;
// Longest first, so ">=" is not read as ">" then "=".
const OPS_BY_LENGTH: readonly ConstraintOp[] = [...CONSTRAINT_OPS].filter((o) => o !== "in").sort((a, b) => b.length - a.length);
const OP_LIST = "=, !=, >=, <=, >, < or in";
const isSpace = (ch: string | undefined): boolean => ch !== undefined && /\s/.test(ch);

/**
 * The tokenizer. What a token is depends on where the parser stands (a bare value runs to the
 * end of the input, a list item to the next , or )), so the parser asks for the token it may
 * find next — a start-condition lexer. Each method skips leading white space and returns the
 * token, or undefined (position unchanged past the white space) when the input does not start
 * with one.
 */
export class Tokenizer {
  pos = 0;

  constructor(
    readonly input: string,
    /** A preference: a bare value stops at the last ":", where the weight starts. */
    readonly weighted = false,
  ) {}

  fail(problem: string, at = this.pos): never {
    throw new ConstraintSyntaxError(this.input, at, problem);
  }

  /** `expected X`, naming what stands at the position instead (nothing at the end). */
  expected(what: string, at = this.pos): never {
    if (at >= this.input.length) return this.fail(`expected ${what}`, at);
    WORD_RE.lastIndex = at;
    const got = WORD_RE.exec(this.input)?.[0] ?? this.input.slice(at, at + 1);
    return this.fail(`expected ${what}, got ${JSON.stringify(got)}`, at);
  }

  skipSpace(): void {
    while (isSpace(this.input[this.pos])) this.pos++;
  }

  atEnd(): boolean {
    this.skipSpace();
    return this.pos >= this.input.length;
  }

  private token(kind: TokenKind, end: number): Token {
    const t = { kind, text: this.input.slice(this.pos, end), start: this.pos, end };
    this.pos = end;
    return t;
  }

  /** A key: a name, or a quoted string. */
  key(): Token | undefined {
    this.skipSpace();
    if (this.input[this.pos] === '"') return this.quoted("key");
    KEY_RE.lastIndex = this.pos;
    const m = KEY_RE.exec(this.input);
    return m ? this.token("key", this.pos + m[0].length) : undefined;
  }

  /** An operator, or the keyword `in` (not followed by a name character). */
  op(): Token | undefined {
    this.skipSpace();
    for (const op of OPS_BY_LENGTH) if (this.input.startsWith(op, this.pos)) return this.token("op", this.pos + op.length);
    if (this.input.startsWith("in", this.pos) && !/[\w.-]/.test(this.input[this.pos + 2] ?? "")) return this.token("in", this.pos + 2);
    return undefined;
  }

  /** One of the punctuation tokens ( ) , : */
  punct(ch: "(" | ")" | "," | ":"): Token | undefined {
    this.skipSpace();
    return this.input[this.pos] === ch ? this.token(ch, this.pos + 1) : undefined;
  }

  /** The value of a comparison: a quoted string, or the rest of the input (of a preference: up to its last ":"), trimmed. */
  value(): Token | undefined {
    this.skipSpace();
    if (this.input[this.pos] === '"') return this.quoted("value");
    const colon = this.weighted ? this.input.lastIndexOf(":") : -1;
    let end = colon >= this.pos ? colon : this.input.length;
    while (end > this.pos && isSpace(this.input[end - 1])) end--;
    return end > this.pos ? this.token("value", end) : undefined;
  }

  /** An item of an `in` list: a quoted string, or the characters up to the next , ( or ), trimmed. */
  item(): Token | undefined {
    this.skipSpace();
    if (this.input[this.pos] === '"') return this.quoted("value");
    let end = this.pos;
    while (end < this.input.length && !",()".includes(this.input[end] as string)) end++;
    while (end > this.pos && isSpace(this.input[end - 1])) end--;
    return end > this.pos ? this.token("value", end) : undefined;
  }

  /** A preference's weight: the rest of the input, trimmed. */
  weight(): Token | undefined {
    this.skipSpace();
    let end = this.input.length;
    while (end > this.pos && isSpace(this.input[end - 1])) end--;
    return end > this.pos ? this.token("weight", end) : undefined;
  }

  /** A JSON string starting at the position (a `"`): up to the first `"` no backslash escapes. */
  private quoted(kind: "key" | "value"): Token {
    let end = this.pos + 1;
    while (end < this.input.length && this.input[end] !== '"') end += this.input[end] === "\\" ? 2 : 1;
    if (end >= this.input.length) this.fail("unterminated string");
    return this.token(kind, end + 1);
  }
}

/** A quoted token's string. */
function unquote(tz: Tokenizer, t: Token): string {
  try {
    return JSON.parse(t.text) as string;
  } catch (err) {
    return tz.fail(`bad string: ${err instanceof Error ? err.message : String(err)}`, t.start);
  }
}

/** A value token as written → its value: a quoted string unquoted, a bare one typed by parseValue. */
const tokenValue = (tz: Tokenizer, t: Token): AttrValue => (t.text.startsWith('"') ? unquote(tz, t) : parseValue(t.text));

function parseWith(tz: Tokenizer): Constraint {
  const keyTok = tz.key() ?? tz.expected("a key (a name such as region, or a quoted string)");
  const key = keyTok.text.startsWith('"') ? unquote(tz, keyTok) : keyTok.text;
  if (key.length === 0) tz.fail("expected a non-empty key", keyTok.start);
  const opTok = tz.op() ?? tz.expected(`an operator (${OP_LIST})`);
  if (opTok.kind === "in") {
    if (!tz.punct("(")) tz.expected('"(" to open the list of values');
    const value: AttrValue[] = [];
    for (;;) {
      const t = tz.item();
      if (t) value.push(tokenValue(tz, t));
      else if (value.length > 0 && tz.punct(")")) break; // a trailing comma
      else tz.expected(value.length === 0 ? "a value" : 'a value or ")"');
      if (tz.punct(")")) break;
      if (!tz.punct(",")) tz.expected('"," or ")"');
    }
    return { key, op: "in", value };
  }
  const op = opTok.text as ConstraintOp;
  const valueTok = tz.value() ?? tz.expected("a value");
  const value = tokenValue(tz, valueTok);
  if (op !== "=" && op !== "!=" && typeof value !== "number") tz.fail(`${op} needs a number, got ${JSON.stringify(valueTok.text)}`, valueTok.start);
  return { key, op, value };
}

/**
 * Parses one constraint: `key=value`, `key!=value`, `key>=N`, `key<=N`, `key>N`, `key<N` or
 * `key in (a,b,c)`. Throws a ConstraintSyntaxError naming the input and the position.
 */
export function parseConstraint(s: string): Constraint {
  const tz = new Tokenizer(s);
  const c = parseWith(tz);
  if (!tz.atEnd()) tz.expected("the end of the constraint");
  return c;
}

const WEIGHT_RE = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * Parses a soft constraint with an optional weight, `constraint[:WEIGHT]` (default 1):
 * `region=eu:2`, `region in (eu,us):0.5`, `gpu=true`. The weight follows the last ":", so a bare
 * value with a ":" in it needs the weight written out (`time=12:30:1`) or quotes.
 */
export function parsePreference(s: string): Preference {
  const tz = new Tokenizer(s, true);
  const c = parseWith(tz);
  if (tz.atEnd()) return { ...c, weight: 1 };
  if (!tz.punct(":")) tz.expected('":" and a weight, or the end');
  const w = tz.weight() ?? tz.expected("a weight (a finite number >= 0)");
  const weight = WEIGHT_RE.test(w.text) ? Number(w.text) : NaN;
  if (!Number.isFinite(weight) || weight < 0) tz.fail(`expected a weight (a finite number >= 0), got ${JSON.stringify(w.text)}`, w.start);
  return { ...c, weight: weight === 0 ? 0 : weight };
}

/** "4" → 4, "-2.5" → -2.5, "true" → true, anything else stays a string. */
export function parseValue(s: string): AttrValue {
  if (s === "true") return true;
  if (s === "false") return false;
  if (/^-?\d+(\.\d+)?$/.test(s)) return Number(s);
  return s;
}

/** `n` in plain decimal notation (no exponent), which `parseValue` reads back as the same number. */
export function formatNumber(n: number): string {
  if (Object.is(n, -0)) return "-0";
  const s = String(n);
  const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(s);
  if (!m) return s;
  const [, sign = "", lead = "", frac = "", exp = "0"] = m;
  const digits = lead + frac;
  const point = 1 + Number(exp); // where the decimal point goes in `digits`
  if (point <= 0) return `${sign}0.${"0".repeat(-point)}${digits}`;
  if (point >= digits.length) return `${sign}${digits}${"0".repeat(point - digits.length)}`;
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

const NAME_RE = /^[A-Za-z_][\w.-]*$/;

/** A value as the parser reads it back: bare when that is unambiguous, else a quoted string. */
function formatValue(v: AttrValue, inList: boolean): string {
  if (typeof v === "number") return formatNumber(v);
  if (typeof v === "boolean") return String(v);
  const bare =
    v.length > 0 &&
    v.trim() === v &&
    parseValue(v) === v &&
    !/^["=<>!]/.test(v) && // a quote opens a string; an operator character would join the operator
    !(inList && /[,()]/.test(v));
  return bare ? v : JSON.stringify(v);
}

/** The text of a constraint, which `parseConstraint` reads back as the same constraint: `power>=2`, `region in (eu,us)`. */
export function formatConstraint(c: Constraint): string {
  const key = NAME_RE.test(c.key) ? c.key : JSON.stringify(c.key);
  if (c.op === "in") {
    const vs = Array.isArray(c.value) ? c.value : [c.value];
    return `${key} in (${vs.map((v) => formatValue(v, true)).join(",")})`;
  }
  const v = c.value;
  return `${key}${c.op}${Array.isArray(v) ? `(${v.map((x) => formatValue(x, true)).join(",")})` : formatValue(v, false)}`;
}

/** `constraint:weight`, which `parsePreference` reads back as the same preference. */
export function formatPreference(p: Preference): string {
  return `${formatConstraint(p)}:${formatNumber(p.weight)}`;
}
