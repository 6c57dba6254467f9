/**
 * A client's retry budget (the model: gRPC retry throttling, Finagle's and Envoy's retry
 * budgets): retries may be at most `ratio` of the requests made, plus `minPerSecond` so that a
 * client sending little can still retry, plus a `burst` it starts with. A token bucket: each
 * request deposits `ratio` of a token, time deposits `minPerSecond` a second, a retry takes one
 * whole token, and the balance never exceeds `burst`. So over any span of T ms, retries granted
 * <= burst + ratio × requests + minPerSecond × T / 1000, and an outage cannot turn into a retry
 * storm. Pure: the caller passes the time in.
 */
export interface RetryBudgetOptions {
  /** Share of requests that may be retried, 0 to 1. */
  ratio: number;
  /** Retries a second allowed whatever the request rate. */
  minPerSecond: number;
  /** The most retries that can be saved up (and the balance it starts with), >= 1. */
  burst: number;
}

/** 20 % of requests, plus 10 a second, saving up at most 100. */
export const DEFAULT_RETRY_BUDGET: RetryBudgetOptions = { ratio: 0.2, minPerSecond: 10, burst: 100 };

/** Checks budget options; a RangeError names the bad one. */
export function checkRetryBudget(o: RetryBudgetOptions): void {
  if (!(o.ratio >= 0 && o.ratio <= 1)) throw new RangeError(`retry budget ratio must be between 0 and 1, got ${o.ratio}`);
  if (!(o.minPerSecond >= 0 && Number.isFinite(o.minPerSecond))) throw new RangeError(`retry budget minPerSecond must be a finite number >= 0, got ${o.minPerSecond}`);
  if (!(o.burst >= 1 && Number.isFinite(o.burst))) throw new RangeError(`retry budget burst must be a finite number >= 1, got ${o.burst}`);
}

export class RetryBudget {
  private tokens: number;
  private at: number;
  /** Retries refused for want of budget. */
  refused = 0;
  granted = 0;

  constructor(
    readonly opts: RetryBudgetOptions,
    now: number,
  ) {
    checkRetryBudget(opts);
    this.tokens = opts.burst;
    this.at = now;
  }

  /** A first attempt was made: it earns `ratio` of a retry. */
  request(now: number): void {
    this.refill(now);
    this.tokens = Math.min(this.opts.burst, this.tokens + this.opts.ratio);
  }

  /** Takes one retry from the budget; false (and nothing taken) when it is spent. */
  tryRetry(now: number): boolean {
    this.refill(now);
    if (this.tokens < 1) {
      this.refused++;
      return false;
    }
    this.tokens -= 1;
    this.granted++;
    return true;
  }

  /** Retries that could be made now. */
  available(now: number): number {
    this.refill(now);
    return Math.floor(this.tokens);
  }

  private refill(now: number): void {
    // A clock that steps back earns nothing and costs nothing.
    if (now <= this.at) return;
    this.tokens = Math.min(this.opts.burst, this.tokens + ((now - this.at) * this.opts.minPerSecond) / 1000);
    this.at = now;
  }
}
