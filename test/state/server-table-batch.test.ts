import { describe, expect, it } from "vitest";
import type { ServerReport } from "../../src/protocol/index.js";
import { ServerTable, freeSlots } from "../../src/state/index.js";
import type { ServerEntry } from "../../src/state/index.js";

const report = (over: Partial<ServerReport> = {}): ServerReport => ({ id: "s1", url: "ws://s1", apps: ["echo"], capacity: 8, power: 1, load: 0, attrs: {}, version: [1, 1], ...over });

function withReserved(n: number): [ServerTable, ServerEntry] {
  const t = new ServerTable();
  t.apply(report(), 0);
  const e = t.get("s1") as ServerEntry;
  for (let i = 0; i < n; i++) t.reserve(e);
  return [t, e];
}

describe("state/server-table: a batch's slots at once", () => {
  describe("confirm", () => {
    it("drops n reservations and takes the load the server answered once", () => {
      const [t, e] = withReserved(5);
      t.confirm(e, 3, [1, 2], 10, 3);
      expect([e.reserved, e.load, e.version]).toEqual([2, 3, [1, 2]]);
      expect(freeSlots(e)).toBe(3);
    });

    it("takes the load with n = 0 (every expect refused) and never takes reservations below zero", () => {
      const [t, e] = withReserved(2);
      t.confirm(e, 1, [1, 2], 10, 0);
      expect([e.reserved, e.load]).toEqual([2, 1]);
      t.confirm(e, 1, [1, 3], 10, 9);
      expect(e.reserved).toBe(0);
    });
  });

  describe("release", () => {
    it("gives n slots back, no more than it holds, and 0 changes nothing", () => {
      const [t, e] = withReserved(4);
      t.release(e, 0);
      expect(e.reserved).toBe(4);
      t.release(e, 3);
      expect(e.reserved).toBe(1);
      t.release(e, 5);
      expect(e.reserved).toBe(0);
    });

    it("files a full server as available again once a batch's slots go back", () => {
      const t = new ServerTable();
      t.apply(report({ capacity: 2 }), 0);
      const e = t.get("s1") as ServerEntry;
      t.reserve(e);
      t.reserve(e);
      expect(t.available("echo")?.size).toBe(0);
      t.release(e, 2);
      expect(t.available("echo")?.size).toBe(1);
    });
  });
});
