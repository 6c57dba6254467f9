// What one dependent memory read costs on this machine as the data grows: a pointer chase
// through a typed array, one hop a cache line, in a random cycle (so no prefetcher guesses it).
// The decisions table's 100,000-server figures are bound by this: a uniformly drawn server's
// entry is one such read into ~17.6 MB of entries (docs/design.md, "Where the time goes").
//   npm run build && node dist/bench/mem-latency.js
const LINE_INTS = 16; // 64 bytes
const SIZES_MB = [0.25, 1, 4, 8, 16, 32, 64];
const HOPS = 2_000_000;

/** A seeded shuffle (xorshift), so two runs chase the same cycle. */
function cycle(n: number, seed: number): Int32Array {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  let s = seed >>> 0 || 1;
  for (let i = n - 1; i > 0; i--) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    const j = (s >>> 0) % (i + 1);
    const x = order[i] as number;
    order[i] = order[j] as number;
    order[j] = x;
  }
  return order;
}

/** Nanoseconds a hop through `mb` megabytes. */
export function hopNs(mb: number): number {
  const n = Math.floor((mb * 1024 * 1024) / 64);
  const order = cycle(n, 7);
  const next = new Int32Array(n * LINE_INTS);
  for (let i = 0; i < n; i++) next[(order[i] as number) * LINE_INTS] = (order[(i + 1) % n] as number) * LINE_INTS;
  let p = 0;
  for (let i = 0; i < HOPS / 10; i++) p = next[p] as number; // warm: the pages mapped, the JIT done
  const t = process.hrtime.bigint();
  for (let i = 0; i < HOPS; i++) p = next[p] as number;
  const ns = Number(process.hrtime.bigint() - t) / HOPS;
  if (p < 0) throw new Error("unreachable"); // keeps the chase from being optimised away
  return ns;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log("dependent reads, one a cache line, random order");
  for (const mb of SIZES_MB) console.log(`  ${String(mb).padStart(6)} MB   ${hopNs(mb).toFixed(1).padStart(7)} ns a read`);
}
