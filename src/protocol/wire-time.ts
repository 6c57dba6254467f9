import type { Message } from "./types.js";

// Points in time cross the wire as the time left until them (ms), not as clock readings: the
// sender subtracts its clock when it encodes, the receiver adds its own when it decodes. Hosts
// whose clocks differ by seconds then agree on how long a task has left, and a peer's clock far
// ahead or behind can neither expire a task early nor keep it for good. The time a message spends
// in transit is not subtracted: a receiver's deadline is later by one hop's latency, milliseconds.
// Forwarders that pass a body on unread pass its remaining time on unchanged.

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null;

type Holder = [Record<string, unknown>, string];

/** The object and key that hold a message type's one point in time, or undefined for a type with none or several. */
function holder(type: string, body: Record<string, unknown>): Holder | undefined {
  switch (type) {
    case "task.place":
    case "task.submit":
    case "server.request":
      return isRecord(body.task) ? [body.task, "deadline"] : undefined;
    case "task.expect":
    case "lease.grant":
      return [body, "expiresAt"];
    case "task.run":
      return [body, "deadline"];
    default:
      return undefined;
  }
}

/** The objects of a batch that each hold a point in time under `key`. */
function batchHolders(type: string, body: Record<string, unknown>): [unknown[], string, string | undefined] | undefined {
  const at = (list: unknown, key: string, inner?: string): [unknown[], string, string | undefined] | undefined => (Array.isArray(list) ? [list, key, inner] : undefined);
  switch (type) {
    case "task.placeBatch":
      return at(body.tasks, "deadline", "task");
    case "server.requestBatch":
      return at(body.requests, "deadline", "task");
    case "task.expectBatch":
      return at(body.expects, "expiresAt");
    case "lease.granted":
      return at(body.leases, "expiresAt");
    default:
      return undefined;
  }
}

/** Adds `delta` to each point in time a message's body holds (its own objects; none are copied). */
function shift(type: string, body: Record<string, unknown>, delta: number): void {
  const h = holder(type, body);
  if (h !== undefined) {
    const [obj, key] = h;
    if (typeof obj[key] === "number") obj[key] = (obj[key] as number) + delta;
    return;
  }
  const b = batchHolders(type, body);
  if (b === undefined) return;
  const [list, key, inner] = b;
  for (const e of list) {
    const obj = inner === undefined ? e : isRecord(e) ? e[inner] : undefined;
    if (isRecord(obj) && typeof obj[key] === "number") obj[key] = (obj[key] as number) + delta;
  }
}

/**
 * Encodes `body` with its points in time as the time left at `now`: calls `pack` with the fields
 * rewritten and puts them back before returning (the body is the sender's own object).
 */
export function packWithRemainingTime<T>(type: string, body: unknown, now: number, pack: (body: unknown) => T): T {
  if (!isRecord(body) || (holder(type, body) === undefined && batchHolders(type, body) === undefined)) return pack(body);
  shift(type, body, -now);
  try {
    return pack(body);
  } finally {
    shift(type, body, now);
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
    case "lease.grant":
      m.body.expiresAt += now;
      return;
    case "task.run":
      if (m.body.deadline !== undefined) m.body.deadline += now;
      return;
    case "task.placeBatch":
      for (const t of m.body.tasks) if ("task" in t) t.task.deadline += now;
      return;
    case "task.expectBatch":
      for (const e of m.body.expects) e.expiresAt += now;
      return;
    case "lease.granted":
      for (const l of m.body.leases) l.expiresAt += now;
      return;
    case "server.requestBatch":
      for (const r of m.body.requests) r.task.deadline += now;
      return;
    default:
      return;
  }
}
