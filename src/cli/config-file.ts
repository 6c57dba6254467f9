import { readAtMost } from "./read-at-most.js";
import { delimiter } from "node:path";
import { LineCounter, isMap, isScalar, parseDocument } from "yaml";
import { CliError } from "./errors.js";

/** A flag as parseArgs declares it. */
export interface OptionSpec {
  readonly type: "string" | "boolean";
  readonly multiple?: boolean;
}

/** A flag's value as parseArgs gives it. */
export type FlagValue = string | boolean | string[];
export type FlagValues = Record<string, FlagValue | undefined>;

/** Where a setting came from: a command-line flag, an `ALLOT_*` variable, or the `--config` file. */
export type Source = { kind: "flag" } | { kind: "env"; name: string } | { kind: "file"; file: string };

/** The merged settings, by flag name, and where each came from. */
export interface Layered {
  values: FlagValues;
  sources: Record<string, Source>;
}

/** The environment variable of a flag: `heartbeat-ms` → `ALLOT_HEARTBEAT_MS`. */
export const envName = (flag: string): string => `ALLOT_${flag.toUpperCase().replaceAll("-", "_")}`;

/** How a source names a setting in an error message. */
export function sourceName(flag: string, s: Source | undefined): string {
  if (s === undefined || s.kind === "flag") return `--${flag}`;
  if (s.kind === "env") return s.name;
  return `key "${flag}" in ${s.file}`;
}

/**
 * The most bytes a config file may have: a node's settings are a few hundred bytes, a long
 * list of peers or attributes some kilobytes. Past it the file is refused, not read to its end
 * (/dev/zero has none, and a 100 MB file took the parser gigabytes).
 */
export const MAX_CONFIG_BYTES = 1024 * 1024;

/**
 * Reads a YAML or JSON file (YAML 1.2 is a superset of JSON; one parser reads both) into the
 * settings it names. Its keys are the flag names; a key no flag has, a value of the wrong type,
 * or a file that does not parse is a usage error naming the file (and the key, or the line).
 */
export function readConfigFile(file: string, options: Readonly<Record<string, OptionSpec>>, listFlags: readonly string[]): FlagValues {
  let text: string | undefined;
  try {
    text = readAtMost(file, MAX_CONFIG_BYTES);
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`, "--config");
  }
  if (text === undefined) throw new CliError(`${file} is more than ${MAX_CONFIG_BYTES} bytes, more than a config file may hold`, "--config");
  const lines = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true, lineCounter: lines });
  const bad = doc.errors[0];
  if (bad !== undefined) {
    const line = lines.linePos(bad.pos[0]).line;
    throw new CliError(`${file} line ${line} does not parse: ${bad.message.split("\n")[0] ?? bad.code}`, "--config");
  }
  if (doc.contents === null) return {};
  if (!isMap(doc.contents)) throw new CliError(`${file} must hold a mapping of settings (key: value, keys the flag names), not a ${isScalar(doc.contents) ? "single value" : "list"}`, "--config");
  let raw: unknown;
  try {
    // Aliases are expanded here: past yaml's maxAliasCount (a "billion laughs" file) it throws.
    raw = doc.toJS();
  } catch (err) {
    throw new CliError(`${file} cannot be read as settings: ${err instanceof Error ? err.message : String(err)}`, "--config");
  }
  const out: FlagValues = {};
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    // Own keys only: `constructor`, `toString` or `__proto__` are every object's, no flag's.
    const spec = Object.hasOwn(options, key) ? options[key] : undefined;
    if (spec === undefined) throw new CliError(`unknown key ${JSON.stringify(key)} in ${file} (the keys are the flag names of allot start, without the dashes: allot start --help)`, "--config");
    if (value === null || value === undefined) continue;
    out[key] = fileValue(key, value, spec, listFlags.includes(key), file);
  }
  return out;
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return "a list";
  if (v === null) return "null";
  if (typeof v === "object") return "a mapping";
  return typeof v === "number" ? `number ${String(v)}` : `${typeof v} ${JSON.stringify(v)}`;
}

/** One file value as the flag's string (or strings, or boolean), or a usage error naming key, file and the type expected. */
function fileValue(key: string, value: unknown, spec: OptionSpec, isList: boolean, file: string): FlagValue {
  const wrong = (expected: string): CliError => new CliError(`key "${key}" in ${file}: expected ${expected}, got ${describe(value)}`, "--config");
  const scalar = (v: unknown): string | undefined => (typeof v === "string" ? v : typeof v === "number" && Number.isFinite(v) ? String(v) : undefined);
  if (spec.type === "boolean") {
    if (typeof value !== "boolean") throw wrong("true or false");
    return value;
  }
  if (spec.multiple === true) {
    // A mapping for key=value lists (attr: {region: eu}), else a list of strings, or one string.
    if (key === "attr" && typeof value === "object" && value !== null && !Array.isArray(value)) {
      return Object.entries(value as Record<string, unknown>).map(([k, x]) => {
        const s = scalar(x) ?? (typeof x === "boolean" ? String(x) : undefined);
        if (s === undefined) throw wrong("a mapping of names to strings, numbers or booleans");
        return `${k}=${s}`;
      });
    }
    const items = Array.isArray(value) ? value : [value];
    return items.map((x) => scalar(x) ?? (() => { throw wrong(key === "attr" ? "a mapping, or a list of key=value strings" : "a string or a list of strings"); })());
  }
  if (isList && Array.isArray(value)) {
    return value.map((x) => scalar(x) ?? (() => { throw wrong("a list of strings"); })()).join(",");
  }
  const s = scalar(value);
  if (s === undefined) throw wrong(isList ? "a string or a list of strings" : "a string or a number");
  return s;
}

/**
 * The settings `ALLOT_*` variables give: one per flag (`ALLOT_HEARTBEAT_MS=500`), a flag that
 * repeats split on the path delimiter (`ALLOT_CLUSTER_PUB=a.pub:b.pub`, as it always was), a
 * boolean flag from `1`/`true` or `0`/`false`. Variables that name no flag are left alone (a
 * handler module may read its own).
 */
export function envValues(env: NodeJS.ProcessEnv, options: Readonly<Record<string, OptionSpec>>, skip: readonly string[]): { values: FlagValues; sources: Record<string, Source> } {
  const values: FlagValues = {};
  const sources: Record<string, Source> = {};
  for (const [flag, spec] of Object.entries(options)) {
    if (skip.includes(flag)) continue;
    const name = envName(flag);
    const v = env[name];
    if (v === undefined || v === "") continue;
    if (spec.type === "boolean") {
      if (!/^(1|0|true|false)$/i.test(v)) throw new CliError(`expected 1, 0, true or false, got ${JSON.stringify(v)}`, name);
      values[flag] = /^(1|true)$/i.test(v);
    } else values[flag] = spec.multiple === true ? v.split(flag === "attr" ? "," : delimiter).filter((x) => x !== "") : v;
    sources[flag] = { kind: "env", name };
  }
  return { values, sources };
}

/** Flags over environment over file, key by key (a repeated flag's values replace a lower layer's whole). */
export function layer(flags: FlagValues, env: { values: FlagValues; sources: Record<string, Source> }, file: FlagValues, fileName: string | undefined): Layered {
  const values: FlagValues = {};
  const sources: Record<string, Source> = {};
  for (const [k, v] of Object.entries(file)) if (v !== undefined && fileName !== undefined) ((values[k] = v), (sources[k] = { kind: "file", file: fileName }));
  for (const [k, v] of Object.entries(env.values)) if (v !== undefined) ((values[k] = v), (sources[k] = env.sources[k] as Source));
  for (const [k, v] of Object.entries(flags)) if (v !== undefined) ((values[k] = v), (sources[k] = { kind: "flag" }));
  return { values, sources };
}

/** Runs `f`, renaming a usage error about a flag to where its value came from (`ALLOT_X`, or key and file). */
export function naming<T>(sources: Record<string, Source>, f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (!(err instanceof CliError) || err.flag === undefined || !err.flag.startsWith("--")) throw err;
    const flag = err.flag.slice(2);
    const s = sources[flag];
    if (s === undefined || s.kind === "flag") throw err;
    throw new CliError(err.detail, sourceName(flag, s));
  }
}

/** The merged settings as a config file would hold them: lists as lists, numbers as numbers. */
export function printable(values: FlagValues, listFlags: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const typed = (s: string): string | number => (/^(0|[1-9]\d{0,14})(\.\d+)?$/.test(s) ? Number(s) : s);
  for (const k of Object.keys(values).sort()) {
    const v = values[k];
    if (v === undefined) continue;
    if (typeof v === "boolean") out[k] = v;
    else if (Array.isArray(v)) out[k] = [...v];
    else if (listFlags.includes(k)) out[k] = v.split(",").map((x) => x.trim()).filter((x) => x !== "");
    else out[k] = typed(v);
  }
  return out;
}
