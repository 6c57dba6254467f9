import type { ServerReport, ServerStatus } from "../protocol/index.js";

export type { ServerStatus };

/** An app server as an allocator knows it: the newest report plus local bookkeeping. */
export interface ServerEntry extends ServerReport {
  status: ServerStatus;
  /** Slots this allocator handed out that the server's reports may not show yet. */
  reserved: number;
  /** When the newest report was applied (ms, from the injected clock). */
  updatedAt: number;
}

export type ApplyResult = "new" | "updated" | "stale";

/** (incarnation, seq) order: -1, 0 or 1. */
export function compareVersion(a: readonly [number, number], b: readonly [number, number]): number {
  return a[0] !== b[0] ? Math.sign(a[0] - b[0]) : Math.sign(a[1] - b[1]);
}

/** Free slots counting this allocator's reservations. */
export function freeSlots(e: ServerEntry): number {
  return e.capacity - e.load - e.reserved;
}

/** Idle computing power: the share of the server's power not taken by running or reserved tasks. */
export function idlePower(e: ServerEntry): number {
  return (e.power * Math.max(0, freeSlots(e))) / e.capacity;
}

/**
 * The attribute database of application servers, indexed by application so a decision reads
 * only the servers that offer the task's application. Pure: time comes in as `now`.
 */
export class ServerTable {
  private readonly byId = new Map<string, ServerEntry>();
  private readonly byApp = new Map<string, ServerEntry[]>();

  get size(): number {
    return this.byId.size;
  }

  get(id: string): ServerEntry | undefined {
    return this.byId.get(id);
  }

  all(): IterableIterator<ServerEntry> {
    return this.byId.values();
  }

  /** Servers offering `app`, any status; callers filter. */
  offering(app: string): readonly ServerEntry[] {
    return this.byApp.get(app) ?? [];
  }

  /** Applies a report if it is newer than what is held; an older or equal version changes nothing. */
  apply(r: ServerReport, now: number): ApplyResult {
    const cur = this.byId.get(r.id);
    if (cur && compareVersion(r.version, cur.version) <= 0) return "stale";
    if (cur && cur.version[0] !== r.version[0]) cur.reserved = 0; // a new incarnation holds none of our reservations
    const entry: ServerEntry = cur ?? { ...r, status: "alive", reserved: 0, updatedAt: now };
    if (cur) {
      if (!sameApps(cur.apps, r.apps)) this.unindex(cur);
      Object.assign(cur, r);
      if (r.periodMs === undefined) delete cur.periodMs;
      cur.status = "alive";
      cur.updatedAt = now;
    } else {
      this.byId.set(r.id, entry);
    }
    this.index(entry);
    return cur ? "updated" : "new";
  }

  /**
   * Ages entries of servers that promised periodic reports: silent for more than 2 periods →
   * `suspect`, more than 5 → `dead`. Neither is ever selected; a newer report revives either.
   * Returns the entries whose status changed. Scans the table: run it on a timer, not per task.
   */
  expire(now: number): ServerEntry[] {
    const changed: ServerEntry[] = [];
    for (const e of this.byId.values()) {
      const period = e.periodMs ?? 0;
      if (period <= 0 || e.status === "dead" || e.status === "draining") continue;
      const age = now - e.updatedAt;
      const next: ServerStatus = age > 5 * period ? "dead" : age > 2 * period ? "suspect" : "alive";
      if (next !== e.status) {
        e.status = next;
        changed.push(e);
      }
    }
    return changed;
  }

  setStatus(id: string, status: ServerStatus): void {
    const e = this.byId.get(id);
    if (e) e.status = status;
  }

  /** Records that this allocator sent a task to `id`, so the next decision sees the slot taken. */
  reserve(e: ServerEntry): void {
    e.reserved++;
  }

  /**
   * The server acknowledged a reservation and told its load at that moment, which already counts
   * it: drop our reservation, and take the load if its version is the newest seen.
   */
  confirm(id: string, load: number, version: readonly [number, number], now: number): void {
    const e = this.byId.get(id);
    if (!e) return;
    if (e.reserved > 0) e.reserved--;
    if (compareVersion(version, e.version) > 0) {
      e.load = load;
      e.version = [version[0], version[1]];
      e.updatedAt = now;
    }
  }

  /** A reservation that will not reach the server (it refused or could not be told). */
  release(id: string): void {
    const e = this.byId.get(id);
    if (e && e.reserved > 0) e.reserved--;
  }

  private index(e: ServerEntry): void {
    for (const app of e.apps) {
      let list = this.byApp.get(app);
      if (!list) this.byApp.set(app, (list = []));
      if (!list.includes(e)) list.push(e);
    }
  }

  private unindex(e: ServerEntry): void {
    for (const app of e.apps) {
      const list = this.byApp.get(app);
      if (!list) continue;
      const i = list.indexOf(e);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) this.byApp.delete(app);
    }
  }
}

function sameApps(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
