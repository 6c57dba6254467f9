import type { Inbound, Message, MessageType, StatusBody } from "../../protocol/index.js";
import type { Channel } from "../../transport/index.js";
import type { Behaviour, RoleContext } from "../runtime/context.js";
import { RoundRobinSet, readsBody } from "../runtime/forward.js";

export interface VipConfig {
  /** The set behind this address: tier-1 or tier-2 distributors. */
  to: readonly string[];
  requestTimeoutMs: number;
}

/**
 * The virtual-IP box: one address in front of a distributor set. Every request goes to the next
 * member in sequence, whatever it holds and without reading its body (a client's verified id
 * and address go in the envelope's header, stamped by the channel); the answer comes back the
 * same way. It answers `status.get` itself: its members.
 */
export function createVip(ctx: RoleContext, config: VipConfig): Behaviour {
  const set = new RoundRobinSet(ctx, config.to);
  let forwarded = 0;
  const forward = (m: Inbound, ch: Channel): void => {
    forwarded++;
    set.forward(m, ch, config.requestTimeoutMs);
  };
  return {
    opaque: (type: MessageType) => !readsBody(type),
    handleOpaque: forward,
    handle(m: Message, ch: Channel) {
      if (m.type === "status.get") return ch.reply(m, "status", { role: "vip", node: ctx.id, forwarded, members: set.status() } satisfies StatusBody);
      forward(m, ch);
    },
    notReady: () => (set.members.some((p) => p.state === "open") ? undefined : `no member of its set is reachable (of ${set.members.length})`),
    stats: () => ({ forwarded, members: set.members.map((p) => ({ url: p.url, state: p.state })) }),
    stop: () => set.close(),
  };
}
