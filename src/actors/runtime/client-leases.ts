import { MAX_LEASE_RENEW } from "../../protocol/index.js";
import type { AllotError, ClientRef, LeaseGrant, Message, TaskClass } from "../../protocol/index.js";
import type { Asker, RoleContext } from "./context.js";

export { leaseClassKey, leaseClassOf } from "./lease-class.js";

/** How long a lease is asked for when the caller names no TTL, ms (a tier-2 may clamp it). */
export const DEFAULT_LEASE_TTL_MS = 30_000;
/** A lease is renewed once this share of its time has gone. */
export const RENEW_AT = 2 / 3;

/** A slot taken under a lease: run the task on `serverUrl` with `ticket`, then hand it back with `done`. */
export interface LeaseSlotTaken {
  leaseId: string;
  serverId: string;
  serverUrl: string;
  ticket: string;
  classKey: string;
}

/** What a class's first `take` asks for: the class, its slots (`lease: k` of the task) and their TTL. */
export interface LeaseWanted {
  class: TaskClass;
  slots: number;
  ttlMs?: number;
}

export interface ClientLeasesOptions {
  /** The client as lease requests name it (the first hop stamps its verified id and address). */
  client: ClientRef;
  /** Where to ask: the client's entry (a vip, a tier-1 or a tier-2 of the set), chosen afresh each time. */
  entry: () => Asker | undefined;
  /** How long to wait for a tier-2's answer, ms (default: the ask's own). */
  timeoutMs?: number;
}

interface Held {
  grant: LeaseGrant;
  inUse: number;
}

interface ClassLeases {
  readonly key: string;
  wanted: LeaseWanted;
  readonly leases: Map<string, Held>;
  /** A request (first or renewal) is on its way: no second one until it is answered. */
  asking: boolean;
  cancelRenew: (() => void) | undefined;
}

/**
 * A client's leases, per task class: the first `take` of a class asks its tier-2 for a lease and
 * gets nothing (the task is placed on its own, as are the class's tasks until the lease comes);
 * later ones get a slot while one is free. Leases are renewed at 2/3 of their time, dropped on
 * LEASE_EXPIRED (the next `take` asks again), released on `release`. Runs inside the client's
 * actor: `ask` and `after` call back there.
 */
export class ClientLeases {
  private readonly classes = new Map<string, ClassLeases>();
  private readonly byId = new Map<string, ClassLeases>();
  private stopped = false;
  /** Requests answered with leases, and refused. */
  granted = 0;
  refused = 0;

  constructor(
    private readonly ctx: Pick<RoleContext, "ask" | "now" | "after">,
    private readonly options: ClientLeasesOptions,
  ) {}

  /**
   * A free slot of a lease of class `key`, taken (hand it back with `done`); undefined when the
   * class has none free — exhausted, expired or none yet — and then the task is placed on its own.
   * `want`: what to ask for when the class holds no lease and asks for none yet (or a function
   * that makes it, called only then).
   */
  take(key: string, want?: LeaseWanted | (() => LeaseWanted)): LeaseSlotTaken | undefined {
    let c = this.classes.get(key);
    if (c === undefined) {
      if (want === undefined || this.stopped) return undefined;
      // Made only for a class's first take: a caller need not build the class for every task.
      c = { key, wanted: typeof want === "function" ? want() : want, leases: new Map(), asking: false, cancelRenew: undefined };
      this.classes.set(key, c);
    }
    const now = this.ctx.now();
    let slot: LeaseSlotTaken | undefined;
    for (const [id, h] of c.leases) {
      if (h.grant.expiresAt <= now) {
        this.forget(c, id);
        continue;
      }
      if (h.inUse < h.grant.slots) {
        h.inUse++;
        slot = { leaseId: id, serverId: h.grant.serverId, serverUrl: h.grant.serverUrl, ticket: h.grant.ticket, classKey: key };
        break;
      }
    }
    if (c.leases.size === 0 && !c.asking) this.request(c, []);
    return slot;
  }

  /** A run under `slot` ended (however it ended): its slot is free again. */
  done(slot: LeaseSlotTaken): void {
    const h = this.classes.get(slot.classKey)?.leases.get(slot.leaseId);
    if (h !== undefined && h.inUse > 0) h.inUse--;
  }

  /** A server answered LEASE_EXPIRED: the lease is gone there. The class asks again on its next `take`. */
  revoked(leaseId: string): void {
    const c = this.byId.get(leaseId);
    if (c !== undefined) this.forget(c, leaseId);
  }

  /** Leases held now, and their slots. */
  stats(): { classes: number; leases: number; slots: number; inUse: number; granted: number; refused: number } {
    let slots = 0;
    let inUse = 0;
    for (const c of this.classes.values()) for (const h of c.leases.values()) (slots += h.grant.slots), (inUse += h.inUse);
    return { classes: this.classes.size, leases: this.byId.size, slots, inUse, granted: this.granted, refused: this.refused };
  }

  /** Stops renewing and tells the tier-2 every lease held is done with (its slots go back). */
  release(): void {
    this.stopped = true;
    const ids = [...this.byId.keys()];
    for (const c of this.classes.values()) c.cancelRenew?.();
    this.classes.clear();
    this.byId.clear();
    const to = this.options.entry();
    // At most MAX_LEASE_RENEW ids a message: the tier-2 takes no more in one.
    for (let i = 0; to !== undefined && i < ids.length; i += MAX_LEASE_RENEW) {
      this.ctx.ask(to, "lease.release", { leases: ids.slice(i, i + MAX_LEASE_RENEW), client: this.options.client }, this.options.timeoutMs, () => {});
    }
  }

  private request(c: ClassLeases, renew: string[]): void {
    const to = this.options.entry();
    if (to === undefined) return;
    c.asking = true;
    const w = c.wanted;
    const body = { class: w.class, slots: w.slots, ttlMs: w.ttlMs ?? DEFAULT_LEASE_TTL_MS, client: this.options.client, ...(renew.length > 0 ? { renew } : {}) };
    this.ctx.ask(to, "lease.request", body, this.options.timeoutMs, (err, answer) => this.answered(c, renew, err, answer));
  }

  private answered(c: ClassLeases, renew: readonly string[], err: AllotError | undefined, answer: Message | undefined): void {
    c.asking = false;
    if (this.stopped || this.classes.get(c.key) !== c) return;
    if (err !== undefined || answer?.type !== "lease.granted") {
      // Refused (no server, the cap) or lost: the leases held stand until they expire; once none
      // is left, the next take asks again.
      this.refused++;
      if (c.leases.size > 0) this.scheduleRenew(c);
      return;
    }
    this.granted++;
    const got = new Set<string>();
    for (const g of answer.body.leases) {
      got.add(g.leaseId);
      const h = c.leases.get(g.leaseId);
      if (h !== undefined) h.grant = g; // renewed: its runs keep their slots
      else {
        c.leases.set(g.leaseId, { grant: g, inUse: 0 });
        this.byId.set(g.leaseId, c);
      }
    }
    // Named for renewal and not renewed: the tier-2 let it go.
    for (const id of renew) if (!got.has(id)) this.forget(c, id);
    this.scheduleRenew(c);
  }

  /** Renews the class's leases at 2/3 of the time the soonest of them has left. */
  private scheduleRenew(c: ClassLeases): void {
    c.cancelRenew?.();
    c.cancelRenew = undefined;
    let soonest = Infinity;
    for (const h of c.leases.values()) soonest = Math.min(soonest, h.grant.expiresAt);
    if (soonest === Infinity) return;
    const left = Math.max(0, soonest - this.ctx.now());
    c.cancelRenew = this.ctx.after(Math.floor(left * RENEW_AT), () => {
      c.cancelRenew = undefined;
      if (this.stopped || this.classes.get(c.key) !== c || c.asking) return;
      const ids = [...c.leases.keys()].filter((id) => (c.leases.get(id)?.grant.expiresAt ?? 0) > this.ctx.now());
      if (ids.length === 0) return;
      this.request(c, ids.slice(0, MAX_LEASE_RENEW));
    });
  }

  private forget(c: ClassLeases, id: string): void {
    c.leases.delete(id);
    this.byId.delete(id);
    if (c.leases.size === 0) {
      c.cancelRenew?.();
      c.cancelRenew = undefined;
    }
  }
}
