import { describe, expect, it } from "vitest";
import { LeaseBook, classFit, stillHolds } from "../../src/actors/runtime/lease-book.js";
import type { Constraint, ServerReport, Task } from "../../src/protocol/index.js";
import { ServerTable } from "../../src/state/index.js";
import type { ServerEntry } from "../../src/state/index.js";

const T0 = 1_000_000;
const report = (over: Partial<ServerReport> = {}): ServerReport => ({ id: "s1", url: "ws://s1", apps: ["echo"], capacity: 4, power: 1, load: 0, attrs: { region: "eu" }, version: [1, 1], ticketKey: "key1", ...over });
const task = (require: Constraint[]): Task => ({ id: "x", key: "x", app: "echo", deadline: 0, require, clientAttrs: {}, prefs: {}, payload: null });

function setup(require: Constraint[] = [{ key: "region", op: "=", value: "eu" }]) {
  const table = new ServerTable();
  table.apply(report(), T0);
  const book = new LeaseBook(table, "dDI");
  const e = table.get("s1") as ServerEntry;
  const l = book.reserve(e, { id: book.nextId(), client: "alice", addr: "", slots: 3, expiresAt: T0 + 1_000, ticket: "t", classKey: "k", fits: classFit(task(require)) });
  return { table, book, e, l };
}

describe("actors/runtime/lease-book", () => {
  describe("reserve / granted / drop", () => {
    it("reserves a lease's slots in the table until the server's answer counts them, and counts them per client", () => {
      const { table, book, e, l } = setup();
      expect([e.reserved, book.heldBy("alice"), book.slots]).toEqual([3, 3, 3]);
      book.granted(l, 3, [1, 2], T0);
      expect([e.reserved, e.load]).toEqual([0, 3]);
      expect(book.drop(l, "released")).toBe(true);
      expect([e.reserved, book.heldBy("alice"), book.active]).toEqual([0, 0, 0]);
      expect(book.drop(l, "released")).toBe(false);
      expect(table.get("s1")?.load).toBe(3); // the server's next figure frees them in the table
    });

    it("gives a pending lease's reservation back when it is dropped before its grant is answered", () => {
      const { book, e, l } = setup();
      book.drop(l, "refused");
      expect(e.reserved).toBe(0);
      expect(book.counts.refused).toBe(1);
    });

    it("makes lease ids that are base64url and never repeat", () => {
      const { book } = setup();
      const a = book.nextId();
      const b = book.nextId();
      expect(a).not.toBe(b);
      expect(a).toMatch(/^[A-Za-z0-9_-]+$/);
    });
  });

  describe("stillHolds / sweep", () => {
    it("lets a lease go when its server drains, dies, is ejected, restarts (a new key) or no longer meets the class", () => {
      const { table, e, l } = setup();
      expect(stillHolds(l, e)).toBe(true);
      table.apply(report({ version: [1, 2], attrs: { region: "us" } }), T0);
      expect(stillHolds(l, table.get("s1"))).toBe(false);
      table.apply(report({ version: [1, 3] }), T0);
      expect(stillHolds(l, table.get("s1"))).toBe(true);
      table.setStatus("s1", "draining", T0);
      expect(stillHolds(l, table.get("s1"))).toBe(false);
      table.setStatus("s1", "dead", T0);
      expect(stillHolds(l, table.get("s1"))).toBe(false);
      expect(stillHolds(l, { ...e, status: "alive", ticketKey: "key2" })).toBe(false);
      expect(stillHolds(l, { ...e, status: "alive", outlier: { ...e.outlier, ejectedUntil: T0 + 1 } })).toBe(false);
      expect(stillHolds(l, undefined)).toBe(false);
    });

    it("does not let a lease go for a constraint on load or free, which its own slots move", () => {
      const { e, l } = setup([{ key: "free", op: ">=", value: 3 }]);
      expect(stillHolds(l, { ...e, load: 4 })).toBe(true);
    });

    it("finds expired and unfit leases, at most `limit` per sweep", () => {
      const { table, book, e } = setup();
      for (let i = 0; i < 4; i++) book.reserve(e, { id: book.nextId(), client: "bob", addr: "", slots: 1, expiresAt: T0 + 5_000, ticket: "t", classKey: "k", fits: () => true });
      expect(book.sweep(T0 + 2_000, 2).expired).toHaveLength(1);
      const rest = book.sweep(T0 + 2_000, 10);
      expect(rest.expired).toHaveLength(0);
      table.setStatus("s1", "draining", T0);
      const s = book.sweep(T0 + 2_000, 10);
      expect(s.unfit.length + s.expired.length).toBe(5);
    });
  });
});
