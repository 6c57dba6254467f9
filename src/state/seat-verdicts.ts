/** A seat's verdict not judged yet (or forgotten since). */
export const UNJUDGED = 0;
/** The entry at the seat passes the test the verdicts are kept for. */
export const PASSES = 1;
/** The entry at the seat fails it. */
export const FAILS = 2;

/** Tests whose verdicts a table keeps at once. */
export const MAX_VERDICT_SETS = 8;

/**
 * Decisions a set must go unused before a new test may take its place: a stream of ever-new
 * constraints (a hostile client's, say) then costs one clear of a set per this many decisions,
 * not one per decision.
 */
export const VERDICT_SET_IDLE = 1024;

interface VerdictSet {
  verdicts: Int8Array;
  lastUse: number;
}

/**
 * Per test (a key naming a task's constraints on what only a full report changes: attributes,
 * power, capacity, applications), a verdict for each seat of a table: UNJUDGED, PASSES or FAILS.
 * A sampler drawing among 100,000 servers reads a byte of a 100 kB array instead of the drawn
 * entry and its attributes (two cache misses) to reject an ineligible draw. The table forgets a
 * seat's verdicts whenever its entry changes in a way the test may read (`forget`), so a verdict
 * read is always the test's answer for the entry there now.
 */
export class SeatVerdicts {
  private readonly sets = new Map<string, VerdictSet>();
  /** Length of every array: more than any seat handed out so far. */
  private length = 64;
  private uses = 0;

  /**
   * The verdicts kept for `key`, made if there is room; undefined when MAX_VERDICT_SETS sets
   * are in use and each of them was used within the last VERDICT_SET_IDLE decisions (the
   * caller then judges every entry itself).
   */
  get(key: string): Int8Array | undefined {
    const use = ++this.uses;
    const held = this.sets.get(key);
    if (held !== undefined) {
      held.lastUse = use;
      return held.verdicts;
    }
    if (this.sets.size < MAX_VERDICT_SETS) {
      const made = { verdicts: new Int8Array(this.length), lastUse: use };
      this.sets.set(key, made);
      return made.verdicts;
    }
    let oldest: string | undefined;
    let oldestUse = use - VERDICT_SET_IDLE;
    for (const [k, s] of this.sets) {
      if (s.lastUse < oldestUse) {
        oldest = k;
        oldestUse = s.lastUse;
      }
    }
    if (oldest === undefined) return undefined;
    const taken = this.sets.get(oldest) as VerdictSet;
    this.sets.delete(oldest);
    taken.verdicts.fill(UNJUDGED);
    taken.lastUse = use;
    this.sets.set(key, taken);
    return taken.verdicts;
  }

  /** Seat `seat` may hold another entry, or its entry changed: every verdict on it is void. */
  forget(seat: number): void {
    if (seat >= this.length) this.grow(seat);
    for (const s of this.sets.values()) s.verdicts[seat] = UNJUDGED;
  }

  /** Room for `seat` in every array (a verdict past the end reads as UNJUDGED, and is not kept). */
  private grow(seat: number): void {
    this.length = Math.max(2 * this.length, seat + 1);
    for (const s of this.sets.values()) {
      const grown = new Int8Array(this.length);
      grown.set(s.verdicts);
      s.verdicts = grown;
    }
  }
}
