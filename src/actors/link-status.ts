import type { LinkStatus } from "../protocol/index.js";
import type { Peer } from "../transport/index.js";

/** A dialled connection as `status` shows it: its state, the node at the other end, requests awaiting an answer. */
export function linkStatus(p: Peer, forwarded?: number): LinkStatus {
  const ch = p.current;
  return {
    url: p.url,
    ...(ch && ch.peerId !== "" ? { id: ch.peerId } : {}),
    state: p.state,
    inFlight: ch?.inFlight ?? 0,
    ...(forwarded === undefined ? {} : { forwarded }),
  };
}
