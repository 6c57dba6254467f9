import { afterEach, describe, expect, it } from "vitest";
import { killChildren } from "../../bench/faults-cluster.js";
import { runScenario } from "../../bench/faults-run.js";
import type { Report, RunOptions } from "../../bench/faults-run.js";
import { appServer, master, tier2 } from "../../bench/faults-scenarios.js";

// The fault scenarios that hold today, each a cluster of real processes with a steady stream of
// 200 ms tasks at concurrency 8 and one fault mid-stream, checked against the ledger (see
// test/helpers/ledger.ts). The rest run in `npm run bench:faults`. Short streams: CI time.
const FAST: RunOptions = { warmupMs: 1000, afterMs: 2000, concurrency: 8, taskMs: 200, deadlineMs: 10_000, capacity: 4 };

afterEach(async () => {
  // runScenario stops what it started; this is for a scenario cut short by its timeout.
  await killChildren();
});

/** The bar for a crash-stop: nothing lost or reported twice, every rule kept, noticed within 2 s. */
function expectClean(r: Report): void {
  expect(r.violations, JSON.stringify(r.violations.slice(0, 5))).toEqual([]);
  expect(r.lost).toBe(0);
  expect(r.twice).toBe(0);
  expect(r.completed).toBeGreaterThan(0);
  expect(r.detectionMs, "the failed node was never seen out of selection").toBeDefined();
  expect(r.detectionMs).toBeLessThanOrEqual(2000);
}

describe("fault scenarios, every node in its own process", () => {
  it("loses no task when an app server is SIGKILLed mid-run, and its allocators drop it", async () => {
    expectClean(await runScenario(appServer("SIGKILL"), FAST));
  }, 60_000);

  it("loses no task when a tier-2 distributor is SIGKILLed mid-stream", async () => {
    expectClean(await runScenario(tier2("SIGKILL", "tier2"), FAST));
  }, 60_000);

  it("loses no task when a master is SIGKILLed mid-stream", async () => {
    expectClean(await runScenario(master("SIGKILL"), FAST));
  }, 60_000);
});
