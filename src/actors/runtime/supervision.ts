/** One-for-one supervision: a crashed actor resumes, keeping its state and mailbox, within a budget. */
export interface SupervisionStrategy {
  readonly name: "one-for-one";
  /** Crashes allowed within `withinMs` before the supervisor gives up. */
  readonly maxRestarts: number;
  readonly withinMs: number;
}

export const DEFAULT_SUPERVISION: SupervisionStrategy = { name: "one-for-one", maxRestarts: 10, withinMs: 10_000 };

export type Decision = "resume" | "give-up";

/**
 * The pure budget: counts crashes in a sliding window and says whether to resume. Past the budget
 * the node exits non-zero so that a process manager restarts it with a clean slate.
 */
export function createBudget(s: SupervisionStrategy, now: () => number): (err: unknown) => Decision {
  if (!Number.isInteger(s.maxRestarts) || s.maxRestarts < 0) throw new RangeError(`maxRestarts must be a non-negative integer, got ${s.maxRestarts}`);
  if (!(s.withinMs > 0)) throw new RangeError(`withinMs must be positive, got ${s.withinMs}`);
  const crashes: number[] = [];
  return () => {
    const t = now();
    crashes.push(t);
    while (crashes.length > 0 && (crashes[0] as number) <= t - s.withinMs) crashes.shift();
    return crashes.length > s.maxRestarts ? "give-up" : "resume";
  };
}
