/**
 * A workload's task sequence drawn one task at a time: gaps between arrivals at rate 1, sizes
 * and the allocator each task arrives at, each from its own seeded stream, so every run of one
 * seed sees the same tasks (common random numbers) without holding them all in memory.
 */
import { PARETO_SERVICE, Rng } from "./rng.js";

/** Task sizes, mean 1: exponential, bounded Pareto (PARETO_SERVICE) or deterministic (every size 1: M/D/1 queues). */
export type ServiceModel = "exp" | "pareto" | "det";

/** Stream numbers of one seed: the measured tasks' and the warm-up's. */
export interface TaskStreams {
  gaps: number;
  sizes: number;
  via: number;
}

export class TaskStream {
  private readonly gapRng: Rng;
  private readonly sizeRng: Rng;
  private readonly viaRng: Rng;
  private readonly service: ServiceModel;
  private readonly allocators: number;
  /** Cumulative shares, for a weighted split; undefined: equal. */
  private readonly upTo: Float64Array | undefined;

  constructor(seed: number, service: ServiceModel, allocators: number, shares: readonly number[] | undefined, streams: TaskStreams) {
    this.gapRng = new Rng(seed, streams.gaps);
    this.sizeRng = new Rng(seed, streams.sizes);
    this.viaRng = new Rng(seed, streams.via);
    this.service = service;
    this.allocators = allocators;
    if (shares === undefined) this.upTo = undefined;
    else {
      const total = shares.reduce((a, b) => a + b, 0);
      this.upTo = new Float64Array(shares.length);
      let acc = 0;
      shares.forEach((s, k) => ((acc += s), ((this.upTo as Float64Array)[k] = acc / total)));
    }
  }

  /** The next gap between arrivals at rate 1 (exponential, mean 1). */
  gap(): number {
    return this.gapRng.exponential();
  }

  /** The next task size in work units, mean 1. */
  size(): number {
    const m = this.service;
    return m === "exp" ? this.sizeRng.exponential() : m === "pareto" ? PARETO_SERVICE.sample(this.sizeRng) : 1;
  }

  /** The allocator the next task arrives at. */
  via(): number {
    const upTo = this.upTo;
    if (upTo === undefined) return this.viaRng.int(this.allocators);
    const u = this.viaRng.next();
    let k = 0;
    while (k < this.allocators - 1 && u >= (upTo[k] as number)) k++;
    return k;
  }
}
