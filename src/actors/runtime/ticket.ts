import { createHmac, createSecretKey } from "node:crypto";
import type { KeyObject } from "node:crypto";
import { realEntropy } from "../../transport/index.js";
import type { Entropy } from "../../transport/index.js";

const TICKET_BYTES = 12;
const TICKETS_PER_DRAW = 4096;

/**
 * Random tickets drawn from one entropy source, from a pool refilled in bulk: one RNG call per
 * 4096 tickets. One per role context, never shared between nodes, so a test's seeded node draws
 * only from its own stream.
 */
export class TicketSource {
  private pool: Buffer = Buffer.alloc(0);
  private offset = 0;

  constructor(private readonly entropy: Entropy = realEntropy) {}

  /** An unguessable one-time ticket that lets one client run one task on one server (for a server that gave no ticket key). */
  ticket(): string {
    if (this.offset + TICKET_BYTES > this.pool.length) {
      const b = this.entropy.bytes(TICKET_BYTES * TICKETS_PER_DRAW);
      this.pool = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
      this.offset = 0;
    }
    const t = this.pool.toString("base64url", this.offset, this.offset + TICKET_BYTES);
    this.offset += TICKET_BYTES;
    return t;
  }
}

/** A new key for an app server's self-checking tickets: it goes to its allocators, in its reports. */
export function newTicketKey(entropy: Entropy = realEntropy): string {
  return Buffer.from(entropy.bytes(32)).toString("base64url");
}

/** What a self-checking ticket names, and so what its MAC covers. */
export interface TicketFields {
  taskId: string;
  key: string;
  serverId: string;
  /** The client the ticket is for: the run must come from it (or from a slave on its behalf). */
  client: string;
  /** Ms since the epoch. */
  expiresAt: number;
  /** Who issued it: an allocator's id and incarnation (base64url), under which `seq` counts. */
  issuer: string;
  /** The issuer's count of tickets for this server: never the same twice, so the server can tell a replay. */
  seq: number;
}

/** How long a ticket is good for when its task's deadline is later: only until the client's run arrives. */
export const TICKET_TTL_MS = 300_000;

/**
 * A ticket's expiry is a reading of its allocator's clock, sealed under the MAC, and the server
 * checks it against its own: a ticket is still good this long after it, so clocks that differ by
 * seconds do not refuse fresh tickets. A late ticket is still single-use (the replay window).
 */
export const TICKET_SKEW_MS = 30_000;

const PREFIX = "s1~";
const MAC_CHARS = 22; // 128 bits of HMAC-SHA256, base64url

// The HMAC key object of each ticket key, made once: a server has one, an allocator one per server.
const keyObjects = new Map<string, KeyObject>();
function keyObject(serverKey: string): KeyObject {
  let k = keyObjects.get(serverKey);
  if (k === undefined) {
    if (keyObjects.size >= 100_000) keyObjects.clear();
    k = createSecretKey(Buffer.from(serverKey));
    keyObjects.set(serverKey, k);
  }
  return k;
}

function mac(serverKey: string, f: TicketFields): string {
  return createHmac("sha256", keyObject(serverKey))
    .update(`${f.issuer}\u0000${f.seq}\u0000${f.expiresAt}\u0000${f.serverId}\u0000${f.client}\u0000${f.taskId}\u0000${f.key}`)
    .digest("base64url")
    .slice(0, MAC_CHARS);
}

/** `s1~ISSUER~SEQ~EXPIRY~MAC`: the issuer a token (base64url), the numbers base 36. */
export function signTicket(serverKey: string, f: TicketFields): string {
  return `${PREFIX}${f.issuer}~${f.seq.toString(36)}~${f.expiresAt.toString(36)}~${mac(serverKey, f)}`;
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;
const BASE36 = /^[0-9a-z]{1,11}$/;

/** The issuer, count and expiry a self-checking ticket claims (before any check), or undefined for another kind. */
export function parseTicket(ticket: string): { issuer: string; seq: number; expiresAt: number; mac: string } | undefined {
  if (!ticket.startsWith(PREFIX)) return undefined;
  const i1 = ticket.indexOf("~", PREFIX.length);
  const i2 = i1 < 0 ? -1 : ticket.indexOf("~", i1 + 1);
  const i3 = i2 < 0 ? -1 : ticket.indexOf("~", i2 + 1);
  if (i3 < 0 || ticket.length - i3 - 1 !== MAC_CHARS) return undefined;
  const issuer = ticket.slice(PREFIX.length, i1);
  const seq = ticket.slice(i1 + 1, i2);
  const exp = ticket.slice(i2 + 1, i3);
  if (issuer.length === 0 || !BASE64URL.test(issuer) || !BASE36.test(seq) || !BASE36.test(exp)) return undefined;
  const n = Number.parseInt(seq, 36);
  const e = Number.parseInt(exp, 36);
  if (!Number.isSafeInteger(n) || !Number.isSafeInteger(e)) return undefined;
  return { issuer, seq: n, expiresAt: e, mac: ticket.slice(i3 + 1) };
}

/** Equal strings of the MAC's length, compared in time that does not depend on where they differ. */
function sameMac(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return d === 0;
}

/** Whether `ticket` was issued, under this server's key, for exactly these task, client and server. */
export function checkTicket(serverKey: string, ticket: string, f: Omit<TicketFields, "issuer" | "seq" | "expiresAt">): { issuer: string; seq: number; expiresAt: number } | undefined {
  const p = parseTicket(ticket);
  if (!p) return undefined;
  const want = mac(serverKey, { taskId: f.taskId, key: f.key, serverId: f.serverId, client: f.client, issuer: p.issuer, seq: p.seq, expiresAt: p.expiresAt });
  return sameMac(want, p.mac) ? { issuer: p.issuer, seq: p.seq, expiresAt: p.expiresAt } : undefined;
}

/** An allocator's side: counts the tickets it issues per server, under its own incarnation. */
export class TicketIssuer {
  private readonly seqs = new Map<string, number>();
  readonly issuer: string;

  constructor(
    id: string,
    incarnation: number,
    /** Where tickets for key-less servers come from: the role context's own source. */
    private readonly source: TicketSource = new TicketSource(),
  ) {
    // Encoded once, as every ticket carries it: an id may hold any character, a ticket's fields no "~".
    this.issuer = Buffer.from(`${id}@${incarnation.toString(36)}`).toString("base64url");
  }

  /** A self-checking ticket for a server that gave a key; a random one for a server that gave none. */
  issue(server: { id: string; ticketKey?: string | undefined }, f: Omit<TicketFields, "issuer" | "seq" | "serverId">): string {
    if (server.ticketKey === undefined) return this.source.ticket();
    const seq = (this.seqs.get(server.id) ?? 0) + 1;
    this.seqs.set(server.id, seq);
    return signTicket(server.ticketKey, { ...f, serverId: server.id, issuer: this.issuer, seq });
  }
}

/** What a lease ticket names, and so what its MAC covers. */
export interface LeaseTicketFields {
  /** Base64url characters only (a tier-2 makes them so): the ticket carries it as it is. */
  leaseId: string;
  /** The client the lease is for: every run under it must come from that client. */
  client: string;
  serverId: string;
  /** Runs the lease admits at once. */
  slots: number;
  /** A reading of the issuing tier-2's clock, ms since the epoch: a renewal's ticket differs by it. */
  expiresAt: number;
}

// A prefix of its own: a lease ticket never passes for a per-task one, nor the other way round.
const LEASE_PREFIX = "l1~";

function leaseMac(serverKey: string, f: LeaseTicketFields): string {
  return createHmac("sha256", keyObject(serverKey))
    .update(`lease\u0000${f.leaseId}\u0000${f.slots}\u0000${f.expiresAt}\u0000${f.serverId}\u0000${f.client}`)
    .digest("base64url")
    .slice(0, MAC_CHARS);
}

/** `l1~LEASE~SLOTS~EXPIRY~MAC`: the lease id base64url, the numbers base 36. */
export function signLeaseTicket(serverKey: string, f: LeaseTicketFields): string {
  if (!BASE64URL.test(f.leaseId)) throw new TypeError(`a lease id is base64url characters, got ${JSON.stringify(f.leaseId)}`);
  return `${LEASE_PREFIX}${f.leaseId}~${f.slots.toString(36)}~${f.expiresAt.toString(36)}~${leaseMac(serverKey, f)}`;
}

/** Whether a ticket is of the lease kind (by its prefix alone: nothing is checked). */
export const isLeaseTicket = (ticket: string): boolean => ticket.startsWith(LEASE_PREFIX);

/** The lease id, slots and expiry a lease ticket claims (before any check), or undefined for another kind or a malformed one. */
export function parseLeaseTicket(ticket: string): { leaseId: string; slots: number; expiresAt: number; mac: string } | undefined {
  if (!ticket.startsWith(LEASE_PREFIX)) return undefined;
  const i1 = ticket.indexOf("~", LEASE_PREFIX.length);
  const i2 = i1 < 0 ? -1 : ticket.indexOf("~", i1 + 1);
  const i3 = i2 < 0 ? -1 : ticket.indexOf("~", i2 + 1);
  if (i3 < 0 || ticket.length - i3 - 1 !== MAC_CHARS) return undefined;
  const leaseId = ticket.slice(LEASE_PREFIX.length, i1);
  const slots = ticket.slice(i1 + 1, i2);
  const exp = ticket.slice(i2 + 1, i3);
  if (leaseId.length === 0 || !BASE64URL.test(leaseId) || !BASE36.test(slots) || !BASE36.test(exp)) return undefined;
  const n = Number.parseInt(slots, 36);
  const e = Number.parseInt(exp, 36);
  if (!Number.isSafeInteger(n) || n < 1 || !Number.isSafeInteger(e)) return undefined;
  return { leaseId, slots: n, expiresAt: e, mac: ticket.slice(i3 + 1) };
}

/** Whether `ticket` is a lease ticket signed under this server's key for exactly this lease, client, server and slots; its sealed expiry if so. */
export function checkLeaseTicket(serverKey: string, ticket: string, f: Omit<LeaseTicketFields, "expiresAt">): { expiresAt: number } | undefined {
  const p = parseLeaseTicket(ticket);
  if (!p || p.leaseId !== f.leaseId || p.slots !== f.slots) return undefined;
  const want = leaseMac(serverKey, { ...f, expiresAt: p.expiresAt });
  return sameMac(want, p.mac) ? { expiresAt: p.expiresAt } : undefined;
}

/** The lease id a lease ticket names (nothing checked, nothing parsed past it: a run's hot path), or undefined. */
export function leaseIdOf(ticket: string): string | undefined {
  if (!ticket.startsWith(LEASE_PREFIX)) return undefined;
  const end = ticket.indexOf("~", LEASE_PREFIX.length);
  return end <= LEASE_PREFIX.length ? undefined : ticket.slice(LEASE_PREFIX.length, end);
}
