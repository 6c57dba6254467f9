/** Pearson's statistic of observed counts against expected ones (same length, expected > 0). */
export function chiSquare(observed: readonly number[], expected: readonly number[]): number {
  let x = 0;
  for (let i = 0; i < observed.length; i++) {
    const e = expected[i] as number;
    const d = (observed[i] as number) - e;
    x += (d * d) / e;
  }
  return x;
}

/** z of the upper tail 0.001 of the standard normal. */
const Z_001 = 3.0902;

/**
 * The chi-square value that `df` degrees of freedom pass with probability 0.001 (significance
 * 0.1%), by the Wilson–Hilferty approximation (within 1% of the tables for df >= 3). A test with
 * a fixed seed is deterministic; the bound says how unlikely its draws would be if the rule held.
 */
export function chiSquareCritical001(df: number): number {
  const a = 2 / (9 * df);
  return df * (1 - a + Z_001 * Math.sqrt(a)) ** 3;
}
