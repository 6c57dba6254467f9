import { describe, expect, it } from "vitest";
import { resultOutcome, failureOutcome } from "../../src/actors/runtime/handler-boundary.js";
import { RunHealth } from "../../src/actors/runtime/run-health.js";
import { AllotError, ErrorCode } from "../../src/protocol/index.js";

describe("actors/run-health", () => {
  describe("RunHealth.ended", () => {
    it("counts an unsendable result, not a handler's own error, and resets on a success", () => {
      const h = new RunHealth();
      const unsendable = resultOutcome("app", () => 1);
      expect(unsendable).toMatchObject({ ok: false, fault: true });
      expect(h.ended(unsendable)).toBe(true);
      expect(h.failures).toBe(1);
      // A handler's throw (TASK_FAILED) or its own AllotError: the handler's answer, neither a failure nor a success.
      expect(h.ended(failureOutcome("app", new Error("no")))).toBe(false);
      expect(h.ended(failureOutcome("app", new AllotError(ErrorCode.OVERLOADED, "busy")))).toBe(false);
      expect(h.failures).toBe(1);
      expect(h.failed()).toBe(true); // a deadline TIMEOUT
      expect(h.failures).toBe(2);
      expect(h.ended(resultOutcome("app", "ok"))).toBe(true);
      expect(h.failures).toBe(0);
      expect(h.ended(resultOutcome("app", "ok"))).toBe(false); // no change, nothing to report
    });

    it("stops counting at its bound", () => {
      const h = new RunHealth(2);
      expect([h.failed(), h.failed(), h.failed()]).toEqual([true, true, false]);
      expect(h.failures).toBe(2);
    });
  });
});
