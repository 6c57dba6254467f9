import type { KeyObject } from "node:crypto";
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { claimCovers } from "../protocol/index.js";
import type { ClaimRole, Role } from "../protocol/index.js";
import { clusterKeyFromText, clusterPubFromText, credentialFromText, credentialToText, fingerprint, generateClusterKey, issueCredential, realEntropy } from "../transport/index.js";
import type { Credential, Entropy, IssueOptions } from "../transport/index.js";

export type { Credential, IssueOptions } from "../transport/index.js";
export { EXPIRY_SKEW_MS, credentialFromText, credentialToText, fingerprint, generateClusterKey, issueCredential } from "../transport/index.js";

/** A credential or cluster key file that cannot be used: says which file and what is wrong with it. */
export class CredentialFileError extends Error {
  override readonly name = "CredentialFileError";
  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    super(`${file}: ${problem}`);
  }
}

function read(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    throw new CredentialFileError(file, err instanceof Error && "code" in err && err.code === "ENOENT" ? "no such file" : `cannot be read (${err instanceof Error ? err.message : String(err)})`);
  }
}

function parsed<T>(file: string, f: (text: string) => T): T {
  const text = read(file);
  try {
    return f(text);
  } catch (err) {
    throw new CredentialFileError(file, err instanceof Error ? err.message : String(err));
  }
}

/** Reads a credential file written by `allot keys issue`. */
export const loadCredential = (file: string): Credential => parsed(file, credentialFromText);
/** Reads a cluster public key file (`cluster.pub`). */
export const loadClusterPub = (file: string): KeyObject => parsed(file, clusterPubFromText);
/** Reads a cluster private key file (`cluster.key`). */
export const loadClusterKey = (file: string): KeyObject => parsed(file, clusterKeyFromText);

/**
 * Creates DIR (mode 0700) with a new cluster key pair: DIR/cluster.key (mode 0600) and
 * DIR/cluster.pub. Never overwrites: an existing key file is an error.
 */
export function initClusterKeys(dir: string): { key: string; pub: string } {
  const key = join(dir, "cluster.key");
  const pub = join(dir, "cluster.pub");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const f of [key, pub]) {
    let exists = true;
    try {
      statSync(f);
    } catch {
      exists = false;
    }
    if (exists) throw new CredentialFileError(f, "already exists (a key is never overwritten)");
  }
  const k = generateClusterKey();
  // 'wx': fails rather than replaces, should a file appear in between.
  writeFileSync(key, k.privateKey.export({ format: "pem", type: "pkcs8" }).toString(), { mode: 0o600, flag: "wx" });
  writeFileSync(pub, k.publicKey.export({ format: "pem", type: "spki" }).toString(), { mode: 0o644, flag: "wx" });
  return { key, pub };
}

/** Issues a credential with the cluster key and writes it to `out` (mode 0600, never overwriting). */
export function issueCredentialFile(clusterKey: KeyObject, o: IssueOptions, out: string): Credential {
  const c = issueCredential(clusterKey, o);
  try {
    writeFileSync(out, credentialToText(c), { mode: 0o600, flag: "wx" });
  } catch (err) {
    throw new CredentialFileError(out, err instanceof Error && "code" in err && err.code === "EEXIST" ? "already exists (a credential is never overwritten)" : String(err));
  }
  return c;
}

/** Whether a credential lets a node run as `role`: granted, or (for an admin's tools, which speak as clients) admin. */
export function claimGrants(c: Credential, role: Role | ClaimRole): boolean {
  return c.claim.roles.includes(role) || (role === "client" && c.claim.roles.includes("admin"));
}

/**
 * The id a node with this credential runs as: `id` if the claim covers it, else the claim's id,
 * or its prefix and a random suffix. Throws a RangeError when `id` or `role` is outside the claim.
 */
export function credentialIdentity(c: Credential, role: Role, id: string | undefined, entropy: Entropy = realEntropy): string {
  if (!claimGrants(c, role)) throw new RangeError(`the credential grants ${c.claim.roles.join(",")}, not ${role}`);
  if (id !== undefined) {
    if (!claimCovers(c.claim, id)) throw new RangeError(`the credential covers ${c.claim.id ?? `${c.claim.idPrefix}…`}, not ${id}`);
    return id;
  }
  if (c.claim.id !== undefined) return c.claim.id;
  const prefix = c.claim.idPrefix ?? "";
  return `${prefix}${prefix.endsWith("-") ? "" : "-"}${Buffer.from(entropy.bytes(3)).toString("hex")}`;
}

/**
 * A revocation list file: one node id or key fingerprint a line (`#` starts a comment). Read at
 * every handshake through a cheap stat; re-read when its size or mtime changes. A file that goes
 * missing or unreadable keeps the last list read (so a half-written edit cannot un-revoke).
 */
export function revocationList(file: string): () => ReadonlySet<string> {
  let stamp = "";
  let list: ReadonlySet<string> = parseRevoked(read(file));
  stamp = stampOf(file);
  return () => {
    const s = stampOf(file);
    if (s !== "" && s !== stamp) {
      try {
        list = parseRevoked(readFileSync(file, "utf8"));
        stamp = s;
      } catch {
        // keep the last good list
      }
    }
    return list;
  };
}

function stampOf(file: string): string {
  try {
    const s = statSync(file);
    return `${s.size}:${s.mtimeMs}:${s.ino}`;
  } catch {
    return "";
  }
}

export function parseRevoked(text: string): ReadonlySet<string> {
  const out = new Set<string>();
  for (const line of text.split("\n")) {
    const item = line.replace(/#.*$/, "").trim();
    if (item !== "") out.add(item);
  }
  return out;
}

/** Hex fingerprint of a credential's node key, as revocation lists name it. */
export const credentialFingerprint = (c: Credential): string => fingerprint(c.claim.key);
