import type { TaskResult, TaskSpec } from "../node/config.js";

/** The summary `submit --json` and `demo --json` print. */
export interface Summary {
  completed: number;
  failed: number;
  /** Completed tasks whose server returned the result stored for their idempotency key instead of running them again. */
  cached: number;
  byServer: Record<string, number>;
  /** Tasks per slave, when the entry was a master (master/slave design). */
  bySlave?: Record<string, number>;
  p50Ms: number;
  p99Ms: number;
  tasksPerSec: number;
}

export interface LoadRun {
  summary: Summary;
  /** The first few distinct error messages, for the operator. */
  errors: string[];
  results: TaskResult[];
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

const round = (x: number): number => Math.round(x * 100) / 100;

/**
 * Submits `count` tasks with at most `concurrency` in flight and summarises what came back.
 * `onProgress` is called as tasks finish (done, failed).
 */
export async function runLoad(
  submit: (spec: TaskSpec) => Promise<TaskResult>,
  count: number,
  concurrency: number,
  spec: (i: number) => TaskSpec,
  onProgress?: (done: number, failed: number) => void,
  keep = false,
  /** Once it fires, no further task is started (those in flight end as their own signals say). */
  signal?: AbortSignal,
): Promise<LoadRun> {
  const latencies: number[] = [];
  const byServer: Record<string, number> = {};
  const bySlave: Record<string, number> = {};
  let viaSlaves = false;
  const errors = new Map<string, number>();
  const results: TaskResult[] = [];
  let next = 0;
  let failed = 0;
  let cached = 0;
  const start = performance.now();
  async function worker(): Promise<void> {
    while (next < count && signal?.aborted !== true) {
      const i = next++;
      const t0 = performance.now();
      try {
        const r = await submit(spec(i));
        latencies.push(performance.now() - t0);
        byServer[r.serverId] = (byServer[r.serverId] ?? 0) + 1;
        if (r.cached) cached++;
        if (r.slaveId !== undefined) {
          viaSlaves = true;
          bySlave[r.slaveId] = (bySlave[r.slaveId] ?? 0) + 1;
        }
        if (keep) results.push(r);
      } catch (err) {
        failed++;
        const msg = err instanceof Error ? err.message : String(err);
        errors.set(msg, (errors.get(msg) ?? 0) + 1);
      }
      onProgress?.(latencies.length + failed, failed);
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  const seconds = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    summary: {
      completed: latencies.length,
      failed,
      cached,
      byServer,
      ...(viaSlaves ? { bySlave } : {}),
      p50Ms: round(percentile(latencies, 50)),
      p99Ms: round(percentile(latencies, 99)),
      tasksPerSec: round(seconds > 0 ? latencies.length / seconds : 0),
    },
    errors: [...errors].slice(0, 5).map(([m, n]) => `${n}× ${m}`),
    results,
  };
}

/** A live one-line progress display on stderr, redrawn at most 10 times a second. */
export function progressLine(total: number, label: string): { update(done: number, failed: number): void; end(): void } {
  const tty = process.stderr.isTTY === true;
  let last = 0;
  let lastDone = 0;
  let lastFailed = 0;
  const draw = (): void => {
    const pct = total > 0 ? Math.floor((lastDone / total) * 100) : 100;
    const line = `${label} ${lastDone}/${total} (${pct}%)${lastFailed ? `, ${lastFailed} failed` : ""}`;
    process.stderr.write(tty ? `\r${line}\x1b[K` : `${line}\n`);
  };
  return {
    update(done, failed) {
      lastDone = done;
      lastFailed = failed;
      const now = performance.now();
      if (now - last >= (tty ? 100 : 1000)) {
        last = now;
        draw();
      }
    },
    end() {
      draw();
      if (tty) process.stderr.write("\n");
    },
  };
}

export function formatSummary(s: Summary): string {
  const servers = table(s.byServer);
  const lines = [`completed  ${s.completed}`, `failed     ${s.failed}`, ...(s.cached > 0 ? [`cached     ${s.cached} (stored results, not run again)`] : []), `tasks/s    ${s.tasksPerSec}`, `latency    p50 ${s.p50Ms} ms, p99 ${s.p99Ms} ms`, `tasks per server:`, servers || "  (none)"];
  if (s.bySlave) lines.push("tasks per slave:", table(s.bySlave) || "  (none)");
  return lines.join("\n");
}

function table(counts: Record<string, number>): string {
  return Object.entries(counts)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([id, n]) => `  ${id.padEnd(12)} ${n}`)
    .join("\n");
}
