/**
 * The failure detector of a connection, pure (the caller passes the time in). Fed by the traffic
 * that flows anyway: every frame received stamps `lastHeard`. A link quiet for `pingMs` is pinged
 * (a light heartbeat, only on idle links); a peer that has said nothing at all for `silenceMs`
 * while a ping of ours has waited at least `silenceMs - pingMs` is declared silent. So a peer
 * that stopped (SIGSTOP, a wedged event loop, a half-open link) is found within about
 * `silenceMs` plus two ticks of its last frame, and a busy peer is never pinged at all.
 *
 * Two guards against blaming the peer for our own pause: a tick that comes much later than its
 * period (this process stalled, e.g. in GC) gives no verdict, so the frames that waited in the
 * socket meanwhile are read first; and while the caller does not read the peer (`deaf`,
 * backpressure) no verdict is given either.
 */
export interface SilenceOptions {
  /** Idle time (no frame received) before a ping. */
  pingMs: number;
  /** No frame for this long, with a ping unanswered, and the peer is silent. */
  silenceMs: number;
  /** How often `tick` is called. */
  tickMs: number;
}

/** What a tick asks of the connection: nothing, send a ping, or close the silent peer. */
export type Verdict = "ok" | "ping" | "silent";

/** Default idle time before a ping, ms. */
export const DEFAULT_PING_MS = 500;
/** The silence threshold as a multiple of the ping interval, when it is not given. */
export const SILENCE_PER_PING = 3;

/** The tick period for these settings: fine enough that detection stays near `silenceMs`. */
export function tickFor(pingMs: number): number {
  return Math.max(1, Math.min(pingMs >> 2, 100));
}

/**
 * The silence threshold for `pingMs` and an optional explicit `silenceMs` (default 3 × pingMs); a
 * RangeError when it leaves a ping no time to be answered.
 */
export function silenceFor(pingMs: number, silenceMs?: number): number {
  const s = silenceMs ?? pingMs * SILENCE_PER_PING;
  if (!Number.isSafeInteger(s) || s <= pingMs) throw new RangeError(`silenceMs (${s}) must be a whole number of ms above the ping interval (${pingMs})`);
  return s;
}

export class SilenceDetector {
  /** When the last frame arrived; the channel writes it on every frame (a field store, no call). */
  lastHeard: number;
  private pingSentAt: number | undefined;
  private lastTick: number;

  constructor(
    readonly opts: SilenceOptions,
    now: number,
  ) {
    this.lastHeard = now;
    this.lastTick = now;
  }

  /** A ping of ours is on its way. */
  pinged(now: number): void {
    this.pingSentAt = now;
  }

  /** Our ping was answered (or abandoned): the next one may go. */
  answered(): void {
    this.pingSentAt = undefined;
  }

  /** Whether a ping of ours awaits its answer. */
  get pinging(): boolean {
    return this.pingSentAt !== undefined;
  }

  /**
   * Whether this process has just come back from a stall (stopped, or a long GC): its ticks have
   * not come for far longer than their period. True until the next tick runs.
   */
  stalled(now: number): boolean {
    return now - this.lastTick > this.opts.tickMs * 4 + 50;
  }

  /** Called every `tickMs`: what the connection should do now. */
  tick(now: number, deaf = false): Verdict {
    const late = this.stalled(now);
    this.lastTick = now;
    if (deaf) return "ok";
    const quiet = now - this.lastHeard;
    if (this.pingSentAt === undefined) return quiet >= this.opts.pingMs ? "ping" : "ok";
    if (late) return "ok";
    return quiet >= this.opts.silenceMs && now - this.pingSentAt >= this.opts.silenceMs - this.opts.pingMs ? "silent" : "ok";
  }

  get silenceMs(): number {
    return this.opts.silenceMs;
  }

  /** How long the peer has said nothing. */
  quietFor(now: number): number {
    return now - this.lastHeard;
  }
}
