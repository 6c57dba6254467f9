import { DEFAULT_LIMITS } from "../transport/index.js";
import type { Listener, Transport, Wire } from "../transport/index.js";
import type { Hub } from "./hub.js";

/**
 * One node's Transport onto the hub: the node's Channels run unchanged on top (the real codec and
 * decode boundary on both ends), only the bytes travel through the hub. Its URL is fixed by the
 * node id (`mem://ID:1`), so a restarted node is found where it was.
 */
export function urlOf(node: string): string {
  return `mem://${node}:1`;
}

/** `alive` is false once this incarnation crashed: it may then neither listen nor dial. */
export function hubTransport(hub: Hub, node: string, alive: () => boolean): Transport {
  return {
    limits: DEFAULT_LIMITS,
    async listen(_hostPort: string, onWire: (w: Wire) => void): Promise<Listener> {
      if (!alive()) throw new Error(`${node} has crashed`);
      const url = urlOf(node);
      hub.listen(node, url, onWire);
      return { url, refused: { notWebSocket: 0, tooMany: 0, tooManyFromAddress: 0, tlsHandshakeFailed: 0 }, close: async () => hub.unlisten(url, onWire) };
    },
    async connect(url: string): Promise<Wire> {
      if (!alive()) throw new Error(`connect ECONNREFUSED ${url} (${node} has crashed)`);
      return hub.connect(node, url);
    },
  };
}
