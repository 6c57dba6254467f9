import { percentile } from "../src/cli/load.js";

export interface Figure {
  name: string;
  ops: number;
  seconds: number;
  perSec: number;
  p50Ms: number;
  p99Ms: number;
}

/** Called when the timed window opens and when it closes (after the warm-up, before the drain). */
export interface Window {
  start(): void;
  end(ops: number, seconds: number): void;
}

/** Waits `ms`, or less if `signal` aborts first. */
function wait(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done);
  });
}

/**
 * Keeps `inFlight` operations running for `seconds` after a warm-up and reports throughput and
 * latency percentiles. `op(i)` resolves when operation i completes. When `signal` aborts, the
 * loop ends early (an op that can no longer do its work aborts it, rather than spin or throw);
 * the figure then covers the time up to the abort and the caller decides what it is worth.
 */
export async function closedLoop(name: string, inFlight: number, seconds: number, warmupSeconds: number, op: (i: number) => Promise<unknown>, window?: Window, signal?: AbortSignal): Promise<Figure> {
  const latencies: number[] = [];
  let i = 0;
  let measuring = false;
  let stop = false;
  let ops = 0;
  async function worker(): Promise<void> {
    while (!stop && !signal?.aborted) {
      const t0 = performance.now();
      await op(i++);
      if (measuring && !stop) {
        latencies.push(performance.now() - t0);
        ops++;
      }
    }
  }
  const workers = Array.from({ length: inFlight }, worker);
  await wait(warmupSeconds * 1000, signal);
  window?.start();
  measuring = true;
  const t0 = performance.now();
  await wait(seconds * 1000, signal);
  stop = true;
  const elapsed = (performance.now() - t0) / 1000;
  window?.end(ops, elapsed);
  await Promise.all(workers);
  latencies.sort((a, b) => a - b);
  const r2 = (x: number): number => Math.round(x * 100) / 100;
  return { name, ops, seconds: r2(elapsed), perSec: elapsed > 0 ? Math.round(ops / elapsed) : 0, p50Ms: r2(percentile(latencies, 50)), p99Ms: r2(percentile(latencies, 99)) };
}
