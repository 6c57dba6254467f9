import { AllotError, ErrorCode } from "../protocol/index.js";
import type { Inbound, LinkStatus, Task } from "../protocol/index.js";
import { allocate } from "../policies/index.js";
import type { Policy } from "../policies/index.js";
import { ServerTable } from "../state/index.js";
import type { Channel, Peer } from "../transport/index.js";
import type { RoleContext } from "./context.js";
import { tryNext } from "./forward.js";
import { linkStatus } from "./link-status.js";

const MEMBER = "member";
/** A forwarder does not read the task: its policy chooses among members as for a task with no attributes. */
const ANY: Task = { id: "forward", key: "forward", app: MEMBER, deadline: 0, require: [], clientAttrs: {}, prefs: {}, payload: null };

/**
 * A set of members (a tier-1 distributor's tier-2s) chosen by a selection policy instead of in
 * sequence. Each member is an entry whose load is the requests in flight to it, so least-loaded,
 * p2c or idle-queue spread by outstanding work; a member whose connection is down is out until
 * it reconnects. A member that cannot be reached costs a retry on another, not the request.
 */
export class PolicySet {
  readonly members: Peer[];
  private readonly byUrl = new Map<string, Peer>();
  /** Requests passed to each member, by URL, retries included. */
  private readonly sent = new Map<string, number>();
  private readonly table = new ServerTable();
  private readonly pctx: { random(): number; now(): number };

  constructor(
    ctx: RoleContext,
    urls: readonly string[],
    readonly policy: Policy,
  ) {
    if (urls.length === 0) throw new TypeError("a policy set needs at least one member URL");
    this.pctx = { random: ctx.random, now: ctx.now };
    for (const url of urls) this.table.apply({ id: url, url, apps: [MEMBER], capacity: 1_000_000, power: 1, load: 0, attrs: {}, version: [1, 1] }, 0);
    this.members = urls.map((url) => {
      const p = ctx.connect(url, { onOpen: () => this.table.setStatus(url, "alive"), onDown: () => this.table.setStatus(url, "dead") });
      this.byUrl.set(url, p);
      return p;
    });
  }

  /** Each member's connection and the requests passed to it, for `status`. */
  status(): LinkStatus[] {
    return this.members.map((p) => linkStatus(p, this.sent.get(p.url) ?? 0));
  }

  /** Sends `m` on to the member the policy picks and relays its answer (or typed error) back on `ch`. */
  forward(m: Inbound, ch: Channel, timeoutMs: number): void {
    this.attempt(m, ch, timeoutMs, this.members.length);
  }

  private attempt(m: Inbound, ch: Channel, timeoutMs: number, triesLeft: number): void {
    // A member's "reservations" are its requests in flight: no cap of its own beyond the channel's.
    const a = allocate(this.table, ANY, this.policy, this.pctx, Infinity);
    if (!a.ok) return ch.replyError(m, new AllotError(ErrorCode.UNREACHABLE, "no member of the set is reachable", { retryable: true }));
    const url = a.server.id;
    this.sent.set(url, (this.sent.get(url) ?? 0) + 1);
    (this.byUrl.get(url) as Peer).forward(m, timeoutMs, (err, answer) => {
      this.table.release(url);
      if (answer) return ch.relay(m, answer);
      if (err && tryNext(err) && triesLeft > 1) {
        this.table.setStatus(url, "dead"); // back when it reconnects
        return this.attempt(m, ch, timeoutMs, triesLeft - 1);
      }
      ch.replyError(m, err ?? new AllotError(ErrorCode.INTERNAL, "forward ended with neither answer nor error"));
    });
  }

  close(): void {
    for (const p of this.members) p.close();
  }
}
