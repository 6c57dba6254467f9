import { AllotError, ErrorCode, MAX_LEASE_TTL_MS } from "../../protocol/index.js";

/**
 * A lease's expiry is on this server's clock (the grant carried the time left), so the allowance
 * covers only the grant's transit and the client's own lag in noticing: small, unlike a ticket's.
 */
export const LEASE_SKEW_MS = 1_000;

/** Expired leases one sweep looks at, at most: a sweep's cost stays bounded however many there are. */
export const LEASE_SWEEP_LIMIT = 256;

/** One lease an app server holds: `slots` runs at once for `client`, until `expiresAt` (this server's clock). */
export interface LeaseSlot {
  readonly id: string;
  readonly client: string;
  slots: number;
  expiresAt: number;
  /** The ticket its newest grant carried (MAC checked then): a run's ticket is compared with it, not checked again. */
  ticket: string;
  /** The ticket of the grant before, still admitted: a client's runs in flight while it renews carry it. */
  prev: string | undefined;
  /** Runs going under it now (those of a dropped lease keep going, and keep their own slots). */
  active: number;
  /** Held: not yet expired, revoked or swept. */
  live: boolean;
}

/** What a grant asks for: the fields of `lease.grant`, its ticket checked by the caller. */
export interface LeaseAsk {
  leaseId: string;
  client: string;
  slots: number;
  ticket: string;
  expiresAt: number;
}

/**
 * The leases an app server holds, and the slots they keep from others. A lease's slots are held
 * while it lives, used or not; a run under it takes one of them (it adds nothing to the load); when
 * it ends, is revoked or expires, its unused slots are free again at once and the runs still going
 * under it keep theirs until they end. Pure: the caller passes the clock's reading.
 */
export class LeaseSlots {
  private readonly leases = new Map<string, LeaseSlot>();
  private idle = 0;
  private cursor: Iterator<LeaseSlot> | undefined;
  // No lease expires before this (a lower bound): a sweep does nothing until then.
  private nextExpiry = Infinity;
  // The soonest expiry the walk in progress has passed over (a walk may span several sweeps).
  private walkSoonest = Infinity;
  granted = 0;
  renewed = 0;
  expired = 0;
  revoked = 0;

  constructor(private readonly skewMs = LEASE_SKEW_MS) {}

  get size(): number {
    return this.leases.size;
  }

  /** Slots live leases hold that no run uses: what leases add to the server's load beyond its runs. */
  unused(): number {
    return this.idle;
  }

  get(id: string): LeaseSlot | undefined {
    return this.leases.get(id);
  }

  /**
   * Holds a lease, or renews one held (a new expiry and ticket, and the slots asked). `room`: the
   * slots free on the server now (capacity less its load). Refused OVERLOADED when the slots do
   * not fit, INVALID for a lease id held for another client.
   */
  grant(ask: LeaseAsk, now: number, room: number): LeaseSlot | AllotError {
    const had = this.leases.get(ask.leaseId);
    if (had !== undefined && had.client !== ask.client) return new AllotError(ErrorCode.INVALID, `lease ${ask.leaseId} is held for another client`, { retryable: false });
    const before = had === undefined ? 0 : unusedOf(had);
    const after = Math.max(0, ask.slots - (had?.active ?? 0));
    if (after - before > room) return new AllotError(ErrorCode.OVERLOADED, `${ask.slots} lease slots do not fit: ${Math.max(0, room)} free`);
    // A peer's number is clamped: an expiry years away would hold the slots for good.
    const expiresAt = Math.min(ask.expiresAt, now + MAX_LEASE_TTL_MS);
    let l = had;
    if (l === undefined) {
      l = { id: ask.leaseId, client: ask.client, slots: ask.slots, expiresAt, ticket: ask.ticket, prev: undefined, active: 0, live: true };
      this.leases.set(l.id, l);
      this.granted++;
    } else {
      if (l.ticket !== ask.ticket) l.prev = l.ticket;
      l.ticket = ask.ticket;
      l.slots = ask.slots;
      l.expiresAt = expiresAt;
      this.renewed++;
    }
    this.idle += after - before;
    if (expiresAt < this.nextExpiry) this.nextExpiry = expiresAt;
    return l;
  }

  /**
   * The lease a run's ticket names, if it admits one more run now: from the lease's client, with
   * its current (or previous) ticket, unexpired, a slot free. `leaseId` is the ticket's own.
   */
  admit(leaseId: string, ticket: string, client: string, now: number): LeaseSlot | AllotError {
    const l = this.leases.get(leaseId);
    // Unknown covers a server that restarted (a new ticket key, no leases) and a lease swept.
    if (l === undefined) return new AllotError(ErrorCode.LEASE_EXPIRED, `no lease ${leaseId} here: expired, revoked or never granted`);
    if (l.client !== client) return new AllotError(ErrorCode.UNAUTHORIZED, `lease ${leaseId} is not this client's`, { retryable: false });
    if (ticket !== l.ticket && ticket !== l.prev) return new AllotError(ErrorCode.LEASE_EXPIRED, `not a current ticket of lease ${leaseId}`);
    if (l.expiresAt + this.skewMs <= now) {
      this.drop(l);
      this.expired++;
      return new AllotError(ErrorCode.LEASE_EXPIRED, `lease ${leaseId} expired`);
    }
    if (l.active >= l.slots) return new AllotError(ErrorCode.OVERLOADED, `lease ${leaseId} has all its ${l.slots} slots running`);
    return l;
  }

  /** A run under `l` starts: it takes one of the lease's slots. */
  begin(l: LeaseSlot): void {
    const before = unusedOf(l);
    l.active++;
    this.idle += unusedOf(l) - before;
  }

  /** A run under `l` ended: its slot goes back to the lease while it lives, and is free otherwise. */
  end(l: LeaseSlot): void {
    const before = unusedOf(l);
    if (l.active > 0) l.active--;
    this.idle += unusedOf(l) - before;
  }

  /** Drops a lease the tier-2 revoked (or the client released); whether it was held. */
  revoke(id: string): boolean {
    const l = this.leases.get(id);
    if (l === undefined) return false;
    this.drop(l);
    this.revoked++;
    return true;
  }

  /** Drops every lease (the server drains): their unused slots are free, their runs go on. */
  clear(): void {
    for (const l of this.leases.values()) this.drop(l);
  }

  /** Drops expired leases, looking at most at `limit` of them (the walk goes on where it stopped); how many it dropped. */
  sweep(now: number, limit = LEASE_SWEEP_LIMIT): number {
    if (this.nextExpiry + this.skewMs > now) return 0;
    let dropped = 0;
    for (let seen = 0; seen < limit; seen++) {
      this.cursor ??= this.leases.values();
      const n = this.cursor.next();
      if (n.done === true) {
        this.cursor = undefined;
        // A whole walk ended: its soonest expiry is the new lower bound (a partial walk keeps the old one).
        this.nextExpiry = this.walkSoonest;
        this.walkSoonest = Infinity;
        break;
      }
      const l = n.value;
      if (l.expiresAt + this.skewMs <= now) {
        this.drop(l);
        this.expired++;
        dropped++;
      } else if (l.expiresAt < this.walkSoonest) this.walkSoonest = l.expiresAt;
    }
    return dropped;
  }

  private drop(l: LeaseSlot): void {
    this.idle -= unusedOf(l);
    l.live = false;
    this.leases.delete(l.id);
  }
}

function unusedOf(l: LeaseSlot): number {
  return l.live ? Math.max(0, l.slots - l.active) : 0;
}
