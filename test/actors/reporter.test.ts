import { describe, expect, it } from "vitest";
import { sameButLoad } from "../../src/actors/runtime/reporter.js";
import type { ServerReport } from "../../src/protocol/index.js";

const base: ServerReport = { id: "s", url: "ws://127.0.0.1:1", apps: ["echo", "hash"], capacity: 4, power: 2, load: 1, attrs: { region: "eu", gpu: true }, version: [7, 1], periodMs: 1000 };

describe("actors/reporter", () => {
  describe("sameButLoad (whether a periodic report may go as load alone)", () => {
    it("holds for reports that differ only in load and seq", () => {
      expect(sameButLoad(base, { ...base, load: 3, version: [7, 9], attrs: { ...base.attrs }, apps: [...base.apps] })).toBe(true);
    });

    it("fails for any other difference", () => {
      const others: Array<Partial<ServerReport>> = [
        { version: [8, 1] },
        { url: "ws://127.0.0.1:2" },
        { apps: ["echo"] },
        { apps: ["hash", "echo"] },
        { capacity: 5 },
        { power: 3 },
        { periodMs: 500 },
        { failures: 1 },
        { attrs: { region: "us", gpu: true } },
        { attrs: { region: "eu" } },
        { attrs: { region: "eu", gpu: true, rack: 1 } },
      ];
      for (const o of others) expect([o, sameButLoad(base, { ...base, ...o })]).toEqual([o, false]);
      const { periodMs: _, ...noPeriod } = base;
      expect(sameButLoad(base, noPeriod)).toBe(false);
    });
  });
});
