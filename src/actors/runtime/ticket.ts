import { randomBytes } from "node:crypto";

// Tickets are drawn from a pool of random bytes refilled in bulk: one system RNG call per 4096 tickets.
const TICKET_BYTES = 12;
let pool = Buffer.alloc(0);
let offset = 0;

/** An unguessable one-time ticket that lets one client run one task on one server. */
export function newTicket(): string {
  if (offset + TICKET_BYTES > pool.length) {
    pool = randomBytes(TICKET_BYTES * 4096);
    offset = 0;
  }
  const t = pool.toString("base64url", offset, offset + TICKET_BYTES);
  offset += TICKET_BYTES;
  return t;
}
