import type { Message } from "../protocol/index.js";
import type { Channel } from "../transport/index.js";
import type { Behaviour, RoleContext } from "./context.js";
import { RoundRobinSet, budgetFor, stampClient } from "./forward.js";
import { unknownType } from "./role-actor.js";

export interface Tier1Config {
  /** A vip in front of the tier-2 set, or the tier-2 distributors themselves. */
  to: readonly string[];
}

/**
 * A first-tier distributor: takes a client's task and redirects it to a second-tier distributor
 * chosen in sequence, without looking at the task's attributes; relays the answer back.
 */
export function createTier1(ctx: RoleContext, config: Tier1Config): Behaviour {
  const set = new RoundRobinSet(ctx, config.to);
  let redirected = 0;
  return {
    handle(m: Message, ch: Channel) {
      if (m.type !== "task.place") return ch.replyError(m, unknownType("tier-1 distributor", m));
      stampClient(m, ch);
      redirected++;
      set.forward(m, ch, budgetFor(m, ctx.now(), 0));
    },
    stats: () => ({ redirected, members: set.members.map((p) => ({ url: p.url, state: p.state })) }),
    stop: () => set.close(),
  };
}
