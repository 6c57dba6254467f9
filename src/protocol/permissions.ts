import { AllotError, ErrorCode } from "./errors.js";
import type { Claim, ClaimRole, MessageType, Role } from "./types.js";

/**
 * Who is speaking on a connection, as the handshake established it. `verified`: proven by a
 * credential the cluster key signed; otherwise the node runs without authentication and the
 * peer is taken at its word (its hello's id and role), as before credentials existed.
 */
export interface Principal {
  readonly id: string;
  readonly roles: readonly ClaimRole[];
  readonly verified: boolean;
}

/** Who may send a type: a list of roles, or one that depends on the receiving node's role. */
type Senders = readonly ClaimRole[] | ((receiver: Role) => readonly ClaimRole[]);

const ANYONE: readonly ClaimRole[] = ["vip", "tier1", "tier2", "app", "master", "slave", "client", "admin"];
const NOBODY: readonly ClaimRole[] = [];
// Built once: the table is read for every message admitted.
const REPORTERS_AT_MASTER: readonly ClaimRole[] = ["app", "slave"];
const REPORTERS: readonly ClaimRole[] = ["app"];
const TIER2_PEERS: readonly ClaimRole[] = ["tier2"];
const MASTER_PEERS: readonly ClaimRole[] = ["master"];
const ADMIN: readonly ClaimRole[] = ["admin"];
const DRAIN_AT_APP: readonly ClaimRole[] = ["admin", "tier2", "master"];

/**
 * The one table of what each role may send (as a request or notice; answers are matched to the
 * requests that asked for them and never looked up here). Checked by the channel before any
 * role's code sees the message. Types only ever sent as answers are nobody's to send.
 */
export const SENDERS: { readonly [K in MessageType]: Senders } = {
  hello: ANYONE,
  welcome: NOBODY,
  auth: ANYONE,
  ping: ANYONE,
  pong: ANYONE,
  error: ANYONE,
  ack: NOBODY,
  // A client submits; a vip, a tier-1 or (to a master) a slave passes a client's request on.
  "task.place": ["client", "vip", "tier1", "slave"],
  "task.placed": NOBODY,
  // Whoever allocated the server tells it of the ticket.
  "task.expect": ["tier2", "master", "slave"],
  "task.expected": NOBODY,
  // The client runs its task on the server directly, or a proxying slave does for it.
  "task.run": ["client", "slave"],
  "task.cancel": ["client", "slave"],
  "task.result": NOBODY,
  // App servers report to allocators; slaves register with (report to) masters.
  "server.report": (r) => (r === "master" ? REPORTERS_AT_MASTER : REPORTERS),
  "server.load": (r) => (r === "master" ? REPORTERS_AT_MASTER : REPORTERS),
  "status.get": ["admin"],
  "attrs.set": ["admin"],
  "attrs.unset": ["admin"],
  // An operator drains a server, at its allocator or at the server itself; an allocator relays it.
  "server.drain": (r) => (r === "app" ? DRAIN_AT_APP : ADMIN),
  // A drained server leaves its allocators (about itself only, like a report).
  "server.leave": (r) => (r === "master" ? REPORTERS_AT_MASTER : REPORTERS),
  // Only another member of the receiver's own set (tier-2s, or masters) syncs entries.
  "peer.sync": (r) => (r === "tier2" ? TIER2_PEERS : r === "master" ? MASTER_PEERS : NOBODY),
  "peer.keys": (r) => (r === "tier2" ? TIER2_PEERS : r === "master" ? MASTER_PEERS : NOBODY),
  status: NOBODY,
  // A dry run: a client may ask about its own tasks, an admin about anyone's.
  "placement.explain": ["client", "admin"],
  explanation: NOBODY,
  "slave.picked": NOBODY,
  "task.submit": ["client"],
  "server.request": ["slave"],
  // A batch and a lease travel the way a client's task.place does, to a tier-2.
  "task.placeBatch": ["client", "vip", "tier1"],
  "task.placedBatch": NOBODY,
  "task.expectBatch": ["tier2"],
  "task.expectedBatch": NOBODY,
  "lease.request": ["client", "vip", "tier1"],
  "lease.granted": NOBODY,
  "lease.grant": ["tier2"],
  "lease.revoke": ["tier2"],
  "lease.release": ["client", "vip", "tier1"],
  "server.requestBatch": ["slave"],
  "server.placedBatch": NOBODY,
};

/**
 * Requests that name the client they are for (`body.client`): the first hop stamps the verified
 * client on them, and only a forwarder may pass on one naming another client.
 */
export const CLIENT_REQUESTS: ReadonlySet<MessageType> = new Set<MessageType>(["task.place", "task.placeBatch", "lease.request", "lease.release"]);

/** Roles whose principal may send a request naming another client (they pass clients' requests on). */
const FORWARDERS: ReadonlySet<ClaimRole> = new Set<ClaimRole>(["vip", "tier1", "slave"]);


export function hasRole(p: Principal | undefined, role: ClaimRole): boolean {
  return p !== undefined && p.roles.includes(role);
}

/** Whether a principal may name a client other than itself in a request (`task.place`). */
export function speaksForOthers(p: Principal): boolean {
  return p.roles.some((r) => FORWARDERS.has(r));
}

/** The id a report is about: a node reports only for itself. */
function subjectOf(type: MessageType, body: unknown): string | undefined {
  if (typeof body !== "object" || body === null) return undefined;
  if (type === "server.report") return (body as { server: { id: string } }).server.id;
  if (type === "server.load" || type === "server.leave") return (body as { id: string }).id;
  return undefined;
}

/**
 * Why `p` may not send this message to a node of role `receiver`, or undefined when it may:
 * its type is not one the principal's roles may send, or it reports for an id not its own.
 * `body` is the checked body, or undefined when the message is passed on unread.
 */
export function refusal(p: Principal, receiver: Role, type: MessageType, body: unknown): AllotError | undefined {
  const entry = SENDERS[type];
  const allowed = typeof entry === "function" ? entry(receiver) : entry;
  // A peer of a node that runs without authentication is taken at its word, and may also do
  // what an admin may (status, attrs), as before credentials existed.
  if (!p.roles.some((r) => allowed.includes(r)) && !(!p.verified && allowed.includes("admin"))) {
    const who = allowed.length === 0 ? "nobody sends it as a request" : `only ${allowed.join(", ")} may`;
    return new AllotError(ErrorCode.UNAUTHORIZED, `${p.id} (${p.roles.join(",")}) may not send ${type} to a ${receiver}: ${who}`, { retryable: false });
  }
  const subject = body === undefined ? undefined : subjectOf(type, body);
  if (subject !== undefined && subject !== p.id) {
    return new AllotError(ErrorCode.UNAUTHORIZED, `${p.id} may not report for ${subject}: a node reports only for the id its credential covers`, { retryable: false });
  }
  return undefined;
}

/** Whether a claim covers a node id: its exact id, or an id starting with its prefix. */
export function claimCovers(c: Claim, id: string): boolean {
  return c.id !== undefined ? c.id === id : c.idPrefix !== undefined && id.startsWith(c.idPrefix) && id.length > c.idPrefix.length;
}
