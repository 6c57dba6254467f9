/**
 * The members (servers, slaves) a client could not reach lately, each for a while after it
 * failed: new tasks ask their allocator to avoid them too, not only the task that failed there.
 * An allocator that still sees such a server alive (the client alone is cut off from it) would
 * otherwise keep placing new tasks there, each costing a dial timeout. Bounded: at most `max`
 * members are held (the oldest goes first). Pure: the caller passes the time.
 */
export class Unreachable {
  private readonly until = new Map<string, number>();

  constructor(
    private readonly forMs: number,
    private readonly max: number,
  ) {}

  /** `id` could not be reached at `now`: avoid it until `now + forMs`. */
  mark(id: string, now: number): void {
    if (this.forMs <= 0) return;
    this.until.delete(id); // re-inserted last: the map's order is the order of expiry
    this.until.set(id, now + this.forMs);
    if (this.until.size > this.max) this.until.delete(this.until.keys().next().value as string);
  }

  /** The members to avoid at `now`, or undefined when there are none (the common case allocates nothing). */
  active(now: number): string[] | undefined {
    if (this.until.size === 0) return undefined;
    for (const [id, t] of this.until) {
      if (t > now) break;
      this.until.delete(id);
    }
    return this.until.size === 0 ? undefined : [...this.until.keys()];
  }
}
