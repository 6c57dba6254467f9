import { AllotError, ErrorCode, copyPlainData, isErrorCode } from "../../protocol/index.js";

/**
 * How one run of a handler ended, as its answer will say. `fault`: the failure is not the
 * handler's own error but the run's (its result cannot be sent, its thread died), which the
 * server counts against its health (run-health.ts).
 */
export type Outcome = { ok: true; result: unknown } | { ok: false; error: AllotError; fault?: true };

/** Longest handler message an answer carries (the wire allows 4096 characters). */
const MAX_MESSAGE = 1000;

/** A readable message for anything thrown — an Error, a string, undefined, a null-prototype object — without throwing itself. */
export function describeThrown(x: unknown): string {
  try {
    if (x instanceof Error) return String(x.message || x.name);
    if (typeof x === "string") return x;
    if (x === undefined || x === null || typeof x !== "object") return String(x);
    const json = JSON.stringify(x);
    if (json !== undefined) return json;
  } catch {
    // A getter, a proxy or a toJSON that throws: fall back to the tag below.
  }
  try {
    return Object.prototype.toString.call(x);
  } catch {
    return "a value that cannot be described";
  }
}

function isOwnAllotError(x: unknown): x is AllotError {
  try {
    return x instanceof AllotError;
  } catch {
    return false;
  }
}

function allotErrorLike(x: unknown): { code: ErrorCode; message: string; retryable: boolean } | undefined {
  try {
    if (!(x instanceof Error) || x.name !== "AllotError") return undefined;
    const { code, retryable } = x as Error & { code?: unknown; retryable?: unknown };
    if (!isErrorCode(code)) return undefined;
    return { code, message: String(x.message), retryable: typeof retryable === "boolean" ? retryable : false };
  } catch {
    return undefined;
  }
}

const clip = (s: string): string => (s.length > MAX_MESSAGE ? `${s.slice(0, MAX_MESSAGE)}…` : s);

/** A handler's result, copied to plain data here so that nothing past the boundary can fail on it. */
export function resultOutcome(app: string, value: unknown): Outcome {
  try {
    return { ok: true, result: copyPlainData(value, "result") };
  } catch (err) {
    return { ok: false, error: new AllotError(ErrorCode.INVALID, clip(`the ${app} handler's result cannot be sent: ${describeThrown(err)}`), { retryable: false }), fault: true };
  }
}

/** A handler's throw or rejection: TASK_FAILED with its message, or the AllotError it threw (a handler may choose a retryable code). */
export function failureOutcome(app: string, thrown: unknown): Outcome {
  // A proxy whose prototype trap throws makes even `instanceof` throw: nothing here may.
  if (isOwnAllotError(thrown)) return { ok: false, error: thrown };
  // An AllotError from another copy of the package (a handler module that resolves its own): same name, a known code.
  const like = allotErrorLike(thrown);
  if (like) return { ok: false, error: new AllotError(like.code, clip(like.message), { retryable: like.retryable, cause: thrown }) };
  return { ok: false, error: new AllotError(ErrorCode.TASK_FAILED, clip(`${app}: ${describeThrown(thrown)}`), { retryable: false }) };
}

function isThenable(x: unknown): x is PromiseLike<unknown> {
  try {
    return typeof x === "object" && x !== null && typeof (x as { then?: unknown }).then === "function";
  } catch {
    return false;
  }
}

/**
 * Calls a handler behind the boundary: `done` is called exactly once with its outcome —
 * synchronously when the handler returns or throws, later when it returns a promise. Nothing the
 * handler does escapes as a throw.
 */
export function invoke<C>(handler: (payload: unknown, task: C) => unknown, app: string, payload: unknown, task: C, done: (o: Outcome) => void): void {
  let out: unknown;
  try {
    out = handler(payload, task);
  } catch (err) {
    return done(failureOutcome(app, err));
  }
  if (!isThenable(out)) return done(resultOutcome(app, out));
  let settled = false;
  const once = (o: Outcome): void => {
    if (settled) return;
    settled = true;
    done(o);
  };
  try {
    out.then(
      (v) => once(resultOutcome(app, v)),
      (err: unknown) => once(failureOutcome(app, err)),
    );
  } catch (err) {
    once(failureOutcome(app, err));
  }
}
