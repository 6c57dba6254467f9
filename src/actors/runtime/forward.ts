import { AllotError, ErrorCode } from "../../protocol/index.js";
import type { Inbound, LinkStatus, Message, MessageType } from "../../protocol/index.js";
import type { Channel, Peer } from "../../transport/index.js";
import type { RoleContext } from "./context.js";
import { linkStatus } from "./link-status.js";

/** A connection failure that means the request never reached (or never left) the member. */
export const tryNext = (err: AllotError): boolean => err.code === ErrorCode.UNREACHABLE || err.code === ErrorCode.DRAINING;

/**
 * Sequential round robin over a set of members: each request goes to the next member in turn; a
 * member that cannot be reached is skipped, so one dead member costs a retry, not a lost request.
 */
export class RoundRobinSet {
  readonly members: Peer[];
  /** Requests passed to each member (by its index), retries included. */
  private readonly sent: number[];
  private next = 0;

  constructor(
    private readonly ctx: RoleContext,
    urls: readonly string[],
  ) {
    if (urls.length === 0) throw new TypeError("a round-robin set needs at least one member URL");
    this.members = urls.map((u) => ctx.connect(u));
    this.sent = urls.map(() => 0);
  }

  /** Each member's connection and the requests passed to it, for `status`. */
  status(): LinkStatus[] {
    return this.members.map((p, i) => linkStatus(p, this.sent[i] ?? 0));
  }

  /** Sends `m` on to the next member and relays its answer (or typed error) back on `ch`. */
  forward(m: Inbound, ch: Channel, timeoutMs: number): void {
    this.attempt(m, ch, timeoutMs, 0, 1);
  }

  /**
   * `tried`: the members this request already went to, one bit each (a set of up to 31 members;
   * the members past those are told apart only by the count `attempt`). A retry never goes back
   * to one of them — the shared round robin may well point there again while other requests move
   * it — and skips members whose link is down; a request tries each member at most once.
   */
  private attempt(m: Inbound, ch: Channel, timeoutMs: number, tried: number, attempt: number): void {
    const at = this.pick(tried);
    const member = this.members[at] as Peer;
    this.sent[at] = (this.sent[at] ?? 0) + 1;
    const mask = at < 31 ? tried | (1 << at) : tried;
    member.forward(m, timeoutMs, (err, answer) => {
      // An answer is relayed at once, on the hot path: it touches no state of the set. A retry
      // moves the round robin, so it re-enters the actor like any other continuation.
      if (answer) ch.relay(m, answer);
      else if (err && tryNext(err) && attempt < this.members.length) this.ctx.enqueue(() => this.attempt(m, ch, timeoutMs, mask, attempt + 1));
      else ch.replyError(m, err ?? new AllotError(ErrorCode.INTERNAL, "forward ended with neither answer nor error"));
    });
  }

  /** The next member in turn not yet tried, preferring one whose link is up; advances the round robin past it. */
  private pick(tried: number): number {
    const n = this.members.length;
    let down = -1;
    for (let i = 0; i < n; i++) {
      const k = (this.next + i) % n;
      if (k < 31 && (tried & (1 << k)) !== 0) continue;
      if (this.members[k]?.current) {
        this.next = (k + 1) % n;
        return k;
      }
      if (down < 0) down = k;
    }
    // Every untried member is down: the first of them (it fails at once, or has come back).
    const k = down >= 0 ? down : this.next;
    this.next = (k + 1) % n;
    return k;
  }

  close(): void {
    for (const p of this.members) p.close();
  }
}

/**
 * A forwarder reads a body only where it must: `status.get`, which it answers itself (with its
 * own view, not a member's). Everything else passes through as the bytes it came in, a client's
 * own requests too: the channel stamps the verified client in their header, not their body.
 */
export function readsBody(type: MessageType): boolean {
  return type === "status.get";
}

/**
 * The index of the first member, from `start` on in turn, whose connection is up; `start` when
 * none is. A member that is down would only fail at once (or cost its timeout).
 */
export function firstConnected(members: readonly Peer[], start: number): number {
  for (let i = 0; i < members.length; i++) {
    const k = (start + i) % members.length;
    if (members[k]?.current) return k;
  }
  return start;
}
