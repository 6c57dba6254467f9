import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkLedger, clientOfTaskId, readRuns, reExecutions } from "./ledger.js";
import type { LedgerInput, Outcome, RunEntry, TaskEntry } from "./ledger.js";

const result = (at: number, serverId = "a"): Outcome => ({ kind: "result", at, taskId: "t", serverId, attempts: 1, cached: false });
const task = (key: string, outcomes: Outcome[], deadline = 1000): TaskEntry => ({ client: "c", key, submittedAt: 0, deadline, outcomes });
const run = (key: string, server: string, start: number, end: number | undefined, ok = true, incarnation = "1"): RunEntry => ({
  server,
  incarnation,
  client: "c",
  key,
  taskId: `c-x-${key}`,
  attempt: 1,
  start,
  ...(end === undefined ? {} : { end, ok }),
});
const ledger = (p: Partial<LedgerInput>): LedgerInput => ({ tasks: [], runs: [], failures: [], capacity: {}, ...p });
const rules = (p: Partial<LedgerInput>): string[] => checkLedger(ledger(p)).map((v) => v.rule);

describe("ledger", () => {
  describe("checkLedger", () => {
    it("finds nothing wrong with a clean run", () => {
      expect(rules({ tasks: [task("k1", [result(100)])], runs: [run("k1", "a", 10, 90)], capacity: { a: 1 } })).toEqual([]);
    });

    it("flags a task never answered as lost", () => {
      expect(rules({ tasks: [task("k1", [])] })).toEqual(["one-outcome"]);
    });

    it("flags a task answered twice", () => {
      expect(rules({ tasks: [task("k1", [result(100), result(120, "b")])] })).toEqual(["reported-twice"]);
    });

    it("flags an error before the deadline, not one at it", () => {
      const early: Outcome = { kind: "error", at: 500, code: "TIMEOUT", message: "gave up" };
      const onTime: Outcome = { kind: "error", at: 998, code: "TIMEOUT", message: "deadline" };
      expect(rules({ tasks: [task("k1", [early])] })).toEqual(["early-error"]);
      expect(rules({ tasks: [task("k1", [onTime])] })).toEqual([]);
    });

    it("flags two runs of one key on one incarnation, unless the first failed", () => {
      expect(rules({ runs: [run("k1", "a", 10, 50), run("k1", "a", 60, 90)] })).toEqual(["ran-twice"]);
      expect(rules({ runs: [run("k1", "a", 10, 50), run("k1", "a", 20, 90)] })).toEqual(["ran-twice"]);
      expect(rules({ runs: [run("k1", "a", 10, 50, false), run("k1", "a", 60, 90)] })).toEqual([]);
      // A restarted server is a new incarnation: its run is a re-execution, judged by the failure.
      expect(rules({ runs: [run("k1", "a", 10, undefined), run("k1", "a", 60, 90, true, "2")], failures: [{ server: "a", at: 30, what: "SIGKILL" }] })).toEqual([]);
    });

    it("flags a run elsewhere with no failure before it, and accepts one after a failure", () => {
      const runs = [run("k1", "a", 10, undefined), run("k1", "b", 60, 90)];
      expect(rules({ runs })).toEqual(["unjustified-rerun"]);
      expect(rules({ runs, failures: [{ server: "a", at: 40, what: "SIGSTOP" }] })).toEqual([]);
      // A failure after the second run started does not justify it, nor one of another server.
      expect(rules({ runs, failures: [{ server: "a", at: 70, what: "SIGKILL" }] })).toEqual(["unjustified-rerun"]);
      expect(rules({ runs, failures: [{ server: "b", at: 40, what: "SIGKILL" }] })).toEqual(["unjustified-rerun"]);
      expect(rules({ runs: [run("k1", "a", 10, 30, false), run("k1", "b", 60, 90)] })).toEqual([]);
    });

    it("takes a kill to fail every run of the process killed, one it started a moment after the kill was recorded too, and no other process's", () => {
      const kill = { server: "a", at: 100, what: "SIGKILL", pid: 7 };
      // Started 3 ms after the kill was recorded, before the signal landed: its rerun is justified.
      expect(rules({ runs: [run("k1", "a", 103, undefined, true, "7-x"), run("k1", "b", 300, 400)], failures: [kill] })).toEqual([]);
      // Without the process named, the same run started after the failure: not justified.
      expect(rules({ runs: [run("k1", "a", 103, undefined, true, "7-x"), run("k1", "b", 300, 400)], failures: [{ server: "a", at: 100, what: "SIGKILL" }] })).toEqual(["unjustified-rerun"]);
      // The server's next process (a restart) is not the one killed; nor is a rerun before the kill justified.
      expect(rules({ runs: [run("k1", "a", 150, 200, true, "8-y"), run("k1", "b", 300, 400)], failures: [kill] })).toEqual(["unjustified-rerun"]);
      expect(rules({ runs: [run("k1", "a", 10, undefined, true, "7-x"), run("k1", "b", 60, 90)], failures: [kill] })).toEqual(["unjustified-rerun"]);
      // A pid that is a prefix of another's is not it.
      expect(rules({ runs: [run("k1", "a", 103, undefined, true, "77-x"), run("k1", "b", 300, 400)], failures: [kill] })).toEqual(["unjustified-rerun"]);
    });

    it("flags a server running more than its capacity at once", () => {
      const runs = [run("k1", "a", 0, 100), run("k2", "a", 10, 50), run("k3", "a", 50, 80)];
      expect(rules({ runs, capacity: { a: 2 } })).toEqual([]);
      expect(rules({ runs: [...runs, run("k4", "a", 20, 30)], capacity: { a: 2 } })).toEqual(["over-capacity"]);
      // Runs that never ended still count: the server is not known to have freed the slot.
      expect(rules({ runs: [run("k1", "a", 0, undefined), run("k2", "a", 10, 20)], capacity: { a: 1 } })).toEqual(["over-capacity"]);
    });

    it("counts a server's load correctly for any set of runs (property)", () => {
      const interval = fc.tuple(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 1, max: 200 }));
      fc.assert(
        fc.property(fc.array(interval, { maxLength: 30 }), fc.integer({ min: 1, max: 8 }), (spans, cap) => {
          const runs = spans.map(([s, d], i) => run(`k${i}`, "a", s, s + d));
          // The brute-force peak: runs covering the instant just after each start (ends at it are free).
          const peak = Math.max(0, ...runs.map((r) => runs.filter((o) => o.start <= r.start && (o.end as number) > r.start).length));
          expect(rules({ runs, capacity: { a: cap } }).includes("over-capacity")).toBe(peak > cap);
        }),
      );
    });

    it("accepts any clean run of one-run-per-key tasks (property)", () => {
      fc.assert(
        fc.property(fc.array(fc.tuple(fc.constantFrom("a", "b", "c"), fc.integer({ min: 0, max: 500 }), fc.integer({ min: 1, max: 300 })), { maxLength: 40 }), (spec) => {
          const runs = spec.map(([s, start, d], i) => run(`k${i}`, s, start, start + d));
          const tasks = spec.map(([s, start, d], i) => task(`k${i}`, [result(start + d + 1, s)], 10_000));
          expect(checkLedger(ledger({ tasks, runs }))).toEqual([]);
        }),
      );
    });
  });

  describe("reExecutions", () => {
    it("lists each run after the first elsewhere, with whether a failure justifies it", () => {
      const x = reExecutions([run("k1", "a", 10, undefined), run("k1", "b", 60, 90), run("k2", "a", 0, 5)], [{ server: "a", at: 20, what: "SIGKILL" }]);
      expect(x.map((r) => [r.key, r.first.server, r.again.server, r.justified])).toEqual([["k1", "a", "b", true]]);
    });
  });

  describe("readRuns", () => {
    it("pairs start and end lines, keeps a run with no end open and skips a torn line", () => {
      const dir = mkdtempSync(join(tmpdir(), "ledger-"));
      try {
        const f = join(dir, "runs.jsonl");
        const l = (o: object): string => `${JSON.stringify(o)}\n`;
        const base = { server: "a", inc: "1", key: "k", attempt: 1 };
        writeFileSync(f, l({ ev: "start", ...base, taskId: "client-1-x-1", t: 5 }) + l({ ev: "end", ...base, taskId: "client-1-x-1", t: 9, ok: true }) + l({ ev: "start", ...base, taskId: "client-1-x-2", t: 7 }) + '{"ev":"sta');
        expect(readRuns(f)).toEqual([
          { server: "a", incarnation: "1", client: "client-1", key: "k", taskId: "client-1-x-1", attempt: 1, start: 5, end: 9, ok: true },
          { server: "a", incarnation: "1", client: "client-1", key: "k", taskId: "client-1-x-2", attempt: 1, start: 7 },
        ]);
        expect(readRuns(join(dir, "none"))).toEqual([]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe("clientOfTaskId", () => {
    it("reads the client off CLIENT-TIME-SEQ", () => {
      expect(clientOfTaskId("client-ab12cd-lq3x-1f")).toBe("client-ab12cd");
    });
  });
});
