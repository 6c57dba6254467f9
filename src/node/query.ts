import { randomBytes } from "node:crypto";
import { AllotError, ErrorCode } from "../protocol/index.js";
import type { AttrTable, Attrs, Bodies, Explanation, Message, MessageType, StatusBody, Task } from "../protocol/index.js";
import { DEFAULT_LIMITS } from "../transport/index.js";
import { loadTls } from "./tls.js";
import type { TlsConfig } from "./tls.js";
import { DEFAULT_PEER, Peer, createAuthenticator, createWsTransport } from "../transport/index.js";
import type { Credential, Transport } from "../transport/index.js";
import type { KeyObject } from "node:crypto";
import { credentialIdentity } from "./credentials.js";

const silent = { warn: () => {}, debug: () => {} };

export interface QueryOptions {
  timeoutMs?: number;
  transport?: Transport;
  /** TLS for the WebSocket connection, as a node's `tls` (not with `transport`): `ca` to verify the node, `cert`/`key` to present. */
  tls?: TlsConfig;
  /** The operator's credential (an admin's, for status and attrs) and the cluster keys to verify the node with. */
  credentials?: Credential;
  clusterPub?: readonly KeyObject[];
}

/** One request to one node over a connection opened for it, for the operator commands. */
async function ask<T extends MessageType>(url: string, type: T, body: Bodies[T], options: QueryOptions): Promise<Message> {
  const timeoutMs = options.timeoutMs ?? 5000;
  if (options.tls !== undefined && !url.startsWith("wss://")) throw new TypeError(`${JSON.stringify(url)} is not a wss:// URL, and a query given tls never dials in the clear`);
  const c = options.credentials;
  const node = c ? credentialIdentity(c, "client", undefined) : `cli-${randomBytes(3).toString("hex")}`;
  const auth = c ? createAuthenticator({ credential: c, trusted: options.clusterPub ?? [], now: Date.now }) : undefined;
  const peer = new Peer(
    url,
    options.transport ?? createWsTransport(DEFAULT_LIMITS, options.tls === undefined ? undefined : loadTls(options.tls, false)),
    {
      node,
      ...(auth ? { auth } : {}),
      role: "client",
      maxFrameBytes: 64 * 1024 * 1024,
      maxInFlight: 16,
      requestTimeoutMs: timeoutMs,
      handshakeMs: timeoutMs,
      heartbeatMs: 0,
      now: Date.now,
      log: silent,
      onMessage: (m, ch) => ch.replyError(m, new AllotError(ErrorCode.UNKNOWN_TYPE, "an operator command serves nothing")),
    },
    { ...DEFAULT_PEER, random: Math.random },
  );
  try {
    return await peer.request(type, body, timeoutMs);
  } finally {
    peer.close();
  }
}

/**
 * Asks a node for its status: its own view, tagged with its role (an allocator's database, a
 * forwarder's members, a slave's masters and queue, an app server's figures and tasks).
 */
export async function queryStatus(url: string, options: QueryOptions = {}): Promise<StatusBody> {
  const answer = await ask(url, "status.get", {}, options);
  if (answer.type !== "status") throw new AllotError(ErrorCode.INVALID, `${url} answered ${answer.type} to status.get`);
  return answer.body;
}

/** Sets attributes of an entry at a node: `server` at the app server itself. */
export async function setAttrs(url: string, table: AttrTable, id: string, attrs: Attrs, options: QueryOptions = {}): Promise<void> {
  const answer = await ask(url, "attrs.set", { table, id, attrs }, options);
  if (answer.type !== "ack") throw new AllotError(ErrorCode.INVALID, `${url} answered ${answer.type} to attrs.set`);
}

/** Removes attributes of an entry at a node, where `setAttrs` would set them. */
export async function unsetAttrs(url: string, table: AttrTable, id: string, keys: readonly string[], options: QueryOptions = {}): Promise<void> {
  const answer = await ask(url, "attrs.unset", { table, id, keys: [...keys] }, options);
  if (answer.type !== "ack") throw new AllotError(ErrorCode.INVALID, `${url} answered ${answer.type} to attrs.unset`);
}

/**
 * Asks a tier-2 or a master for a dry run of one placement of `task`: what it would choose and
 * why, reserving nothing. `client`: whose stored attributes apply (an admin's question; a verified
 * client is always asked about as itself).
 */
export async function queryExplain(url: string, task: Task, client: string | undefined, options: QueryOptions = {}): Promise<Explanation> {
  const answer = await ask(url, "placement.explain", { task, ...(client === undefined ? {} : { client }) }, options);
  if (answer.type !== "explanation") throw new AllotError(ErrorCode.INVALID, `${url} answered ${answer.type} to placement.explain`);
  return answer.body;
}

/**
 * Drains app server `id`: asked of a tier-2 or a master (which relays it to the server) or of the
 * app server itself. Resolves once the server has started draining.
 */
export async function drainServer(url: string, id: string, options: QueryOptions = {}): Promise<void> {
  const answer = await ask(url, "server.drain", { id }, options);
  if (answer.type !== "ack") throw new AllotError(ErrorCode.INVALID, `${url} answered ${answer.type} to server.drain`);
}
