// A client transport that notes when each of its connections closes: the client's own view of a
// link, which no node's status shows (a partition between a client and a server).
import { DEFAULT_LIMITS, DEFAULT_PING_MS, createWsTransport, silenceFor } from "../src/transport/index.js";
import type { Transport, Wire } from "../src/transport/index.js";

export interface TappedTransport {
  transport: Transport;
  /** When a connection to `url` (as dialled) last closed at or after `since`, if one did. */
  closedSince(url: string, since: number): number | undefined;
}

export function tappedTransport(): TappedTransport {
  // Dials given up on after the silence threshold, as a node's own transport does.
  const inner = createWsTransport(DEFAULT_LIMITS, undefined, silenceFor(DEFAULT_PING_MS));
  const closes = new Map<string, number[]>();
  const transport: Transport = {
    limits: inner.limits,
    listen: (hostPort, onWire, options) => inner.listen(hostPort, onWire, options),
    async connect(url) {
      const w: Wire = await inner.connect(url);
      const setHandlers = w.setHandlers.bind(w);
      const close = w.close.bind(w);
      const noteClose = (): void => void closes.set(url, [...(closes.get(url) ?? []), Date.now()]);
      // Our side giving up counts when it decides, not when the socket is finally gone (a close
      // handshake with a peer cut off waits for its 2 s timeout).
      w.close = (code, reason) => {
        noteClose();
        close(code, reason);
      };
      // The channel sets its handlers once; the tap wraps its close handler.
      w.setHandlers = (h) =>
        setHandlers({
          frame: (b) => h.frame(b),
          close: (code, reason) => {
            noteClose();
            h.close(code, reason);
          },
        });
      return w;
    },
  };
  return { transport, closedSince: (url, since) => closes.get(url)?.find((t) => t >= since) };
}
