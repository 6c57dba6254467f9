import type { Message } from "./types.js";

// Points in time cross the wire as the time left until them (ms), not as clock readings: the
// sender subtracts its clock when it encodes, the receiver adds its own when it decodes. Hosts
// whose clocks differ by seconds then agree on how long a task has left, and a peer's clock far
// ahead or behind can neither expire a task early nor keep it for good. The time a message spends
// in transit is not subtracted: a receiver's deadline is later by one hop's latency, milliseconds.
// Forwarders that pass a body on unread pass its remaining time on unchanged.

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null;

/** The object and key that hold a message type's point in time, or undefined for a type without one. */
function holder(type: string, body: unknown): [Record<string, unknown>, string] | undefined {
  if (!isRecord(body)) return undefined;
  switch (type) {
    case "task.place":
    case "task.submit":
    case "server.request":
      return isRecord(body.task) ? [body.task, "deadline"] : undefined;
    case "task.expect":
      return [body, "expiresAt"];
    case "task.run":
      return [body, "deadline"];
    default:
      return undefined;
  }
}

/**
 * Encodes `body` with its point in time as the time left at `now`: calls `pack` with the field
 * rewritten and puts the original back before returning (the body is the sender's own object).
 */
export function packWithRemainingTime<T>(type: string, body: unknown, now: number, pack: (body: unknown) => T): T {
  const h = holder(type, body);
  if (h === undefined) return pack(body);
  const [obj, key] = h;
  const at = obj[key];
  if (typeof at !== "number") return pack(body);
  obj[key] = at - now;
  try {
    return pack(body);
  } finally {
    obj[key] = at;
  }
}

/** Turns a decoded message's time left back into a point in time on this host's clock. */
export function toLocalTime(m: Message, now: number): void {
  switch (m.type) {
    case "task.place":
    case "task.submit":
    case "server.request":
      m.body.task.deadline += now;
      return;
    case "task.expect":
      m.body.expiresAt += now;
      return;
    case "task.run":
      if (m.body.deadline !== undefined) m.body.deadline += now;
      return;
    default:
      return;
  }
}
