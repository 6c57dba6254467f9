/** Tickets of one issuer the server tells apart: the newest count seen, and which of the WINDOW below it were used. */
const WINDOW = 4096;
const WORDS = WINDOW / 32;

interface Window {
  top: number;
  bits: Uint32Array;
}

/**
 * Anti-replay windows, one per ticket issuer (as IPsec does for packets): a ticket's count is
 * fresh if it is above the newest seen, or within the window below it and not yet marked. Memory
 * is per issuer, not per ticket, so a server running 100,000 tasks a second keeps no set of
 * used tickets. A count below the window is refused: the issuer has issued WINDOW tickets for
 * this server since, so that one is long stale. At most `maxIssuers` issuers are kept.
 */
export class ReplayWindows {
  private readonly windows = new Map<string, Window>();

  constructor(private readonly maxIssuers = 4096) {}

  /** Marks `seq` of `issuer` used; false when it was used already, or is older than the window. */
  use(issuer: string, seq: number): boolean {
    let w = this.windows.get(issuer);
    if (!w) {
      if (this.windows.size >= this.maxIssuers) {
        const oldest = this.windows.keys().next().value;
        if (oldest !== undefined) this.windows.delete(oldest);
      }
      w = { top: 0, bits: new Uint32Array(WORDS) };
      this.windows.set(issuer, w);
    }
    if (seq > w.top) {
      const shift = seq - w.top;
      if (shift >= WINDOW) w.bits.fill(0);
      else for (let s = w.top + 1; s <= seq; s++) w.bits[(s % WINDOW) >>> 5]! &= ~(1 << (s % WINDOW & 31));
      w.top = seq;
    } else if (seq <= w.top - WINDOW) return false;
    const i = seq % WINDOW;
    const word = i >>> 5;
    const bit = 1 << (i & 31);
    if ((w.bits[word]! & bit) !== 0) return false;
    w.bits[word]! |= bit;
    return true;
  }

  /** Whether `seq` of `issuer` was used (without marking it). */
  used(issuer: string, seq: number): boolean {
    const w = this.windows.get(issuer);
    if (!w || seq > w.top) return false;
    if (seq <= w.top - WINDOW) return true;
    const i = seq % WINDOW;
    return (w.bits[i >>> 5]! & (1 << (i & 31))) !== 0;
  }
}
