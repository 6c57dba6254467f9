/** Stable error codes. They travel on the wire, so never rename one. */
export const ErrorCode = {
  BAD_FRAME: "BAD_FRAME",
  UNKNOWN_TYPE: "UNKNOWN_TYPE",
  INVALID: "INVALID",
  UNAUTHORIZED: "UNAUTHORIZED",
  NO_SERVER: "NO_SERVER",
  OVERLOADED: "OVERLOADED",
  TIMEOUT: "TIMEOUT",
  DRAINING: "DRAINING",
  INTERNAL: "INTERNAL",
  UNREACHABLE: "UNREACHABLE",
  VERSION_MISMATCH: "VERSION_MISMATCH",
  /** The task's handler threw or rejected: its own failure, not the runtime's. Not retried unless the handler says so. */
  TASK_FAILED: "TASK_FAILED",
  /** The client cancelled the task (its AbortSignal fired). */
  CANCELLED: "CANCELLED",
  /**
   * The client gave up retrying before the deadline: the task failed its attempt limit
   * (`maxAttempts`), or the client's retry budget was spent. Raised locally; not retryable.
   */
  RETRIES_EXHAUSTED: "RETRIES_EXHAUSTED",
  /**
   * A run named a lease its server no longer holds: expired, revoked (the server no longer fits
   * the lease's class, is draining or was ejected) or unknown. Retryable: the client places the
   * task on its own, as it would without a lease.
   */
  LEASE_EXPIRED: "LEASE_EXPIRED",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const RETRYABLE: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  ErrorCode.NO_SERVER,
  ErrorCode.OVERLOADED,
  ErrorCode.TIMEOUT,
  ErrorCode.DRAINING,
  ErrorCode.UNREACHABLE,
  ErrorCode.LEASE_EXPIRED,
]);

export function isErrorCode(x: unknown): x is ErrorCode {
  return typeof x === "string" && Object.hasOwn(ErrorCode, x);
}

/** Whether a request that failed with this code may succeed when tried again (elsewhere or later). */
export function isRetryable(code: ErrorCode): boolean {
  return RETRYABLE.has(code);
}

/** The plain shape an error takes on the wire. */
export interface WireError {
  code: ErrorCode;
  message: string;
  retryable: boolean;
}

/** Every failure Allot reports: a stable code, whether a retry may help, and the cause. */
export class AllotError extends Error {
  override readonly name = "AllotError";
  readonly code: ErrorCode;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; retryable?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable ?? isRetryable(code);
  }

  toWire(): WireError {
    return { code: this.code, message: this.message, retryable: this.retryable };
  }

  /** Rebuilds an error that crossed the wire. */
  static fromWire(w: WireError): AllotError {
    return new AllotError(w.code, w.message, { retryable: w.retryable });
  }

  /** Wraps anything thrown into an AllotError, keeping AllotErrors as they are. */
  static from(err: unknown, code: ErrorCode = ErrorCode.INTERNAL): AllotError {
    if (err instanceof AllotError) return err;
    const message = err instanceof Error ? err.message : String(err);
    return new AllotError(code, message, { cause: err });
  }
}
