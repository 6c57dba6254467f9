import { sign, verify } from "node:crypto";
import type { KeyObject } from "node:crypto";
import { checkClaim } from "../protocol/index.js";
import { EXPIRY_SKEW_MS, fingerprint, publicKeyFromRaw, verifyClaim } from "../transport/index.js";
import type { Credential } from "../transport/index.js";

/**
 * A short-lived bearer token for the monitoring port (`allot keys token`): an admin credential's
 * claim, the cluster key's signature over it, an expiry, and the credential key's signature over
 * all of that. A node verifies it with the cluster public keys it already trusts: the claim was
 * signed by the cluster and grants admin, the token was signed by the key the claim names (so
 * whoever holds the token held the credential), and neither has expired. It carries no private
 * key: a leaked token is good until it expires (or its credential is revoked), no longer.
 *
 * Form: `allot1.PAYLOAD.SIG`, both parts base64url; PAYLOAD is JSON.
 */
const PREFIX = "allot1";
const SIGNED = "allot-admin-token/1.";
/** The longest a token may live: a longer one is refused however it was signed. */
export const MAX_TOKEN_TTL_MS = 7 * 86_400_000;

export function createAdminToken(c: Credential, ttlMs: number, now: number): string {
  if (!c.claim.roles.includes("admin")) throw new RangeError(`the credential grants ${c.claim.roles.join(",")}, not admin: only an admin credential signs monitoring tokens`);
  if (!(ttlMs > 0) || ttlMs > MAX_TOKEN_TTL_MS) throw new RangeError(`a token lives between 1 ms and ${MAX_TOKEN_TTL_MS / 86_400_000} days, got ${ttlMs} ms`);
  const exp = Math.min(now + ttlMs, c.claim.expires);
  const claim = { ...c.claim, key: Buffer.from(c.claim.key).toString("base64") };
  const payload = Buffer.from(JSON.stringify({ claim, claimSig: Buffer.from(c.claimSig).toString("base64"), exp })).toString("base64url");
  const sig = sign(null, Buffer.from(SIGNED + payload), c.key).toString("base64url");
  return `${PREFIX}.${payload}.${sig}`;
}

export interface TokenCheck {
  trusted: readonly KeyObject[];
  now: () => number;
  revoked?: () => ReadonlySet<string>;
}

/** Who the token speaks for (an admin's id) and until when (the token's or its credential's end, whichever is first), or why it is refused. */
export function verifyAdminToken(token: string, o: TokenCheck): { id: string; expiresAt: number } | { refused: string } {
  const parts = token.split(".");
  if (parts.length !== 3 || parts[0] !== PREFIX) return { refused: "not an allot token (expected allot1.PAYLOAD.SIG, from allot keys token)" };
  const [, payload, sig] = parts as [string, string, string];
  let body: { claim?: Record<string, unknown>; claimSig?: unknown; exp?: unknown };
  try {
    body = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as typeof body;
  } catch {
    return { refused: "token payload is not JSON" };
  }
  if (typeof body !== "object" || body === null || typeof body.claim !== "object" || body.claim === null || typeof body.claimSig !== "string" || typeof body.exp !== "number") {
    return { refused: "token payload lacks claim, claimSig or exp" };
  }
  const claim = checkClaim({ ...body.claim, key: typeof body.claim["key"] === "string" ? Buffer.from(body.claim["key"], "base64") : undefined });
  if (claim instanceof Error) return { refused: `token claim: ${claim.message}` };
  const now = o.now();
  if (!verifyClaim(claim, Buffer.from(body.claimSig, "base64"), o.trusted)) return { refused: "token's credential is not signed by a trusted cluster key" };
  if (!claim.roles.includes("admin")) return { refused: `token's credential grants ${claim.roles.join(",")}, not admin` };
  if (now - EXPIRY_SKEW_MS > claim.expires) return { refused: `token's credential expired at ${new Date(claim.expires).toISOString()}` };
  if (now > body.exp) return { refused: `token expired at ${new Date(body.exp).toISOString()}` };
  if (body.exp - now > MAX_TOKEN_TTL_MS) return { refused: "token lives longer than a token may" };
  let good = false;
  try {
    good = verify(null, Buffer.from(SIGNED + payload), publicKeyFromRaw(claim.key), Buffer.from(sig, "base64url"));
  } catch {
    good = false;
  }
  if (!good) return { refused: "token signature does not verify" };
  const id = claim.id ?? `${claim.idPrefix ?? ""}…`;
  const revoked = o.revoked?.();
  if (revoked && ((claim.id !== undefined && revoked.has(claim.id)) || revoked.has(fingerprint(claim.key)))) return { refused: "token's credential is revoked" };
  return { id, expiresAt: Math.min(body.exp, claim.expires + EXPIRY_SKEW_MS) };
}
