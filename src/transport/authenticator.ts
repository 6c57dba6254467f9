import { sign, verify } from "node:crypto";
import { realEntropy } from "./timers.js";
import type { Entropy } from "./timers.js";
import type { KeyObject } from "node:crypto";
import { AllotError, ErrorCode, PROTOCOL_VERSION, claimCovers } from "../protocol/index.js";
import type { Principal, Proof, Role } from "../protocol/index.js";
import { fingerprint, publicKeyFromRaw, verifyClaim } from "./credentials.js";
import type { Credential } from "./credentials.js";

/** Which end of a connection signs: the two signatures of one handshake differ, so neither can be reflected. */
export type Side = "dialer" | "acceptor";

/** What both signatures of one handshake cover: both challenges and both node ids. */
export interface Transcript {
  dialerNonce: Uint8Array;
  acceptorNonce: Uint8Array;
  dialerId: string;
  acceptorId: string;
}

/**
 * Decides who is speaking on a connection, once, in its handshake: proves this node to the peer
 * and verifies the peer's proof, yielding its principal.
 */
export interface Authenticator {
  /** This node's proof for a handshake, as `side`. */
  prove(t: Transcript, side: Side): Proof;
  /** The peer's principal, or UNAUTHORIZED saying why its proof does not hold. */
  verify(proof: Proof, t: Transcript, side: Side, peer: { id: string; role: Role }): Principal | AllotError;
}

/** Clock skew tolerated when checking expiry: a credential is accepted until this long after it expires. */
export const EXPIRY_SKEW_MS = 60_000;

export interface AuthenticatorOptions {
  credential: Credential;
  /** Cluster public keys whose signature on a claim is believed (several while keys rotate). */
  trusted: readonly KeyObject[];
  now: () => number;
  /** Revoked node ids and key fingerprints; read at every handshake. */
  revoked?: () => ReadonlySet<string>;
  skewMs?: number;
}

/** A fresh challenge. */
export function newNonce(entropy: Entropy = realEntropy): Uint8Array {
  return new Uint8Array(entropy.bytes(32));
}

/** The bytes a handshake signature covers: fixed-order JSON, so no two transcripts share them. */
function transcriptBytes(t: Transcript, side: Side): Buffer {
  const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
  return Buffer.from(JSON.stringify(["allot-auth", PROTOCOL_VERSION, side, hex(t.dialerNonce), hex(t.acceptorNonce), t.dialerId, t.acceptorId]));
}

const refuse = (why: string): AllotError => new AllotError(ErrorCode.UNAUTHORIZED, why, { retryable: false });

/** Ed25519 challenge–response over credentials the cluster key signed. */
export function createAuthenticator(o: AuthenticatorOptions): Authenticator {
  if (o.trusted.length === 0) throw new TypeError("an authenticator needs at least one trusted cluster public key");
  const skew = o.skewMs ?? EXPIRY_SKEW_MS;
  const { claim, claimSig, key } = o.credential;
  return {
    prove: (t, side) => ({ claim, claimSig, sig: new Uint8Array(sign(null, transcriptBytes(t, side), key)) }),
    verify(proof, t, side, peer) {
      const c = proof.claim;
      if (!verifyClaim(c, proof.claimSig, o.trusted)) return refuse("credential not signed by a trusted cluster key");
      if (o.now() - skew > c.expires) return refuse(`credential expired at ${new Date(c.expires).toISOString()}`);
      if (!claimCovers(c, peer.id)) return refuse(`credential covers ${c.id ?? `${c.idPrefix}*`}, not ${peer.id}`);
      // An admin's tools (status, attrs) speak as a client.
      if (!c.roles.includes(peer.role) && !(peer.role === "client" && c.roles.includes("admin"))) return refuse(`credential grants ${c.roles.join(",")}, not ${peer.role}`);
      const revoked = o.revoked?.();
      if (revoked && (revoked.has(peer.id) || revoked.has(fingerprint(c.key)))) return refuse(`credential of ${peer.id} is revoked`);
      let good: boolean;
      try {
        good = verify(null, transcriptBytes(t, side), publicKeyFromRaw(c.key), proof.sig);
      } catch {
        good = false;
      }
      if (!good) return refuse("handshake signature does not verify (a replayed or forged hello?)");
      return { id: peer.id, roles: c.roles, verified: true };
    },
  };
}
