import type { AttrEntry, Attrs } from "../protocol/index.js";

/** Last-writer-wins order of entry versions: by time, then by the writing node's id. */
export function compareStamp(a: AttrEntry["version"], b: AttrEntry["version"]): number {
  return a[0] !== b[0] ? Math.sign(a[0] - b[0]) : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0;
}

/**
 * A table of attribute entries — clients, users or task types — that the members of an
 * allocator set keep converging: a set stamps the whole entry with (time, node), and a merge
 * keeps the entry with the higher stamp, so merges commute and repeat harmlessly. Two sets of
 * the same entry at once on different members: one wins whole (last writer wins).
 */
/** Entries one table holds at most: past it a new id is refused (a stranger's flood must not grow it, or `status`, for good). */
export const MAX_ATTR_ENTRIES = 100_000;

/** A set or merge of a new entry into a table that is full. */
export class TableFullError extends RangeError {
  override readonly name = "TableFullError";
}

export class AttrTable {
  private readonly entries = new Map<string, AttrEntry>();

  constructor(private readonly maxEntries = MAX_ATTR_ENTRIES) {}

  get size(): number {
    return this.entries.size;
  }

  get(id: string): Attrs | undefined {
    return this.entries.get(id)?.attrs;
  }

  all(): AttrEntry[] {
    return [...this.entries.values()];
  }

  /** Merges `attrs` into entry `id` here, stamped after anything seen; returns the new entry. */
  set(id: string, attrs: Attrs, now: number, node: string): AttrEntry {
    const cur = this.entries.get(id);
    if (!cur && this.entries.size >= this.maxEntries) throw new TableFullError(`the table holds ${this.maxEntries} entries already; unset some first`);
    const time = Math.max(now, cur ? cur.version[0] + 1 : 0);
    const e: AttrEntry = { id, attrs: { ...cur?.attrs, ...attrs }, version: [time, node] };
    this.entries.set(id, e);
    return e;
  }

  /**
   * Removes `keys` from entry `id` here, stamped after anything seen; returns the new entry, or
   * undefined when there is no such entry. The entry stays, with fewer (maybe no) attributes, so
   * the removal wins over an older copy of it exactly as a set would.
   */
  unset(id: string, keys: readonly string[], now: number, node: string): AttrEntry | undefined {
    const cur = this.entries.get(id);
    if (!cur) return undefined;
    const attrs: Attrs = { ...cur.attrs };
    for (const k of keys) delete attrs[k];
    const e: AttrEntry = { id, attrs, version: [Math.max(now, cur.version[0] + 1), node] };
    this.entries.set(id, e);
    return e;
  }

  /** Takes a peer's entry if its stamp is higher; says whether it did. */
  merge(e: AttrEntry): boolean {
    const cur = this.entries.get(e.id);
    if (cur && compareStamp(e.version, cur.version) <= 0) return false;
    if (!cur && this.entries.size >= this.maxEntries) return false; // full: a peer's new entry waits until room is made
    this.entries.set(e.id, { id: e.id, attrs: { ...e.attrs }, version: [e.version[0], e.version[1]] });
    return true;
  }
}
