import type { QueryOptions } from "../node/query.js";
import { CliError, parseIntFlag, urls } from "./errors.js";
import { TLS_OPTIONS, tlsFlags, wssOnly } from "./tls-flags.js";
import { CREDENTIAL_OPTIONS, credentialFlags } from "./credentials.js";

/** The flags of a command that asks one node something (`attrs`, `drain`): its URL, a deadline, TLS and credentials. */
export const ONE_NODE_OPTIONS = {
  entry: { type: "string" },
  "timeout-ms": { type: "string" },
  ...TLS_OPTIONS,
  ...CREDENTIAL_OPTIONS,
  help: { type: "boolean", short: "h" },
} as const;

type OneNodeValues = { entry?: string | undefined; "timeout-ms"?: string | undefined } & Parameters<typeof tlsFlags>[0] & Parameters<typeof credentialFlags>[0];

/** The one node's URL and how to ask it, from those flags; usage errors name the flag. */
export function oneNode(v: OneNodeValues): { url: string; options: QueryOptions } {
  const entry = urls("--entry", v.entry, true);
  if (entry.length !== 1) throw new CliError("takes one node URL", "--entry");
  const options = { timeoutMs: parseIntFlag("--timeout-ms", v["timeout-ms"], 5000, 1, 600_000), ...tlsFlags(v, false), ...credentialFlags(v) };
  wssOnly(options.tls, "--entry", v.entry);
  return { url: entry[0] as string, options };
}
