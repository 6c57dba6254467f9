/**
 * What the monitoring port does before it checks an admin token's signatures, so that what an
 * unauthenticated client costs is bounded by what it is allowed, nothing: each address gets a
 * few signature checks a second (a well-formed fake token cost one Ed25519 verification, and a
 * flood of them took the node's event loop), and a token that checked out is taken again for a
 * few seconds without its signatures (a fast poller checked them on every request).
 */
export interface GateOptions {
  /** Tokens whose signatures a client address may have checked per second (a bucket of twice as many). */
  checksPerSecond: number;
  /** How long a token that checked out is taken without checking its signatures again, ms (its own expiry still applies). */
  goodForMs: number;
  /** Tokens and addresses remembered at most: past it the oldest is forgotten. */
  maxRemembered: number;
  /** Signature checks per second from all addresses together: the bound on the CPU they take (many addresses, each with a fresh bucket). */
  totalChecksPerSecond: number;
}

// 200 checks a second are ~22 ms of CPU a second here (an Ed25519 verification measured ~110 µs on this 2-core VM).
export const DEFAULT_GATE: GateOptions = { checksPerSecond: 20, goodForMs: 5_000, maxRemembered: 1024, totalChecksPerSecond: 200 };

/** A refusal of the port's: 401 (no or a bad token) or 429 (too many checks from this address). */
export interface Refusal {
  status: 401 | 429;
  error: string;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class TokenGate {
  private readonly good = new Map<string, number>(); // token → taken until (ms)
  private readonly buckets = new Map<string, Bucket>();
  private readonly total: Bucket;

  constructor(
    /** The full check (`verifyAdminToken`): why the token is refused, or until when it is good. */
    private readonly check: (token: string) => { refused: string } | { expiresAt: number },
    private readonly now: () => number,
    private readonly o: GateOptions = DEFAULT_GATE,
  ) {
    this.total = { tokens: 2 * o.totalChecksPerSecond, at: now() };
  }

  /** Undefined when `token` (sent from `from`) is an admin's, else the refusal to answer. */
  admit(token: string, from: string): Refusal | undefined {
    const now = this.now();
    const until = this.good.get(token);
    if (until !== undefined) {
      if (now <= until) return undefined;
      this.good.delete(token);
    }
    if (!this.take(from, now)) return { status: 429, error: `too many token checks from ${from}: at most ${this.o.checksPerSecond} a second` };
    if (!refill(this.total, now, this.o.totalChecksPerSecond)) return { status: 429, error: `too many token checks: at most ${this.o.totalChecksPerSecond} a second in all` };
    const r = this.check(token);
    if ("refused" in r) return { status: 401, error: r.refused };
    remember(this.good, token, Math.min(now + this.o.goodForMs, r.expiresAt), this.o.maxRemembered);
    return undefined;
  }

  /** One check from the address's bucket. */
  private take(from: string, now: number): boolean {
    const b = this.buckets.get(from) ?? { tokens: 2 * this.o.checksPerSecond, at: now };
    const ok = refill(b, now, this.o.checksPerSecond);
    remember(this.buckets, from, b, this.o.maxRemembered);
    return ok;
  }
}

/** Refills `b` at `perSecond` (up to twice that) and takes one from it if it holds one. */
function refill(b: Bucket, now: number, perSecond: number): boolean {
  b.tokens = Math.min(2 * perSecond, b.tokens + (Math.max(0, now - b.at) * perSecond) / 1000);
  b.at = now;
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

/** Sets `k` as the newest entry of `m`, forgetting the oldest past `max`. */
function remember<V>(m: Map<string, V>, k: string, v: V, max: number): void {
  m.delete(k);
  m.set(k, v);
  if (m.size > max) m.delete(m.keys().next().value as string);
}
