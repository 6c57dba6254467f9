import { AllotError, ErrorCode } from "../../protocol/index.js";
import type { Bodies, ClientRef, LeaseGrant, Message, Task } from "../../protocol/index.js";
import { effectiveTask } from "../../policies/index.js";
import type { Policy, PolicyContext } from "../../policies/index.js";
import { freeSlots } from "../../state/index.js";
import type { ServerEntry, ServerTable } from "../../state/index.js";
import type { Channel } from "../../transport/index.js";
import type { RoleContext } from "./context.js";
import { LeaseBook, classFit, stillHolds } from "./lease-book.js";
import type { BookLease, DropReason } from "./lease-book.js";
import { leaseClassKey } from "./lease-class.js";
import { measuredAllocate } from "./measured-allocate.js";
import type { Tables } from "./peer-sync.js";
import type { Registry } from "./registry.js";
import { signLeaseTicket } from "./ticket.js";

/** See LeaseConfig.maxLeaseSlotsPerClient. */
export const DEFAULT_MAX_LEASE_SLOTS_PER_CLIENT = 1024;
/** See LeaseConfig.maxLeaseMs. */
export const DEFAULT_MAX_LEASE_MS = 60_000;
/** Servers one lease request spreads over, at most: a request's cost stays bounded whatever `slots` it asks. */
export const MAX_LEASE_SERVERS = 64;
/** How often leases are swept for expiry and for servers that no longer hold them, ms. */
export const LEASE_SWEEP_MS = 250;

export interface LeaseConfig {
  /** Slots one client may hold under leases at this tier-2; a request past it is refused OVERLOADED (not retryable). Default 1024. */
  maxLeaseSlotsPerClient?: number;
  /** The longest lease this tier-2 grants, ms: a longer `ttlMs` is clamped to it. Default 60 000. */
  maxLeaseMs?: number;
}

export function validateLeaseConfig(c: LeaseConfig): void {
  if (c.maxLeaseSlotsPerClient !== undefined && !(Number.isSafeInteger(c.maxLeaseSlotsPerClient) && c.maxLeaseSlotsPerClient >= 0)) throw new RangeError(`maxLeaseSlotsPerClient must be a whole number >= 0, got ${c.maxLeaseSlotsPerClient}`);
  if (c.maxLeaseMs !== undefined && !(Number.isSafeInteger(c.maxLeaseMs) && c.maxLeaseMs >= 1)) throw new RangeError(`maxLeaseMs must be a whole number of ms >= 1, got ${c.maxLeaseMs}`);
}

type Request = Extract<Message, { type: "lease.request" }>;

/** What the desk needs of its tier-2. */
export interface LeaseDeskDeps {
  ctx: RoleContext;
  servers: Registry;
  tables: Tables;
  policy: Policy;
  pctx: PolicyContext;
  /** The tier-2's ticket issuer name (base64url, new each incarnation): lease ids carry it. */
  issuer: string;
}

/**
 * A tier-2's leases: `lease.request` matched as a placement is (the stored client, user and
 * task-type attributes joined), its slots spread over servers and reserved in the table, each
 * server told with `lease.grant`; answered `lease.granted` once the servers have answered, with
 * the grants they took. Leases whose server dies, drains, is ejected or no longer fits their class
 * are dropped and revoked there.
 */
export class LeaseDesk {
  readonly book: LeaseBook;
  private readonly table: ServerTable;
  private readonly maxPerClient: number;
  private readonly maxMs: number;
  private readonly stopSweep: () => void;

  constructor(
    private readonly d: LeaseDeskDeps,
    config: LeaseConfig = {},
  ) {
    validateLeaseConfig(config);
    this.table = d.servers.table;
    this.book = new LeaseBook(this.table, d.issuer);
    this.maxPerClient = config.maxLeaseSlotsPerClient ?? DEFAULT_MAX_LEASE_SLOTS_PER_CLIENT;
    this.maxMs = config.maxLeaseMs ?? DEFAULT_MAX_LEASE_MS;
    this.stopSweep = d.ctx.every(LEASE_SWEEP_MS, () => this.sweep());
  }

  stop(): void {
    this.stopSweep();
  }

  onRequest(m: Request, ch: Channel): void {
    const { ctx, tables } = this.d;
    const b = m.body;
    const client = b.client;
    const now = ctx.now();
    const expiresAt = now + Math.min(b.ttlMs, this.maxMs);
    const classKey = leaseClassKey(b.class);
    const task: Task = effectiveTask({ ...b.class, id: "lease", key: "lease", deadline: expiresAt, payload: null }, tables.client.get(client.id), b.class.user === undefined ? undefined : tables.user.get(b.class.user), tables["task-type"].get(b.class.app));
    // Renewals first: leases of this class this tier-2 holds for this client, on servers that still hold them.
    const renewing: BookLease[] = [];
    let renewed = 0;
    // An id named twice is renewed once: each repeat would cost its server a grant and count its slots again.
    const named = new Set<string>();
    for (const id of b.renew ?? []) {
      if (named.has(id)) continue;
      named.add(id);
      const l = this.book.get(id);
      if (l === undefined || l.client !== client.id || l.classKey !== classKey || l.pending || renewed + l.slots > b.slots) continue;
      if (!stillHolds(l, this.table.get(l.serverId))) {
        this.drop(l, "revoked");
        continue;
      }
      renewing.push(l);
      renewed += l.slots;
    }
    let want = b.slots - renewed;
    const room = this.maxPerClient - this.book.heldBy(client.id);
    if (want > room) {
      if (renewing.length === 0) return ch.replyError(m, new AllotError(ErrorCode.OVERLOADED, `client ${client.id} would hold ${this.book.heldBy(client.id) + want} lease slots at ${ctx.id}, past its cap of ${this.maxPerClient}`, { retryable: false }));
      // Renewals are answered with their new tickets (a renewal answered with an error would leave
      // the client holding a ticket its server no longer takes); fresh slots only up to the cap.
      want = Math.max(0, room);
    }
    const fresh: BookLease[] = [];
    let refusal: { reason: string; full: boolean } | undefined;
    if (want > 0) refusal = this.spread(task, classKey, client, want, expiresAt, fresh);
    if (renewing.length === 0 && fresh.length === 0) {
      const r = refusal ?? { reason: "no slot free", full: true };
      ctx.metrics.inc("allot_placements_refused_total", { code: ErrorCode.NO_SERVER });
      return ch.replyError(m, new AllotError(ErrorCode.NO_SERVER, r.reason, { retryable: r.full }));
    }
    // Answered once every server has answered its grant: the client is given only leases a server holds.
    const all = [...renewing, ...fresh];
    const got: Array<LeaseGrant | undefined> = new Array<LeaseGrant | undefined>(all.length);
    let waiting = all.length;
    let why = "";
    all.forEach((l, i) => {
      this.grant(l, expiresAt, (g, err) => {
        got[i] = g;
        if (err) why = err.message;
        if (--waiting > 0) return;
        const leases = got.filter((x): x is LeaseGrant => x !== undefined);
        if (leases.length === 0) return ch.replyError(m, new AllotError(ErrorCode.NO_SERVER, `no server took the lease: ${why}`, { retryable: true }));
        ch.reply(m, "lease.granted", { leases });
      });
    });
  }

  onRelease(m: Extract<Message, { type: "lease.release" }>, ch: Channel): void {
    for (const id of m.body.leases) {
      const l = this.book.get(id);
      if (l !== undefined && l.client === m.body.client.id) this.drop(l, "released");
    }
    ch.reply(m, "ack", {});
  }

  /** A server's report came: its leases are checked at once (drained, changed attributes, restarted). */
  onServer(id: string): void {
    const leases = this.book.onServer(id);
    if (leases.size === 0) return;
    const e = this.table.get(id);
    for (const l of [...leases]) if (!stillHolds(l, e)) this.drop(l, "revoked");
  }

  stats(): Record<string, number> {
    const c = this.book.counts;
    return { leasesGranted: c.granted, leasesRenewed: c.renewed, leasesActive: this.book.active, leasesRevoked: c.revoked, leasesExpired: c.expired, leasesReleased: c.released, leaseSlotsHeld: this.book.slots };
  }

  /**
   * Books fresh leases for `want` slots: each decision as a placement's (policy, constraints,
   * preferences), then as many of the chosen server's free slots as are still needed; the next
   * decision passes over the servers already chosen. The refusal when the first finds none.
   */
  private spread(task: Task, classKey: string, client: ClientRef, want: number, expiresAt: number, out: BookLease[]): { reason: string; full: boolean } | undefined {
    const { ctx, policy, pctx } = this.d;
    const chosen: string[] = [];
    const fits = classFit(task);
    let left = want;
    while (left > 0 && chosen.length < MAX_LEASE_SERVERS) {
      const a = measuredAllocate(ctx, this.table, task, policy, pctx, chosen);
      if (!a.ok) return out.length === 0 ? { reason: a.reason, full: a.full } : undefined;
      const e: ServerEntry = a.server;
      // allocate reserved one slot: given back, and the lease's slots reserved as one.
      this.table.release(e);
      // Only the servers already chosen are left (allocate falls back on avoided ones), or one that cannot check a lease ticket.
      if (chosen.includes(e.id) || e.ticketKey === undefined) break;
      chosen.push(e.id);
      const n = Math.min(freeSlots(e), left);
      if (n <= 0) break;
      out.push(this.book.reserve(e, { id: this.book.nextId(), client: client.id, addr: client.addr, slots: n, expiresAt, ticket: "", classKey, fits }));
      left -= n;
    }
    return undefined;
  }

  /** Sends `l` its grant (a first one, or a renewal to `expiresAt`); `done` gets the grant the server took, or undefined. */
  private grant(l: BookLease, expiresAt: number, done: (g: LeaseGrant | undefined, err?: AllotError) => void): void {
    const { ctx, servers } = this.d;
    const e = this.table.get(l.serverId);
    const to = e === undefined ? undefined : servers.reach(e);
    if (e === undefined || to === undefined || e.ticketKey === undefined) {
      this.drop(l, "refused");
      return done(undefined, new AllotError(ErrorCode.NO_SERVER, `server ${l.serverId} is no longer connected`));
    }
    const ticket = signLeaseTicket(e.ticketKey, { leaseId: l.id, client: l.client, serverId: l.serverId, slots: l.slots, expiresAt });
    const body: Bodies["lease.grant"] = { leaseId: l.id, client: { id: l.client, addr: l.addr }, slots: l.slots, ticket, expiresAt };
    ctx.ask(to, "lease.grant", body, undefined, (err, ack) => {
      if (ack?.type !== "task.expected") {
        this.drop(l, "refused");
        ctx.log.debug({ server: l.serverId, lease: l.id, err: err?.message }, "server did not take the lease");
        return done(undefined, err);
      }
      this.book.granted(l, ack.body.load, ack.body.version, ctx.now());
      // Dropped while the grant was on its way (released, revoked): the server lets it go too.
      if (this.book.get(l.id) !== l) {
        this.revokeAt(l);
        return done(undefined, new AllotError(ErrorCode.NO_SERVER, `lease ${l.id} was revoked`));
      }
      l.expiresAt = expiresAt;
      l.ticket = ticket;
      done({ leaseId: l.id, serverId: l.serverId, serverUrl: e.url, slots: l.slots, ticket, expiresAt });
    });
  }

  private sweep(): void {
    const s = this.book.sweep(this.d.ctx.now());
    // An expired lease is let go by its server at the same time: nothing to tell it.
    for (const l of s.expired) this.book.drop(l, "expired");
    for (const l of s.unfit) this.drop(l, "revoked");
  }

  /** Drops a lease and, unless it was the server that refused it, tells a live server to let it go. */
  private drop(l: BookLease, why: DropReason): void {
    if (this.book.drop(l, why) && why !== "refused") this.revokeAt(l);
  }

  private revokeAt(l: BookLease): void {
    const e = this.table.get(l.serverId);
    const to = e === undefined || e.status === "dead" ? undefined : this.d.servers.reach(e);
    if (to === undefined) return;
    this.d.ctx.ask(to, "lease.revoke", { leaseId: l.id }, undefined, () => {});
  }
}
