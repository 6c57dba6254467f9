import { CLIENT_REQUESTS } from "../../protocol/index.js";
import type { Inbound, Message, MessageType, StatusBody } from "../../protocol/index.js";
import type { Channel } from "../../transport/index.js";
import type { Behaviour, RoleContext } from "../runtime/context.js";
import { resolvePolicy } from "../../policies/index.js";
import { RoundRobinSet, readsBody } from "../runtime/forward.js";
import { PolicySet } from "../runtime/policy-set.js";
import { unknownType } from "../runtime/role-actor.js";

export interface Tier1Config {
  /** A vip in front of the tier-2 set, or the tier-2 distributors themselves. */
  to: readonly string[];
  requestTimeoutMs: number;
  /**
   * How to choose among `to` (`NAME[:k=v,…]`, see the policy registry); each member's load is the
   * requests in flight to it. Default: in sequence (round robin), skipping unreachable members.
   */
  policy?: string;
}

/**
 * A first-tier distributor: takes a client's task and redirects it to a second-tier distributor
 * chosen in sequence, without looking at the task's attributes — it does not even decode them;
 * relays the answer back. It answers `status.get` itself: its members.
 */
export function createTier1(ctx: RoleContext, config: Tier1Config): Behaviour {
  const set = config.policy === undefined ? new RoundRobinSet(ctx, config.to) : new PolicySet(ctx, config.to, resolvePolicy(config.policy));
  const policyName = set instanceof PolicySet ? set.policy.name : "sequence";
  let redirected = 0;
  const redirect = (m: Inbound, ch: Channel): void => {
    if (!CLIENT_REQUESTS.has(m.type)) return ch.replyError(m, unknownType("tier-1 distributor", m));
    redirected++;
    set.forward(m, ch, config.requestTimeoutMs);
  };
  return {
    opaque: (type: MessageType) => !readsBody(type),
    handleOpaque: redirect,
    handle(m: Message, ch: Channel) {
      if (m.type === "status.get") return ch.reply(m, "status", { role: "tier1", node: ctx.id, forwarded: redirected, policy: policyName, members: set.status() } satisfies StatusBody);
      redirect(m, ch);
    },
    notReady: () => (set.members.some((p) => p.state === "open") ? undefined : `no member of its set is reachable (of ${set.members.length})`),
    stats: () => ({ redirected, policy: policyName, members: set.members.map((p) => ({ url: p.url, state: p.state })) }),
    stop: () => set.close(),
  };
}
