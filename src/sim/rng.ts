/**
 * Seeded pseudo-random numbers for the simulator: xoshiro128** seeded through splitmix32, with
 * samplers for the distributions the simulation needs. Pure and deterministic: the same seed and
 * stream give the same sequence on every platform (32-bit integer arithmetic only).
 */

/** splitmix32: spreads a seed over the state words (and is a fine generator by itself). */
function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/**
 * xoshiro128** (Blackman and Vigna). `stream` picks an independent sequence for the same seed, so
 * each source of randomness in a run (arrivals, sizes, decisions…) has its own and adding draws to
 * one does not shift the others: the basis of common random numbers across policies.
 */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number, stream = 0) {
    const st = { s: (Math.imul(seed | 0, 0x2545f491) ^ Math.imul((stream + 1) | 0, 0x6a09e667)) | 0 };
    // Two rounds of mixing so seeds 1 and 2 start far apart.
    splitmix32(st);
    this.a = splitmix32(st);
    this.b = splitmix32(st);
    this.c = splitmix32(st);
    this.d = splitmix32(st);
    if ((this.a | this.b | this.c | this.d) === 0) this.d = 1; // the all-zero state is a fixed point
  }

  /** The next 32 random bits, as an unsigned integer. */
  nextU32(): number {
    const r = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return r;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  next(): number {
    const hi = this.nextU32() >>> 5; // 27 bits
    const lo = this.nextU32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Exponential with the given mean. */
  exponential(mean = 1): number {
    return -Math.log1p(-this.next()) * mean;
  }

  /** Poisson with the given mean (Knuth's product method below 30, PTRS rejection above). */
  poisson(mean: number): number {
    if (!(mean >= 0) || !Number.isFinite(mean)) throw new RangeError(`poisson: mean must be a finite number >= 0, got ${mean}`);
    if (mean === 0) return 0;
    if (mean < 30) {
      const limit = Math.exp(-mean);
      let k = 0;
      let p = this.next();
      while (p > limit) {
        k++;
        p *= this.next();
      }
      return k;
    }
    // Hörmann (1993), "The transformed rejection method for generating Poisson random variables".
    const sq = Math.sqrt(mean);
    const logMean = Math.log(mean);
    const b = 0.931 + 2.53 * sq;
    const a = -0.059 + 0.02483 * b;
    const invAlpha = 1.1239 + 1.1328 / (b - 3.4);
    const vr = 0.9277 - 3.6224 / (b - 2);
    for (;;) {
      const u = this.next() - 0.5;
      const v = this.next();
      const us = 0.5 - Math.abs(u);
      const k = Math.floor(((2 * a) / us + b) * u + mean + 0.43);
      if (us >= 0.07 && v <= vr) return k;
      if (k < 0 || (us < 0.013 && v > us)) continue;
      if (Math.log(v) + Math.log(invAlpha) - Math.log(a / (us * us) + b) <= -mean + k * logMean - logFactorial(k)) return k;
    }
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

function logFactorial(k: number): number {
  if (k < 2) return 0;
  if (k < 20) {
    let f = 1;
    for (let i = 2; i <= k; i++) f *= i;
    return Math.log(f);
  }
  // Stirling's series: exact to double precision from 20 on.
  const x = k + 1;
  return (x - 0.5) * Math.log(x) - x + 0.5 * Math.log(2 * Math.PI) + 1 / (12 * x) - 1 / (360 * x * x * x);
}

/**
 * A bounded Pareto distribution on [low, high] with shape `alpha`, scaled so its mean is `mean`:
 * heavy-tailed, but every moment is finite, so mean response times of FIFO queues converge (an
 * unbounded Pareto with alpha <= 2 has infinite variance, and an M/G/1 queue's mean wait with it
 * is infinite).
 */
export class BoundedPareto {
  readonly low: number;
  readonly high: number;
  private readonly ratio: number;

  /** `spread` = high / low. */
  constructor(
    readonly alpha: number,
    readonly spread: number,
    readonly mean = 1,
  ) {
    if (!(alpha > 0) || alpha === 1) throw new RangeError(`bounded Pareto: alpha must be > 0 and not 1, got ${alpha}`);
    if (!(spread > 1)) throw new RangeError(`bounded Pareto: spread must be > 1, got ${spread}`);
    // Mean of BP(alpha, L, H) with H = spread·L is L × m(alpha, spread): linear in L.
    const r = Math.pow(1 / spread, alpha);
    const unitMean = (alpha / (alpha - 1)) * ((1 - Math.pow(1 / spread, alpha - 1)) / (1 - r));
    this.low = mean / unitMean;
    this.high = this.low * spread;
    this.ratio = r;
  }

  /** Inverse of the CDF F(x) = (1 − (L/x)^α) / (1 − (L/H)^α). */
  sample(rng: Rng): number {
    return this.low / Math.pow(1 - rng.next() * (1 - this.ratio), 1 / this.alpha);
  }

  /** E[X²], for the Pollaczek–Khinchine formula and the docs. */
  secondMoment(): number {
    const { alpha, low, high } = this;
    const c = (alpha * Math.pow(low, alpha)) / (1 - this.ratio);
    return alpha === 2 ? c * Math.log(high / low) : (c * (Math.pow(high, 2 - alpha) - Math.pow(low, 2 - alpha))) / (2 - alpha);
  }
}

/** The heavy-tailed service distribution of `--service pareto`: alpha 1.5, max/min 1000, mean 1. */
export const PARETO_SERVICE = new BoundedPareto(1.5, 1000, 1);
