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

/**
 * Keeps `inFlight` operations running for `seconds` after a warm-up and reports throughput and
 * latency percentiles. `op(i)` resolves when operation i completes.
 */
export async function closedLoop(name: string, inFlight: number, seconds: number, warmupSeconds: number, op: (i: number) => Promise<unknown>, window?: Window): Promise<Figure> {
  const latencies: number[] = [];
  let i = 0;
  let measuring = false;
  let stop = false;
  let ops = 0;
  async function worker(): Promise<void> {
    while (!stop) {
      const t0 = performance.now();
      await op(i++);
      if (measuring && !stop) {
        latencies.push(performance.now() - t0);
        ops++;
      }
    }
  }
  const workers = Array.from({ length: inFlight }, worker);
  await new Promise((r) => setTimeout(r, warmupSeconds * 1000));
  window?.start();
  measuring = true;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  stop = true;
  const elapsed = (performance.now() - t0) / 1000;
  window?.end(ops, elapsed);
  await Promise.all(workers);
  latencies.sort((a, b) => a - b);
  const r2 = (x: number): number => Math.round(x * 100) / 100;
  return { name, ops, seconds: r2(elapsed), perSec: Math.round(ops / elapsed), p50Ms: r2(percentile(latencies, 50)), p99Ms: r2(percentile(latencies, 99)) };
}
