/** A usage error: names the flag, exits with code 2. */
export class CliError extends Error {
  override readonly name = "CliError";
  readonly code = "USAGE";
  constructor(
    message: string,
    readonly flag?: string,
  ) {
    super(flag ? `${flag}: ${message}` : message);
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
