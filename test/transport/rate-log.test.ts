import { describe, expect, it } from "vitest";
import { rateLimitedWarn } from "../../src/transport/rate-log.js";

describe("transport/rate-log", () => {
  describe("rateLimitedWarn", () => {
    it("lets `lines` lines through per window and reports the count it dropped on the next line logged", () => {
      let t = 0;
      const out: Array<{ obj: object; msg: string }> = [];
      const warn = rateLimitedWarn({ warn: (obj, msg) => out.push({ obj, msg }), debug() {} }, { lines: 3, windowMs: 1000, now: () => t });
      for (let i = 0; i < 1000; i++) warn({ i }, "bad");
      expect(out.map((l) => l.obj)).toEqual([{ i: 0 }, { i: 1 }, { i: 2 }]);
      t = 999;
      warn({ i: 1000 }, "bad");
      expect(out).toHaveLength(3);
      t = 1000;
      warn({ i: 1001 }, "bad");
      warn({ i: 1002 }, "bad");
      expect(out.slice(3).map((l) => l.obj)).toEqual([{ i: 1001, suppressed: 998 }, { i: 1002 }]);
    });
  });
});
