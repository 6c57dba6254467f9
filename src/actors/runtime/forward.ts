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

  constructor(ctx: RoleContext, urls: readonly string[]) {
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
    this.attempt(m, ch, timeoutMs, this.members.length);
  }

  private attempt(m: Inbound, ch: Channel, timeoutMs: number, triesLeft: number): void {
    const member = this.members[this.next] as Peer;
    this.sent[this.next] = (this.sent[this.next] ?? 0) + 1;
    this.next = (this.next + 1) % this.members.length;
    member.forward(m, timeoutMs, (err, answer) => {
      if (answer) ch.relay(m, answer);
      else if (err && tryNext(err) && triesLeft > 1) this.attempt(m, ch, timeoutMs, triesLeft - 1);
      else ch.replyError(m, err ?? new AllotError(ErrorCode.INTERNAL, "forward ended with neither answer nor error"));
    });
  }

  close(): void {
    for (const p of this.members) p.close();
  }
}

/**
 * A forwarder reads a body only where it must: `status.get`, which it answers itself (with its
 * own view, not a member's). Everything else passes through as the bytes it came in, except a
 * client's own `task.place`, which the channel reads to stamp the verified client on it.
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
