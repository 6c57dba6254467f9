import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

// Tickets are drawn from a pool of random bytes refilled in bulk: one system RNG call per 4096 tickets.
const TICKET_BYTES = 12;
let pool = Buffer.alloc(0);
let offset = 0;

/** An unguessable one-time ticket that lets one client run one task on one server (for a server that gave no ticket key). */
export function newTicket(): string {
  if (offset + TICKET_BYTES > pool.length) {
    pool = randomBytes(TICKET_BYTES * 4096);
    offset = 0;
  }
  const t = pool.toString("base64url", offset, offset + TICKET_BYTES);
  offset += TICKET_BYTES;
  return t;
}

/** A new key for an app server's self-checking tickets: it goes to its allocators, in its reports. */
export function newTicketKey(): string {
  return randomBytes(32).toString("base64url");
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
  /** Who issued it: an allocator's id and incarnation, under which `seq` counts. */
  issuer: string;
  /** The issuer's count of tickets for this server: never the same twice, so the server can tell a replay. */
  seq: number;
}

/** How long a ticket is good for when its task's deadline is later: only until the client's run arrives. */
export const TICKET_TTL_MS = 300_000;

const PREFIX = "s1~";
const MAC_CHARS = 22; // 128 bits of HMAC-SHA256, base64url

function mac(serverKey: string, f: TicketFields): string {
  return createHmac("sha256", serverKey)
    .update(`${f.issuer}\u0000${f.seq}\u0000${f.expiresAt}\u0000${f.serverId}\u0000${f.client}\u0000${f.taskId}\u0000${f.key}`)
    .digest("base64url")
    .slice(0, MAC_CHARS);
}

/** A ticket the server checks by itself: `s1~ISSUER~SEQ~EXPIRY~MAC` (issuer base64url, numbers base 36). */
export function signTicket(serverKey: string, f: TicketFields): string {
  return `${PREFIX}${Buffer.from(f.issuer).toString("base64url")}~${f.seq.toString(36)}~${f.expiresAt.toString(36)}~${mac(serverKey, f)}`;
}

/** The issuer, count and expiry a self-checking ticket claims (before any check), or undefined for another kind. */
export function parseTicket(ticket: string): { issuer: string; seq: number; expiresAt: number; mac: string } | undefined {
  if (!ticket.startsWith(PREFIX)) return undefined;
  const parts = ticket.slice(PREFIX.length).split("~");
  if (parts.length !== 4) return undefined;
  const [issuer, seq, exp, m] = parts as [string, string, string, string];
  const n = Number.parseInt(seq, 36);
  const e = Number.parseInt(exp, 36);
  if (!/^[0-9a-z]{1,11}$/.test(seq) || !/^[0-9a-z]{1,11}$/.test(exp) || !Number.isSafeInteger(n) || !Number.isSafeInteger(e) || m.length !== MAC_CHARS) return undefined;
  return { issuer: Buffer.from(issuer, "base64url").toString(), seq: n, expiresAt: e, mac: m };
}

/** Whether `ticket` was issued, under this server's key, for exactly these task, client and server. */
export function checkTicket(serverKey: string, ticket: string, f: Omit<TicketFields, "issuer" | "seq" | "expiresAt">): { issuer: string; seq: number; expiresAt: number } | undefined {
  const p = parseTicket(ticket);
  if (!p) return undefined;
  const want = Buffer.from(mac(serverKey, { ...f, issuer: p.issuer, seq: p.seq, expiresAt: p.expiresAt }));
  const got = Buffer.from(p.mac);
  return want.length === got.length && timingSafeEqual(want, got) ? { issuer: p.issuer, seq: p.seq, expiresAt: p.expiresAt } : undefined;
}

/** An allocator's side: counts the tickets it issues per server, under its own incarnation. */
export class TicketIssuer {
  private readonly seqs = new Map<string, number>();
  readonly issuer: string;

  constructor(id: string, incarnation: number) {
    this.issuer = `${id}@${incarnation.toString(36)}`;
  }

  /** A self-checking ticket for a server that gave a key; a random one for a server that gave none. */
  issue(server: { id: string; ticketKey?: string | undefined }, f: Omit<TicketFields, "issuer" | "seq" | "serverId">): string {
    if (server.ticketKey === undefined) return newTicket();
    const seq = (this.seqs.get(server.id) ?? 0) + 1;
    this.seqs.set(server.id, seq);
    return signTicket(server.ticketKey, { ...f, serverId: server.id, issuer: this.issuer, seq });
  }
}
