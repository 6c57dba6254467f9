import type { KeyObject } from "node:crypto";
import { generateClusterKey, issueCredential } from "../../src/index.js";
import type { ClaimRole, Credential } from "../../src/index.js";
import { createAuthenticator } from "../../src/transport/index.js";
import type { Transcript } from "../../src/transport/index.js";
import type { Message, Proof, Role } from "../../src/protocol/index.js";
import type { RawClient } from "./raw-client.js";

const DAY = 86_400_000;

/** A throwaway cluster key, and credentials it signs, in memory. */
export interface TestCluster {
  pub: KeyObject;
  key: KeyObject;
  issue(roles: ClaimRole[], who: string | { idPrefix: string }, expires?: number): Credential;
  /** The config fragment a node needs to run authenticated with `c`. */
  auth(c: Credential): { credentials: Credential; clusterPub: KeyObject[] };
}

export function testCluster(): TestCluster {
  const { privateKey, publicKey } = generateClusterKey();
  return {
    pub: publicKey,
    key: privateKey,
    issue: (roles, who, expires = Date.now() + DAY) => issueCredential(privateKey, { roles, expires, ...(typeof who === "string" ? { id: who } : who) }),
    auth: (c) => ({ credentials: c, clusterPub: [publicKey] }),
  };
}

/** The dialler's proof for a handshake, as a node with credential `c` would make it. */
export function proveAsDialer(c: Credential, trusted: KeyObject, t: Transcript): Proof {
  return createAuthenticator({ credential: c, trusted: [trusted], now: Date.now }).prove(t, "dialer");
}

/**
 * Runs the dialler's side of the handshake by hand on a raw client: hello with a fresh nonce,
 * then the proof of `c` over the transcript. Resolves with the auth's answer and the transcript.
 */
export async function rawHandshake(raw: RawClient, role: Role, c: Credential, trusted: KeyObject): Promise<{ answer: Message; transcript: Transcript; proof: Proof }> {
  const nonce = new Uint8Array(32).map(() => Math.floor(Math.random() * 256));
  const welcome = await raw.call("hello", { node: raw.node, role, nonce });
  if (welcome.type !== "welcome" || !welcome.body.nonce) throw new Error(`hello answered ${welcome.type}: ${JSON.stringify(welcome.body)}`);
  const transcript: Transcript = { dialerNonce: nonce, acceptorNonce: welcome.body.nonce, dialerId: raw.node, acceptorId: welcome.body.node };
  const proof = proveAsDialer(c, trusted, transcript);
  const answer = await raw.call("auth", { proof });
  return { answer, transcript, proof };
}
