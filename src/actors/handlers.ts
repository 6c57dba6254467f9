import { createHash } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { AllotError, ErrorCode } from "../protocol/index.js";

/** What a handler learns about the task it runs. */
export interface TaskInfo {
  taskId: string;
  key: string;
  app: string;
}

/** Runs one task of an application: payload in, plain-data result out (or a promise of it). */
export type Handler = (payload: unknown, info: TaskInfo) => unknown;

const field = (payload: unknown, name: string): unknown =>
  typeof payload === "object" && payload !== null && !Array.isArray(payload) ? (payload as Record<string, unknown>)[name] : undefined;

/** A bad payload is the caller's mistake: INVALID (not retried), not the server's INTERNAL. */
function count(x: unknown, name: string, max: number): number {
  if (typeof x !== "number" || !Number.isInteger(x) || x < 0 || x > max) throw new AllotError(ErrorCode.INVALID, `${name} must be an integer from 0 to ${max}, got ${JSON.stringify(x)}`);
  return x;
}

/** The handlers every app server has unless told otherwise. */
export const builtinHandlers: Readonly<Record<string, Handler>> = {
  /** Returns its payload. */
  echo: (payload) => payload,
  /** Waits `ms` (a number, or `{ ms }`) and returns `{ slept: ms }`. */
  sleep: async (payload) => {
    const ms = count(typeof payload === "number" ? payload : field(payload, "ms"), "sleep ms", 600_000);
    await sleep(ms);
    return { slept: ms };
  },
  /** CPU work: `rounds` (a number, or `{ rounds, data }`) chained sha256 rounds; returns the hex digest. */
  hash: (payload) => {
    const rounds = count(typeof payload === "number" ? payload : field(payload, "rounds"), "hash rounds", 10_000_000);
    const data = field(payload, "data");
    let digest: Buffer = Buffer.from(typeof data === "string" ? data : "allot");
    for (let i = 0; i < rounds; i++) digest = createHash("sha256").update(digest).digest();
    return { rounds, digest: digest.toString("hex") };
  },
};
