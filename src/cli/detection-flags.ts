import { DEFAULT_PING_MS, SILENCE_PER_PING } from "../node/config.js";
import { CliError, parseIntFlag } from "./errors.js";

/** `--heartbeat-ms` and `--silence-ms`, as every command that runs a node (start, submit) takes them. */
export const DETECTION_OPTIONS = {
  "heartbeat-ms": { type: "string" },
  "silence-ms": { type: "string" },
} as const;

export const DETECTION_HELP = `  --heartbeat-ms N      failure detection: a link that has received nothing for N ms is pinged
                        (10 to 3600000, default 500; busy links carry no pings, their traffic
                        is the heartbeat)
  --silence-ms N        a peer that sends nothing for N ms while a ping waits is dead: its
                        connection closes and what was in flight on it is placed again
                        (default 3 x --heartbeat-ms, 1500: a stopped peer is found within 2 s)
`;

/** --heartbeat-ms and --silence-ms: the silence must leave a ping time to be answered. */
export function detectionFlags(heartbeat: string | undefined, silence: string | undefined): { heartbeatMs: number; silenceMs?: number } {
  const heartbeatMs = parseIntFlag("--heartbeat-ms", heartbeat, DEFAULT_PING_MS, 10, 3_600_000);
  if (silence === undefined) return { heartbeatMs };
  const silenceMs = parseIntFlag("--silence-ms", silence, heartbeatMs * SILENCE_PER_PING, 11, 36_000_000);
  if (silenceMs <= heartbeatMs) throw new CliError(`must exceed --heartbeat-ms (${heartbeatMs}), got ${silenceMs}`, "--silence-ms");
  return { heartbeatMs, silenceMs };
}
