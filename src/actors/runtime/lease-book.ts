import type { Task } from "../../protocol/index.js";
import { compileRequire } from "../../policies/index.js";
import type { ServerEntry, ServerTable } from "../../state/index.js";

/** Leases one sweep looks at, at most (expiry and fit): its cost stays bounded however many there are. */
export const BOOK_SWEEP_LIMIT = 1024;

/** One lease as the tier-2 that granted it keeps it. */
export interface BookLease {
  readonly id: string;
  readonly client: string;
  /** Where the client's first hop saw it (the grant tells the server, as an expect does). */
  readonly addr: string;
  readonly serverId: string;
  readonly slots: number;
  /** This tier-2's clock, ms since the epoch. */
  expiresAt: number;
  ticket: string;
  readonly classKey: string;
  /** The server's ticket key the lease was signed under: a server that restarted (a new key) holds none of its leases. */
  readonly ticketKey: string;
  /** Whether a server still fits the lease's class: its application and its static hard constraints. */
  readonly fits: (e: ServerEntry) => boolean;
  /** Its slots are still reserved in the table: the server has not answered its first grant yet. */
  pending: boolean;
}

/** Why a lease left the book. */
export type DropReason = "expired" | "revoked" | "released" | "refused";

/** What a sweep found: leases past their expiry, and leases whose server no longer fits (to revoke there). */
export interface Swept {
  expired: BookLease[];
  unfit: BookLease[];
}

/**
 * Whether a server fits a lease's class for as long as the lease lives: it offers the application
 * and meets every hard constraint but those on `load` and `free`, which the lease's own slots move
 * (a lease is not revoked because it filled the server it was granted on).
 */
export function classFit(task: Task): (e: ServerEntry) => boolean {
  const meets = compileRequire(task.require.filter((c) => c.key !== "load" && c.key !== "free"));
  const app = task.app;
  return (e) => e.apps.includes(app) && meets(e);
}

/** Whether `e` may go on holding lease `l`: the same incarnation, alive (not draining, dead or ejected), and still of its class. */
export function stillHolds(l: BookLease, e: ServerEntry | undefined): boolean {
  return e !== undefined && e.ticketKey === l.ticketKey && e.status !== "dead" && e.status !== "draining" && e.outlier.ejectedUntil === 0 && l.fits(e);
}

/**
 * The leases a tier-2 has granted, and their slots in its server table: reserved there (as a
 * placement's slot is) until the server answers the grant with its load, which then counts them.
 * The per-client totals bound what one client may hold. Pure: the caller passes the clock's
 * reading; the table is the only thing it changes besides itself.
 */
export class LeaseBook {
  private readonly leases = new Map<string, BookLease>();
  private readonly byServer = new Map<string, Set<BookLease>>();
  private readonly byClient = new Map<string, number>();
  private cursor: Iterator<BookLease> | undefined;
  private seq = 0;
  private held = 0;
  readonly counts = { granted: 0, renewed: 0, expired: 0, revoked: 0, released: 0, refused: 0 };

  /** `issuer`: base64url, distinct per tier-2 incarnation, so lease ids never repeat across the set. */
  constructor(
    private readonly table: ServerTable,
    private readonly issuer: string,
  ) {}

  get active(): number {
    return this.leases.size;
  }

  /** Slots held under leases, pending or granted. */
  get slots(): number {
    return this.held;
  }

  get(id: string): BookLease | undefined {
    return this.leases.get(id);
  }

  /** Slots `client` holds under leases here. */
  heldBy(client: string): number {
    return this.byClient.get(client) ?? 0;
  }

  /** The leases held on one server. */
  onServer(serverId: string): ReadonlySet<BookLease> {
    return this.byServer.get(serverId) ?? EMPTY;
  }

  /** A fresh lease id: base64url, the count first (it has no "-", so ids of two issuers never meet). */
  nextId(): string {
    return `l${(++this.seq).toString(36)}-${this.issuer}`;
  }

  /** Books a new lease of `slots` on `e` and reserves them in the table until the server answers. */
  reserve(e: ServerEntry, f: Omit<BookLease, "serverId" | "pending" | "ticketKey">): BookLease {
    const l: BookLease = { ...f, serverId: e.id, ticketKey: e.ticketKey ?? "", pending: true };
    this.table.reserve(e, l.slots);
    this.leases.set(l.id, l);
    let s = this.byServer.get(e.id);
    if (s === undefined) this.byServer.set(e.id, (s = new Set()));
    s.add(l);
    this.byClient.set(l.client, this.heldBy(l.client) + l.slots);
    this.held += l.slots;
    return l;
  }

  /** The server took a grant (first or renewal) and told its load, which counts the lease's slots: the reservation goes. */
  granted(l: BookLease, load: number, version: readonly [number, number], now: number): void {
    const mine = this.leases.get(l.id) === l;
    // A lease dropped while its grant was on its way kept its reservation (see drop): it goes now,
    // as the answer's load counts the slots the server took (and frees once told to let go).
    this.table.confirm(l.serverId, load, version, now, l.pending ? l.slots : 0);
    if (!mine) {
      l.pending = false;
      return;
    }
    if (l.pending) this.counts.granted++;
    else this.counts.renewed++;
    l.pending = false;
  }

  /**
   * Takes a lease out. A lease the server holds is freed there (its next load figure shows it); one
   * whose grant the server refused goes back to the table at once; one whose grant is still on its
   * way keeps its reservation until the grant is answered.
   */
  drop(l: BookLease, why: DropReason): boolean {
    if (this.leases.get(l.id) !== l) {
      // Dropped while its grant was out, and now the grant failed: the reservation it kept goes back.
      if (l.pending && why === "refused") {
        this.table.release(l.serverId, l.slots);
        l.pending = false;
      }
      return false;
    }
    this.leases.delete(l.id);
    const s = this.byServer.get(l.serverId);
    s?.delete(l);
    if (s?.size === 0) this.byServer.delete(l.serverId);
    const c = this.heldBy(l.client) - l.slots;
    if (c > 0) this.byClient.set(l.client, c);
    else this.byClient.delete(l.client);
    this.held -= l.slots;
    // A grant still on its way may yet be taken by the server, which then holds the slots until
    // told to let go: the reservation stays until the grant is answered (granted, or refused).
    if (l.pending && why === "refused") {
      this.table.release(l.serverId, l.slots);
      l.pending = false;
    }
    this.counts[why]++;
    return true;
  }

  /** Leases past their expiry, or on a server that no longer holds them, looking at most at `limit` (the walk goes on where it stopped). Not yet dropped. */
  sweep(now: number, limit = BOOK_SWEEP_LIMIT): Swept {
    const out: Swept = { expired: [], unfit: [] };
    for (let seen = 0; seen < limit && this.leases.size > 0; seen++) {
      this.cursor ??= this.leases.values();
      const n = this.cursor.next();
      if (n.done === true) {
        this.cursor = undefined; // the next sweep starts a new walk
        break;
      }
      const l = n.value;
      if (l.expiresAt <= now) out.expired.push(l);
      else if (!stillHolds(l, this.table.get(l.serverId))) out.unfit.push(l);
    }
    return out;
  }
}

const EMPTY: ReadonlySet<BookLease> = new Set();
