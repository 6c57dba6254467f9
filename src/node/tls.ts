import { X509Certificate, createPrivateKey } from "node:crypto";
import type { KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import type { WsTls } from "../transport/index.js";

/**
 * TLS for a node's WebSocket transport. Each value is either PEM text (it contains a
 * `-----BEGIN ` line) or the path of a PEM file, read once when the node starts.
 *
 * - `cert` and `key` go together: a listening node serves wss:// with them, and every
 *   connection a node makes presents them as its client certificate.
 * - `ca`: a listening node requires client certificates signed by one of these CAs (mTLS);
 *   dialers verify servers against them instead of the system store.
 *
 * A node that listens (every role but the client) needs `cert` and `key` once `tls` is given.
 */
export interface TlsConfig {
  cert?: string;
  key?: string;
  ca?: string;
}

export type TlsField = keyof TlsConfig;

/** A TLS setting that cannot be used: names the field (`--tls-cert`, … on the command line) and what is wrong. */
export class TlsConfigError extends Error {
  override readonly name = "TlsConfigError";
  readonly code = "TLS_CONFIG";
  constructor(
    readonly field: TlsField,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

const isPemText = (s: string): boolean => s.includes("-----BEGIN ");

/** The setting's PEM text and how to name it in a message (its path, or "the PEM text given"). */
function readPem(field: TlsField, value: string): { pem: string; source: string } {
  if (isPemText(value)) return { pem: value, source: `the PEM text given as ${field}` };
  if (value.trim() === "") throw new TlsConfigError(field, "expected a PEM file path, got an empty string");
  try {
    return { pem: readFileSync(value, "utf8"), source: value };
  } catch (err) {
    const code = err instanceof Error && "code" in err ? String(err.code) : "";
    const why = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : code === "EISDIR" ? "is a directory, not a file" : err instanceof Error ? err.message : String(err);
    throw new TlsConfigError(field, `cannot read ${value}: ${why}`, { cause: err });
  }
}

/** Every certificate of a PEM text, parsed; a text with none, or one that does not parse, is refused. */
function certificates(field: TlsField, value: string): { pem: string; certs: X509Certificate[]; source: string } {
  const { pem, source } = readPem(field, value);
  const blocks = pem.match(CERT_BLOCK) ?? [];
  if (blocks.length === 0) throw new TlsConfigError(field, `${source} is not a PEM certificate (no "-----BEGIN CERTIFICATE-----" block)`);
  const certs = blocks.map((b, i) => {
    try {
      return new X509Certificate(b);
    } catch (err) {
      throw new TlsConfigError(field, `${source}: certificate ${i + 1} does not parse: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  });
  return { pem, certs, source };
}

function privateKey(value: string): { pem: string; key: KeyObject; source: string } {
  const { pem, source } = readPem("key", value);
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) throw new TlsConfigError("key", `${source} is not a PEM private key (no "-----BEGIN … PRIVATE KEY-----" block)`);
  try {
    return { pem, key: createPrivateKey(pem), source };
  } catch (err) {
    // An encrypted key lands here too: a node cannot ask for its passphrase.
    throw new TlsConfigError("key", `${source} is not a usable unencrypted private key: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

/**
 * Reads and checks a node's TLS settings: files exist and are readable, hold PEM certificates or
 * a private key, the key is the certificate's, and the certificate has not expired. `listens`
 * requires a certificate and key. Throws a TlsConfigError naming the field; returns the PEM texts.
 */
export function loadTls(config: TlsConfig, listens: boolean, now: number = Date.now()): WsTls {
  const out: WsTls = {};
  if (config.cert === undefined && config.key !== undefined) throw new TlsConfigError("cert", "is required with a key (key given without its certificate)");
  if (config.key === undefined && config.cert !== undefined) throw new TlsConfigError("key", "is required with a certificate (certificate given without its private key)");
  if (listens && config.cert === undefined) throw new TlsConfigError("cert", "is required: a node that listens serves wss:// with a certificate and its key");
  if (config.cert !== undefined && config.key !== undefined) {
    const cert = certificates("cert", config.cert);
    const key = privateKey(config.key);
    const leaf = cert.certs[0] as X509Certificate;
    if (Date.parse(leaf.validTo) < now) throw new TlsConfigError("cert", `${cert.source}: the certificate expired on ${leaf.validTo}`);
    if (!leaf.checkPrivateKey(key.key)) throw new TlsConfigError("key", `${key.source} is not the private key of the certificate in ${cert.source}`);
    out.cert = cert.pem;
    out.key = key.pem;
  }
  if (config.ca !== undefined) out.ca = certificates("ca", config.ca).pem;
  return out;
}
