import { TlsConfigError, loadTls } from "../node/config.js";
import type { TlsConfig } from "../node/config.js";
import { CliError } from "./errors.js";

/** The TLS flags of every command that listens or dials, for its parseFlags options. */
export const TLS_OPTIONS = {
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  "tls-ca": { type: "string" },
} as const;

export const TLS_FLAGS = ["tls-cert", "tls-key", "tls-ca"] as const;

/** Help lines for the TLS flags; `listens` for allot start. */
export function tlsHelp(listens: boolean): string {
  return listens
    ? `  --tls-cert FILE       serve wss:// with this PEM certificate (SAN: the host others dial);
                        also presented as the client certificate on every connection the node
                        makes. Needs --tls-key; the node then dials only wss://
  --tls-key FILE        the certificate's PEM private key (unencrypted)
  --tls-ca FILE         PEM CA certificate(s): require client certificates signed by them
                        (mTLS) and verify the servers this node dials against them (default:
                        the system store). A bad --tls-* file exits 2
`
    : `  --tls-ca FILE         verify wss:// nodes against these PEM CA certificate(s) instead of
                        the system store (a client given --tls-* dials only wss://)
  --tls-cert FILE       present this PEM client certificate (nodes started with --tls-ca
                        require one), with --tls-key FILE its private key. A bad --tls-* file
                        exits 2
`;
}

/**
 * The `tls` of a node's or query's configuration from the flags, with every file read and
 * checked now, so that a bad one is a usage error naming its flag; empty when none was given.
 */
export function tlsFlags(v: { "tls-cert"?: string | undefined; "tls-key"?: string | undefined; "tls-ca"?: string | undefined }, listens: boolean): { tls?: TlsConfig } {
  const given: TlsConfig = {
    ...(v["tls-cert"] === undefined ? {} : { cert: v["tls-cert"] }),
    ...(v["tls-key"] === undefined ? {} : { key: v["tls-key"] }),
    ...(v["tls-ca"] === undefined ? {} : { ca: v["tls-ca"] }),
  };
  if (Object.keys(given).length === 0) return {};
  try {
    return { tls: loadTls(given, listens) };
  } catch (err) {
    if (err instanceof TlsConfigError) throw new CliError(err.message, `--tls-${err.field}`);
    throw err;
  }
}

/** With TLS configured, refuses a URL list (`--join`, `--entry`, …) naming a ws:// URL: such a node never dials in the clear. */
export function wssOnly(tls: TlsConfig | undefined, flag: string, v: string | undefined): void {
  if (tls === undefined || v === undefined) return;
  const plain = v.split(",").map((u) => u.trim()).find((u) => u !== "" && !u.startsWith("wss://"));
  if (plain !== undefined) throw new CliError(`expected wss:// URLs with --tls-* (no dialing in the clear), got ${JSON.stringify(plain)}`, flag);
}
