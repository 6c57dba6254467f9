import { resolvePolicy } from "../node/config.js";
import { LOG_FORMATS } from "../node/logger.js";
import type { LogFormat } from "../node/logger.js";

/** A usage error: names the flag, exits with code 2. */
export class CliError extends Error {
  override readonly name = "CliError";
  readonly code = "USAGE";
  /** The message without the flag's name, so a caller can name where the value came from instead. */
  readonly detail: string;
  constructor(
    message: string,
    readonly flag?: string,
  ) {
    super(flag ? `${flag}: ${message}` : message);
    this.detail = message;
  }
}

export function parseIntFlag(flag: string, v: string | undefined, dflt: number, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  if (v === undefined) return dflt;
  if (!/^\d+$/.test(v)) throw new CliError(`expected a whole number, got ${JSON.stringify(v)}`, flag);
  const n = Number(v);
  if (n < min || n > max) throw new CliError(`must be from ${min} to ${max}, got ${n}`, flag);
  return n;
}

export function parseNumberFlag(flag: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n) || n <= 0) throw new CliError(`expected a positive number, got ${JSON.stringify(v)}`, flag);
  return n;
}

/** An id or key flag: non-empty and at most `max` characters (ids and keys travel in messages, which cap them). */
export function idFlag(flag: string, v: string, max: number): string {
  if (v.length === 0) throw new CliError("must not be empty", flag);
  if (v.length > max) throw new CliError(`must be at most ${max} characters, got ${v.length}`, flag);
  return v;
}

/** Splits "a,b,c" into non-empty items. */
export function list(flag: string, v: string | undefined, required: boolean): string[] {
  const items = (v ?? "").split(",").map((s) => s.trim()).filter((s) => s.length > 0);
  if (required && items.length === 0) throw new CliError("is required", flag);
  return items;
}

export function urls(flag: string, v: string | undefined, required: boolean): string[] {
  const items = list(flag, v, required);
  for (const u of items) if (!/^(ws|wss|mem):\/\/[^/\s]+/.test(u)) throw new CliError(`expected ws://HOST:PORT, got ${JSON.stringify(u)}`, flag);
  return items;
}

/** The flag's value if it is one of `allowed`, undefined when the flag was not given. */
export function oneOf<T extends string>(flag: string, allowed: readonly T[], s: string | undefined): T | undefined {
  if (s === undefined) return undefined;
  if ((allowed as readonly string[]).includes(s)) return s as T;
  throw new CliError(`expected ${allowed.join(" or ")}, got ${JSON.stringify(s)}`, flag);
}

/** Checks a `--policy NAME[:k=v,…]` at start-up, so a bad name or option is a usage error. */
export function checkPolicyFlag(spec: string): string {
  try {
    resolvePolicy(spec);
  } catch (err) {
    throw new CliError(err instanceof Error ? err.message : String(err), "--policy");
  }
  return spec;
}

/** `--log-format json|pretty|auto`, as a config fragment: empty when not given (the node's default is auto). */
export function logFormatFlag(s: string | undefined): { logFormat?: LogFormat } {
  const f = oneOf("--log-format", LOG_FORMATS, s);
  return f === undefined ? {} : { logFormat: f };
}
