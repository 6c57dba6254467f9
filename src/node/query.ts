import { randomBytes } from "node:crypto";
import { AllotError, ErrorCode } from "../protocol/index.js";
import type { Bodies } from "../protocol/index.js";
import { DEFAULT_PEER, Peer, createWsTransport } from "../transport/index.js";
import type { Transport } from "../transport/index.js";

const silent = { warn: () => {}, debug: () => {} };

/** Asks an allocator (a tier-2 distributor) for its attribute database. */
export async function queryStatus(url: string, options: { timeoutMs?: number; transport?: Transport } = {}): Promise<Bodies["status"]> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const peer = new Peer(
    url,
    options.transport ?? createWsTransport(),
    {
      node: `status-${randomBytes(3).toString("hex")}`,
      role: "client",
      maxFrameBytes: 64 * 1024 * 1024,
      maxInFlight: 16,
      requestTimeoutMs: timeoutMs,
      handshakeMs: timeoutMs,
      heartbeatMs: 0,
      now: Date.now,
      log: silent,
      onMessage: (m, ch) => ch.replyError(m, new AllotError(ErrorCode.UNKNOWN_TYPE, "a status query serves nothing")),
    },
    { ...DEFAULT_PEER, random: Math.random },
  );
  try {
    const answer = await peer.request("status.get", {}, timeoutMs);
    if (answer.type !== "status") throw new AllotError(ErrorCode.INVALID, `${url} answered ${answer.type} to status.get`);
    return answer.body;
  } finally {
    peer.close();
  }
}
