/** A policy's options as given after its name: `p2c:d=3`, `hash:key=user,bound=1.25`. */
export type PolicyOptions = Readonly<Record<string, string>>;

/** Splits `NAME[:k=v,k=v]` into the name and its options; says which part does not parse. */
export function parsePolicySpec(spec: string): { name: string; options: PolicyOptions } {
  const colon = spec.indexOf(":");
  const name = colon < 0 ? spec : spec.slice(0, colon);
  const options: Record<string, string> = {};
  if (colon >= 0) {
    for (const item of spec.slice(colon + 1).split(",")) {
      const eq = item.indexOf("=");
      const key = item.slice(0, eq).trim();
      if (eq <= 0 || key === "") throw new TypeError(`policy ${JSON.stringify(name)}: option ${JSON.stringify(item)} is not key=value`);
      if (Object.hasOwn(options, key)) throw new TypeError(`policy ${JSON.stringify(name)}: option ${key} given twice`);
      options[key] = item.slice(eq + 1).trim();
    }
  }
  return { name, options };
}

/** Reads a policy's options: each read marks the key known; `done()` refuses any other key. */
export class OptionReader {
  private readonly seen = new Set<string>();
  constructor(
    private readonly policy: string,
    private readonly options: PolicyOptions,
  ) {}

  number(key: string, dflt: number, min: number, max: number, integer = false): number {
    this.seen.add(key);
    const raw = this.options[key];
    if (raw === undefined) return dflt;
    const n = Number(raw);
    if (raw === "" || !Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
      throw new TypeError(`policy ${this.policy}: option ${key} must be ${integer ? "an integer" : "a number"} from ${min} to ${max}, got ${JSON.stringify(raw)}`);
    }
    return n;
  }

  string(key: string, dflt: string, check: (v: string) => boolean, want: string): string {
    this.seen.add(key);
    const raw = this.options[key];
    if (raw === undefined) return dflt;
    if (!check(raw)) throw new TypeError(`policy ${this.policy}: option ${key} must be ${want}, got ${JSON.stringify(raw)}`);
    return raw;
  }

  done(): void {
    const unknown = Object.keys(this.options).filter((k) => !this.seen.has(k));
    if (unknown.length > 0) {
      const known = [...this.seen];
      throw new TypeError(`policy ${this.policy}: unknown option ${unknown.join(", ")}${known.length > 0 ? `; it takes ${known.join(", ")}` : "; it takes none"}`);
    }
  }
}
