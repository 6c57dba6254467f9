/** What the idle queue needs of an entry: the stamp of when it last went idle, 0 while it is not idle. */
export interface Idling {
  idleSince: number;
}

/**
 * Join-idle-queue (JIQ) for one application: its idle entries (alive, nothing running or
 * reserved) in the order they went idle. The table stamps an entry when it goes idle
 * (`idleSince`, shared by all of the entry's applications) and calls `join` on each of its
 * applications' queues, and `leave` when it gets busy. Items are never searched for: an item
 * whose stamp is no longer its entry's is stale and skipped, so joining and leaving are O(1) and
 * touch no per-queue map. Stale items are dropped when they far outnumber the live ones.
 */
export class IdleQueue<E extends Idling> {
  private readonly items: E[] = [];
  /** The stamp each item was queued with. */
  private readonly stamps: number[] = [];
  private head = 0;
  /**
   * Items in use are [head, tail). The arrays never shrink: compaction rewrites them in place,
   * so they are not reallocated (and regrown) every few thousand decisions at 100,000 servers.
   */
  private tail = 0;
  /** Live items: entries idle now. */
  private live = 0;

  /** Items queued, stale ones included: for tests, which check it stays bounded. */
  get length(): number {
    return this.tail - this.head;
  }

  /** `e` went idle (its `idleSince` is set): it joins the back. */
  join(e: E): void {
    this.append(e, e.idleSince);
    this.live++;
    this.compactIfStale();
  }

  /** An entry that had joined is no longer idle here; its item goes stale by its stamp. */
  leave(): void {
    this.live--;
  }

  /**
   * The longest-idle entry that `accept` takes, looking at no more than `limit` idle entries;
   * undefined when none. The entry stays queued until it gets busy. An idle entry `accept`
   * refused goes to the back of the queue, so entries that few tasks can use do not pile up at
   * the front and make every decision read past them.
   */
  longestIdle(accept: (e: E) => boolean, limit: number): E | undefined {
    let looked = 0;
    const end = this.tail; // entries moved back during this call are not read again
    while (this.head < end && looked < limit) {
      const e = this.items[this.head] as E;
      const stamp = this.stamps[this.head] as number;
      if (e.idleSince !== stamp) {
        this.head++; // stale: passed for good
        continue;
      }
      looked++;
      if (accept(e)) return e; // it stays at the front until it gets busy
      this.head++;
      this.append(e, stamp);
    }
    this.compactIfStale();
    return undefined;
  }

  /** What `longestIdle` would answer, changing nothing: refused entries stay where they are. */
  peekLongestIdle(accept: (e: E) => boolean, limit: number): E | undefined {
    let looked = 0;
    for (let k = this.head; k < this.tail && looked < limit; k++) {
      const e = this.items[k] as E;
      if (e.idleSince !== (this.stamps[k] as number)) continue;
      looked++;
      if (accept(e)) return e;
    }
    return undefined;
  }

  private append(e: E, stamp: number): void {
    if (this.tail === this.items.length) {
      this.items.push(e);
      this.stamps.push(stamp);
    } else {
      this.items[this.tail] = e;
      this.stamps[this.tail] = stamp;
    }
    this.tail++;
  }

  /** Rebuilds the queue once stale items (before or after the head) far outnumber the live ones. */
  private compactIfStale(): void {
    if (this.tail > 2 * this.live + 64) this.compact();
  }

  /** Keeps only the live items, in order. */
  private compact(): void {
    let w = 0;
    for (let k = this.head; k < this.tail; k++) {
      const e = this.items[k] as E;
      const stamp = this.stamps[k] as number;
      if (e.idleSince !== stamp) continue;
      this.items[w] = e;
      this.stamps[w] = stamp;
      w++;
    }
    this.tail = w;
    this.head = 0;
  }
}
