import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify } from "node:crypto";
import type { KeyObject } from "node:crypto";
import { checkClaim } from "../protocol/index.js";
import type { Claim, ClaimRole } from "../protocol/index.js";

/** A node's credential: its own Ed25519 key and the claim the cluster key signed for it. */
export interface Credential {
  readonly claim: Claim;
  readonly claimSig: Uint8Array;
  /** The node's private key; its public half is `claim.key`. */
  readonly key: KeyObject;
}

/** A cluster key pair: the private half signs credentials, the public half verifies them. */
export interface ClusterKey {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

/** The raw 32 bytes of an Ed25519 public key (the last 32 of its SPKI DER form). */
export function rawPublicKey(k: KeyObject): Uint8Array {
  const der = k.export({ format: "der", type: "spki" });
  return new Uint8Array(der.subarray(der.length - 32));
}

const SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

/** An Ed25519 public KeyObject from its raw 32 bytes. */
export function publicKeyFromRaw(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: "der", type: "spki" });
}

/** A key's fingerprint, as revocation lists name it: hex of the first 16 bytes of SHA-256 of the raw public key. */
export function fingerprint(raw: Uint8Array): string {
  return createHash("sha256").update(raw).digest("hex").slice(0, 32);
}

export function generateClusterKey(): ClusterKey {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return { privateKey, publicKey };
}

/** The bytes a claim's signature covers: a fixed-order JSON array, unambiguous and stable. */
export function claimBytes(c: Claim): Buffer {
  return Buffer.from(JSON.stringify(["allot-claim/1", c.roles, c.id ?? null, c.idPrefix ?? null, c.expires, Buffer.from(c.key).toString("base64")]));
}

export function verifyClaim(c: Claim, sig: Uint8Array, trusted: readonly KeyObject[]): boolean {
  const data = claimBytes(c);
  return trusted.some((k) => verify(null, data, k, sig));
}

export interface IssueOptions {
  roles: readonly ClaimRole[];
  /** Exactly one of id and idPrefix. */
  id?: string;
  idPrefix?: string;
  /** Expiry, ms since the epoch. */
  expires: number;
}

/** A new node key pair and a claim for it, signed by the cluster's private key. */
export function issueCredential(clusterKey: KeyObject, o: IssueOptions): Credential {
  if (o.roles.length === 0) throw new RangeError("a credential needs at least one role");
  if ((o.id === undefined) === (o.idPrefix === undefined)) throw new RangeError("a credential covers exactly one of an id and an id prefix");
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const claim: Claim = { roles: [...new Set(o.roles)], expires: o.expires, key: rawPublicKey(publicKey), ...(o.id === undefined ? {} : { id: o.id }), ...(o.idPrefix === undefined ? {} : { idPrefix: o.idPrefix }) };
  const checked = checkClaim(claim);
  if (checked instanceof Error) throw new RangeError(checked.message);
  return { claim: checked, claimSig: new Uint8Array(sign(null, claimBytes(checked), clusterKey)), key: privateKey };
}

const CREDENTIAL_FORMAT = "allot-credential/1";

/** A credential as a file's text (JSON; the node key as PKCS#8 PEM). Keep it secret: it holds a private key. */
export function credentialToText(c: Credential): string {
  const claim = { ...c.claim, key: Buffer.from(c.claim.key).toString("base64") };
  return `${JSON.stringify({ format: CREDENTIAL_FORMAT, claim, claimSig: Buffer.from(c.claimSig).toString("base64"), key: c.key.export({ format: "pem", type: "pkcs8" }).toString() }, null, 2)}\n`;
}

const b64 = (x: unknown, what: string): Buffer => {
  if (typeof x !== "string" || !/^[A-Za-z0-9+/]+=*$/.test(x)) throw new TypeError(`${what}: expected base64`);
  return Buffer.from(x, "base64");
};

/** Reads a credential file's text; throws a TypeError saying what is wrong with it. */
export function credentialFromText(text: string): Credential {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch {
    throw new TypeError("not a credential file (expected JSON written by allot keys issue)");
  }
  if (typeof o !== "object" || o === null || (o as { format?: unknown }).format !== CREDENTIAL_FORMAT) throw new TypeError(`not a credential file (expected format ${CREDENTIAL_FORMAT})`);
  const f = o as { claim?: unknown; claimSig?: unknown; key?: unknown };
  const rawClaim = typeof f.claim === "object" && f.claim !== null ? (f.claim as Record<string, unknown>) : {};
  const claim = checkClaim({ ...rawClaim, key: b64(rawClaim.key, "claim.key") });
  if (claim instanceof Error) throw new TypeError(claim.message);
  const claimSig = b64(f.claimSig, "claimSig");
  if (claimSig.length !== 64) throw new TypeError("claimSig: expected a 64-byte signature");
  if (typeof f.key !== "string") throw new TypeError("key: expected a PKCS#8 PEM private key");
  let key: KeyObject;
  try {
    key = createPrivateKey(f.key);
  } catch {
    throw new TypeError("key: not a readable private key");
  }
  if (key.asymmetricKeyType !== "ed25519") throw new TypeError("key: expected an Ed25519 key");
  if (!Buffer.from(rawPublicKey(createPublicKey(key))).equals(Buffer.from(claim.key))) throw new TypeError("key: does not match the key the claim names");
  return { claim, claimSig: new Uint8Array(claimSig), key };
}

/** Reads a cluster public key (SPKI PEM); throws a TypeError saying what is wrong. */
export function clusterPubFromText(text: string): KeyObject {
  let k: KeyObject;
  try {
    k = createPublicKey(text);
  } catch {
    throw new TypeError("not a public key (expected the PEM written by allot keys init)");
  }
  if (k.asymmetricKeyType !== "ed25519") throw new TypeError("expected an Ed25519 public key");
  return k;
}

/** Reads a cluster private key (PKCS#8 PEM); throws a TypeError saying what is wrong. */
export function clusterKeyFromText(text: string): KeyObject {
  let k: KeyObject;
  try {
    k = createPrivateKey(text);
  } catch {
    throw new TypeError("not a private key (expected the PEM written by allot keys init)");
  }
  if (k.asymmetricKeyType !== "ed25519") throw new TypeError("expected an Ed25519 private key");
  return k;
}
