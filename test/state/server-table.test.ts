import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { ServerReport } from "../../src/protocol/index.js";
import { MAX_APP_SETS, ServerTable, compareVersion, freeSlots, idlePower } from "../../src/state/index.js";
import type { ServerEntry } from "../../src/state/index.js";

const report = (over: Partial<ServerReport> = {}): ServerReport => ({
  id: "s1",
  url: "ws://127.0.0.1:4001",
  apps: ["echo"],
  capacity: 4,
  power: 8,
  load: 1,
  attrs: { region: "eu" },
  version: [1, 1],
  ...over,
});

function entry(t: ServerTable, id = "s1"): ServerEntry {
  const e = t.get(id);
  if (!e) throw new Error(`no entry ${id}`);
  return e;
}

const ids = (es: readonly ServerEntry[]): string[] => es.map((e) => e.id).sort();

describe("state/server-table", () => {
  describe("compareVersion", () => {
    it("orders by incarnation, then by seq", () => {
      expect(compareVersion([1, 5], [1, 5])).toBe(0);
      expect(compareVersion([1, 6], [1, 5])).toBe(1);
      expect(compareVersion([1, 4], [1, 5])).toBe(-1);
      expect(compareVersion([2, 0], [1, 99])).toBe(1);
      expect(compareVersion([1, 99], [2, 0])).toBe(-1);
    });
  });

  describe("ServerTable.apply", () => {
    it("adds an unknown server as new, alive, with no reservations", () => {
      const t = new ServerTable();
      expect(t.apply(report(), 100)).toBe("new");
      expect(t.size).toBe(1);
      expect(entry(t)).toEqual({ ...report(), periodMs: 0, failures: 0, limit: report().capacity, outlier: { ejections: 0, ejectedUntil: 0, since: 0, baseline: 0, reported: 0 }, rampFrom: 0, status: "alive", reserved: 0, updatedAt: 100, seat: 0, idleSince: expect.any(Number) });
    });

    it("updates the entry when the seq is higher", () => {
      const t = new ServerTable();
      t.apply(report(), 100);
      expect(t.apply(report({ load: 3, version: [1, 2], attrs: { region: "us" } }), 200)).toBe("updated");
      expect(entry(t)).toMatchObject({ load: 3, version: [1, 2], attrs: { region: "us" }, updatedAt: 200 });
      expect(t.size).toBe(1);
    });

    it("changes nothing when the version is equal", () => {
      const t = new ServerTable();
      t.apply(report(), 100);
      const before = structuredClone(entry(t));
      expect(t.apply(report({ load: 3, capacity: 9 }), 200)).toBe("stale");
      expect(entry(t)).toEqual(before);
    });

    it("changes nothing when the version is lower, even with a higher seq in an older incarnation", () => {
      const t = new ServerTable();
      t.apply(report({ version: [2, 5] }), 100);
      const before = structuredClone(entry(t));
      expect(t.apply(report({ load: 0, version: [2, 4] }), 200)).toBe("stale");
      expect(t.apply(report({ load: 0, version: [1, 1000] }), 300)).toBe("stale");
      expect(entry(t)).toEqual(before);
    });

    it("does not revive a dead server on a stale report", () => {
      const t = new ServerTable();
      t.apply(report(), 100);
      t.setStatus("s1", "dead");
      t.apply(report(), 200);
      expect(entry(t).status).toBe("dead");
    });

    it("marks a server alive again on a newer report", () => {
      const t = new ServerTable();
      t.apply(report(), 100);
      t.setStatus("s1", "suspect");
      t.apply(report({ version: [1, 2] }), 200);
      expect(entry(t).status).toBe("alive");
    });

    it("keeps reservations on a newer report of the same incarnation", () => {
      const t = new ServerTable();
      t.apply(report(), 100);
      t.reserve(entry(t));
      t.reserve(entry(t));
      t.apply(report({ version: [1, 2] }), 200);
      expect(entry(t).reserved).toBe(2);
    });

    it("lets a new incarnation win even with a lower seq, and resets reservations", () => {
      const t = new ServerTable();
      t.apply(report({ version: [1, 50], load: 3 }), 100);
      t.reserve(entry(t));
      expect(t.apply(report({ version: [2, 0], load: 0 }), 200)).toBe("updated");
      expect(entry(t)).toMatchObject({ version: [2, 0], load: 0, reserved: 0, status: "alive" });
    });

    it("indexes a server under each of its applications", () => {
      const t = new ServerTable();
      t.apply(report({ id: "s1", apps: ["echo", "hash"] }), 0);
      t.apply(report({ id: "s2", apps: ["hash"] }), 0);
      expect(ids(t.offering("echo"))).toEqual(["s1"]);
      expect(ids(t.offering("hash"))).toEqual(["s1", "s2"]);
      expect(t.offering("sleep")).toEqual([]);
    });

    it("moves a server between application indexes when its apps change", () => {
      const t = new ServerTable();
      t.apply(report({ apps: ["echo", "hash"] }), 0);
      t.apply(report({ apps: ["hash", "sleep"], version: [1, 2] }), 0);
      expect(t.offering("echo")).toEqual([]);
      expect(ids(t.offering("hash"))).toEqual(["s1"]);
      expect(ids(t.offering("sleep"))).toEqual(["s1"]);
      t.apply(report({ apps: ["sleep", "hash"], version: [1, 3] }), 0);
      expect(ids(t.offering("hash"))).toEqual(["s1"]);
      expect(ids(t.offering("sleep"))).toEqual(["s1"]);
    });

    it("does not index a server twice under a repeated app name", () => {
      const t = new ServerTable();
      t.apply(report({ apps: ["echo", "echo"] }), 0);
      t.apply(report({ apps: ["echo", "echo"], version: [1, 2] }), 0);
      expect(ids(t.offering("echo"))).toEqual(["s1"]);
    });

    it("does not move indexes on a stale report with other apps", () => {
      const t = new ServerTable();
      t.apply(report({ apps: ["echo"], version: [1, 5] }), 0);
      t.apply(report({ apps: ["hash"], version: [1, 4] }), 0);
      expect(ids(t.offering("echo"))).toEqual(["s1"]);
      expect(t.offering("hash")).toEqual([]);
    });

    it("keeps each server at its highest-version report whatever order reports arrive in (property)", () => {
      const APPS = ["a", "b", "c", "d"];
      const reportArb = fc.record({
        id: fc.constantFrom("s1", "s2", "s3"),
        url: fc.constantFrom("ws://h:1", "ws://h:2"),
        apps: fc.array(fc.constantFrom(...APPS), { minLength: 1, maxLength: 3 }),
        capacity: fc.integer({ min: 1, max: 8 }),
        power: fc.integer({ min: 1, max: 16 }),
        load: fc.integer({ min: 0, max: 8 }),
        attrs: fc.dictionary(fc.constantFrom("region", "gpu", "zone"), fc.oneof(fc.constantFrom("eu", "us"), fc.boolean()), { maxKeys: 3 }),
        version: fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 6 })),
      });
      // One report per (server, version): a duplicate is the very same report delivered twice.
      const arrivals = fc
        .uniqueArray(reportArb, { minLength: 1, maxLength: 16, selector: (r) => `${r.id}@${r.version.join(".")}` })
        .chain((rs) =>
          fc.tuple(
            fc.constant(rs),
            fc.array(fc.nat(rs.length - 1), { maxLength: 16 }).chain((dups) => {
              const all = [...rs, ...dups.map((i) => rs[i] as ServerReport)];
              return fc.shuffledSubarray(all, { minLength: all.length, maxLength: all.length });
            }),
          ),
        );
      fc.assert(
        fc.property(arrivals, ([rs, order]) => {
          const t = new ServerTable();
          for (const [i, r] of order.entries()) t.apply(r, i);
          const newest = new Map<string, ServerReport>();
          for (const r of rs) {
            const cur = newest.get(r.id);
            if (!cur || compareVersion(r.version, cur.version) > 0) newest.set(r.id, r);
          }
          expect(t.size).toBe(newest.size);
          for (const [id, r] of newest) {
            const e = entry(t, id);
            // An application listed twice is held once.
            expect({ id: e.id, url: e.url, apps: e.apps, capacity: e.capacity, power: e.power, load: e.load, attrs: e.attrs, version: e.version }).toEqual({ ...r, apps: [...new Set(r.apps)] });
          }
          for (const app of APPS) {
            const want = [...newest.values()].filter((r) => r.apps.includes(app)).map((r) => r.id).sort();
            expect(ids(t.offering(app))).toEqual(want);
          }
        }),
        { numRuns: 200 },
      );
    });

    it("holds a copy of a report's application list, within and past the lists it shares, so a caller reusing its array moves nothing", () => {
      const t = new ServerTable();
      // Past MAX_APP_SETS distinct lists an entry holds a list of its own: it must still be a copy.
      for (const n of [1, MAX_APP_SETS + 5]) {
        const apps = [`only-${n}`];
        t.apply(report({ id: `a${n}`, apps }), 0);
        for (let i = 0; i < n; i++) t.apply(report({ id: `fill-${n}-${i}`, apps: [`fill-${n}-${i}`] }), 0);
        const late = [`late-${n}`];
        t.apply(report({ id: `b${n}`, apps: late }), 0);
        apps[0] = "echo";
        late[0] = "echo";
        expect(entry(t, `a${n}`).apps).toEqual([`only-${n}`]);
        expect(entry(t, `b${n}`).apps).toEqual([`late-${n}`]);
        expect(ids(t.offering(`late-${n}`))).toEqual([`b${n}`]);
      }
    });

    it("reads a report's application list a bounded number of times per name, not once per pair of names (256 names were 65,536 comparisons)", () => {
      // The report's list behind a proxy that counts its element reads: what the table's checks
      // of the list (repeats, the same set as before) cost, without timing anything.
      const countedApps = (names: string[]): { list: string[]; reads: () => number } => {
        let reads = 0;
        const list = new Proxy(names, {
          get(target, key, receiver) {
            if (typeof key === "string" && /^\d+$/.test(key)) reads++;
            return Reflect.get(target, key, receiver) as unknown;
          },
        });
        return { list, reads: () => reads };
      };
      const n = 256;
      const apps = Array.from({ length: n }, (_, j) => `application-${j}`);
      const t = new ServerTable();
      t.apply(report({ id: "wide", apps, version: [1, 1] }), 0);
      // The same set in another order: no re-indexing, only the checks.
      const again = countedApps([...apps].reverse());
      t.apply(report({ id: "wide", apps: again.list, version: [1, 2] }), 0);
      expect(again.reads()).toBeLessThan(8 * n);
      const fresh = countedApps(apps.map((a) => `${a}-b`));
      t.apply(report({ id: "wide-2", apps: fresh.list, version: [1, 1] }), 0);
      expect(fresh.reads()).toBeLessThan(8 * n);
      expect(t.offering("application-7").map((e) => e.id)).toEqual(["wide"]);
      expect(t.offering("application-7-b").map((e) => e.id)).toEqual(["wide-2"]);
    });
  });

  describe("ServerTable.maxPower", () => {
    it("falls back to the servers' highest power once the server that held it lowers it, changes its applications or is removed", () => {
      const t = new ServerTable();
      for (let i = 1; i <= 4; i++) t.apply(report({ id: `s${i}`, power: i, version: [1, 1] }), 0);
      expect(t.maxPower("echo")).toBe(4);
      // One server reports a huge power once (a spike, or a hostile peer), then its real one.
      t.apply(report({ id: "s2", power: 1e300, version: [1, 2] }), 0);
      expect(t.maxPower("echo")).toBe(1e300);
      t.apply(report({ id: "s2", power: 2, version: [1, 3] }), 0);
      expect(t.maxPower("echo")).toBe(4);
      t.apply(report({ id: "s4", apps: ["other"], power: 4, version: [1, 2] }), 0);
      expect(t.maxPower("echo")).toBe(3);
      expect(t.maxPower("other")).toBe(4);
      t.remove("s3");
      expect(t.maxPower("echo")).toBe(2);
      t.remove("s1");
      t.remove("s2");
      expect(t.maxPower("echo")).toBe(0);
    });
  });

    it("keeps no per-application state for applications no server offers any more: a server renaming its 256 applications on every report costs the table nothing that stays", () => {
      const t = new ServerTable();
      t.apply(report({ id: "honest", power: 1 }), 0);
      // One server cycling through ever-new application lists, at the protocol's bound of 256 names, with a huge power each time.
      for (let k = 0; k < 200; k++) {
        const apps = Array.from({ length: 256 }, (_, j) => `app-${k}-${j}`);
        t.apply(report({ id: "evil", apps, power: k % 2 === 0 ? 1e308 : 5e-324, version: [1, k + 1] }), 0);
        // Decisions read some of them while the server offers them (their indexes and rings get built).
        t.available(apps[0] as string);
        t.availableByDelay(apps[1] as string);
        t.availableByIdlePower(apps[2] as string);
        t.idleQueue(apps[3] as string);
        t.ring(apps[4] as string);
      }
      t.remove("evil");
      const state = t as unknown as Record<"powerBound" | "free" | "byDelay" | "byIdle" | "idle" | "rings", Map<string, unknown>> & { powerStale: Set<string> };
      for (const k of ["powerBound", "powerStale", "free", "byDelay", "byIdle", "idle", "rings"] as const) {
        expect([...state[k].keys()].filter((app) => app !== "echo"), k).toEqual([]);
      }
      expect(t.maxPower("echo")).toBe(1);
    });

  describe("ServerTable merged across allocators", () => {
    it("converges: two allocators that each saw any part of the reports, in any order, agree after syncing both ways (property)", () => {
      const reportArb = fc.record({
        id: fc.constantFrom("s1", "s2", "s3"),
        url: fc.constant("ws://h:1"),
        apps: fc.constant(["a"] as string[]),
        capacity: fc.constant(8),
        power: fc.constant(1),
        load: fc.integer({ min: 0, max: 8 }),
        attrs: fc.constant({}),
        version: fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 6 })),
      });
      const caseArb = fc
        .uniqueArray(reportArb, { minLength: 1, maxLength: 12, selector: (r) => `${r.id}@${r.version.join(".")}` })
        // Each report reaches allocator A, B or both (a loss at one side is made good by the other).
        .chain((rs) => fc.tuple(fc.constant(rs), fc.array(fc.constantFrom("A", "B", "AB"), { minLength: rs.length, maxLength: rs.length }), fc.boolean()));
      const rows = (t: ServerTable) => [...t.all()].map((e) => [e.id, e.load, e.version.join(".")]).sort();
      fc.assert(
        fc.property(caseArb, ([rs, where, aFirst]) => {
          const a = new ServerTable();
          const b = new ServerTable();
          rs.forEach((r, i) => {
            if (where[i]?.includes("A")) a.apply(r, i);
            if (where[i]?.includes("B")) b.apply(r, i);
          });
          const all = new ServerTable();
          for (const r of rs) all.apply(r, 0);
          // A full sync each way, in either order: entries travel as reports.
          const sync = (from: ServerTable, to: ServerTable) => {
            for (const e of [...from.all()]) to.apply({ id: e.id, url: e.url, apps: e.apps, capacity: e.capacity, power: e.power, load: e.load, attrs: e.attrs, version: e.version }, 99);
          };
          if (aFirst) (sync(a, b), sync(b, a));
          else (sync(b, a), sync(a, b));
          expect(rows(a)).toEqual(rows(all));
          expect(rows(b)).toEqual(rows(all));
        }),
        { numRuns: 200 },
      );
    });
  });

  describe("ServerTable.refresh (a load-only report)", () => {
    it("takes a newer load and version, keeps everything else, and re-files the entry in the free index", () => {
      const t = new ServerTable();
      t.apply(report({ capacity: 2, load: 0 }), 0);
      expect(t.available("echo")?.has(entry(t))).toBe(true);
      expect(t.refresh("s1", 2, [1, 2], 50)).toBe("updated");
      expect(entry(t)).toMatchObject({ load: 2, version: [1, 2], updatedAt: 50, url: "ws://127.0.0.1:4001", attrs: { region: "eu" }, power: 8 });
      expect(t.available("echo")?.has(entry(t))).toBe(false); // full now
    });

    it("ignores an older or equal seq", () => {
      const t = new ServerTable();
      t.apply(report({ version: [1, 5], load: 1 }), 0);
      expect(t.refresh("s1", 3, [1, 5], 10)).toBe("stale");
      expect(t.refresh("s1", 3, [1, 4], 10)).toBe("stale");
      expect(entry(t)).toMatchObject({ load: 1, version: [1, 5], updatedAt: 0 });
    });

    it("knows nothing of an unknown server or another incarnation: those need a full report", () => {
      const t = new ServerTable();
      expect(t.refresh("nobody", 1, [1, 1], 0)).toBeUndefined();
      t.apply(report({ version: [1, 5] }), 0);
      expect(t.refresh("s1", 3, [2, 1], 10)).toBeUndefined();
      expect(t.refresh("s1", 3, [0, 9], 10)).toBeUndefined();
      expect(entry(t).version).toEqual([1, 5]);
    });
  });

  describe("ServerTable.reserve / confirm / release", () => {
    it("counts a reservation as a taken slot", () => {
      const t = new ServerTable();
      t.apply(report({ capacity: 4, load: 1 }), 0);
      t.reserve(entry(t));
      t.reserve(entry(t));
      expect(entry(t).reserved).toBe(2);
      expect(freeSlots(entry(t))).toBe(1);
    });

    it("drops a reservation and takes the newer load on confirm", () => {
      const t = new ServerTable();
      t.apply(report({ load: 1, version: [1, 1] }), 0);
      t.reserve(entry(t));
      t.confirm("s1", 2, [1, 2], 50);
      expect(entry(t)).toMatchObject({ reserved: 0, load: 2, version: [1, 2], updatedAt: 50 });
    });

    it("drops a reservation but keeps the load on a confirm with an older or equal version", () => {
      const t = new ServerTable();
      t.apply(report({ load: 1, version: [1, 5] }), 0);
      t.reserve(entry(t));
      t.reserve(entry(t));
      t.confirm("s1", 3, [1, 4], 50);
      t.confirm("s1", 3, [1, 5], 60);
      expect(entry(t)).toMatchObject({ reserved: 0, load: 1, version: [1, 5], updatedAt: 0 });
    });

    it("orders confirms and load-only reports by version alike: neither rolls back a newer load", () => {
      const t = new ServerTable();
      t.apply(report({ load: 0, version: [1, 1] }), 0);
      t.reserve(entry(t));
      t.confirm("s1", 2, [1, 3], 10);
      expect(t.refresh("s1", 1, [1, 2], 20)).toBe("stale");
      expect(entry(t)).toMatchObject({ reserved: 0, load: 2, version: [1, 3] });
      expect(t.refresh("s1", 0, [1, 4], 30)).toBe("updated");
      t.reserve(entry(t));
      t.confirm("s1", 5, [1, 3], 40);
      expect(entry(t)).toMatchObject({ reserved: 0, load: 0, version: [1, 4], updatedAt: 30 });
    });

    it("does not let reservations go negative on confirm or release", () => {
      const t = new ServerTable();
      t.apply(report(), 0);
      t.confirm("s1", 1, [1, 1], 0);
      t.release("s1");
      expect(entry(t).reserved).toBe(0);
    });

    it("gives a slot back on release", () => {
      const t = new ServerTable();
      t.apply(report({ capacity: 2, load: 0 }), 0);
      t.reserve(entry(t));
      t.reserve(entry(t));
      t.release("s1");
      expect(freeSlots(entry(t))).toBe(1);
    });

    it("takes the entry a decision returned as well as its id, to confirm or release", () => {
      const t = new ServerTable();
      t.apply(report({ capacity: 4, load: 0 }), 0);
      const e = entry(t);
      t.reserve(e);
      t.reserve(e);
      t.release(e);
      expect(freeSlots(e)).toBe(3);
      t.confirm(e, 2, [1, 2], 10);
      expect(e).toMatchObject({ reserved: 0, load: 2, version: [1, 2], updatedAt: 10 });
      expect(t.available("echo")?.has(e)).toBe(true);
    });

    it("ignores confirm and release for an unknown server", () => {
      const t = new ServerTable();
      expect(() => {
        t.confirm("ghost", 1, [1, 1], 0);
        t.release("ghost");
        t.setStatus("ghost", "dead");
      }).not.toThrow();
      expect(t.size).toBe(0);
    });
  });

  describe("freeSlots", () => {
    it("is capacity minus load minus reservations, negative when overloaded", () => {
      const t = new ServerTable();
      t.apply(report({ capacity: 4, load: 1 }), 0);
      expect(freeSlots(entry(t))).toBe(3);
      t.apply(report({ capacity: 4, load: 5, version: [1, 2] }), 0);
      expect(freeSlots(entry(t))).toBe(-1);
    });
  });

  describe("idlePower", () => {
    it("is the share of power behind the free slots", () => {
      const t = new ServerTable();
      t.apply(report({ capacity: 4, power: 8, load: 1 }), 0);
      t.reserve(entry(t));
      expect(idlePower(entry(t))).toBe(4);
    });

    it("is zero, never negative, when the server is overloaded", () => {
      const t = new ServerTable();
      t.apply(report({ capacity: 2, power: 8, load: 5 }), 0);
      expect(idlePower(entry(t))).toBe(0);
    });
  });

  describe("ServerTable.all / get", () => {
    it("lists every entry and finds one by id", () => {
      const t = new ServerTable();
      t.apply(report({ id: "a" }), 0);
      t.apply(report({ id: "b" }), 0);
      expect([...t.all()].map((e) => e.id).sort()).toEqual(["a", "b"]);
      expect(t.get("a")?.id).toBe("a");
      expect(t.get("zz")).toBeUndefined();
    });
  });
});

describe("state/server-table expiry", () => {
  const periodic = (over: Partial<ServerReport> = {}): ServerReport => ({ id: "p", url: "ws://p", apps: ["echo"], capacity: 4, power: 1, load: 0, attrs: {}, version: [1, 1], periodMs: 100, ...over });

  describe("ServerTable.expire", () => {
    it("turns a server silent for more than 2 periods suspect, more than 5 dead, and says which changed", () => {
      const t = new ServerTable();
      t.apply(periodic(), 1000);
      expect(t.expire(1200)).toEqual([]);
      expect(t.expire(1201).map((e) => [e.id, e.status])).toEqual([["p", "suspect"]]);
      expect(t.expire(1300)).toEqual([]);
      expect(t.expire(1501).map((e) => [e.id, e.status])).toEqual([["p", "dead"]]);
      expect(t.expire(9999)).toEqual([]);
    });

    it("revives a suspect or dead server on a newer report", () => {
      const t = new ServerTable();
      t.apply(periodic(), 0);
      t.expire(10_000);
      expect(t.get("p")?.status).toBe("dead");
      t.apply(periodic({ version: [1, 2] }), 10_000);
      expect(t.get("p")?.status).toBe("alive");
      expect(t.expire(10_100)).toEqual([]);
    });

    it("never ages a server that promised no periodic reports", () => {
      const t = new ServerTable();
      const { periodMs: _, ...eventOnly } = periodic();
      t.apply(eventOnly, 0);
      expect(t.expire(1e9)).toEqual([]);
      expect(t.get("p")?.status).toBe("alive");
    });

    it("agrees with a full scan for any reports, periods, closes and checks (property)", () => {
      // The model recomputes every status from scratch; the table reads only its oldest entries.
      type Op = { kind: "report"; id: number; periodMs: number } | { kind: "load"; id: number } | { kind: "close"; id: number } | { kind: "tick"; ms: number };
      const op: fc.Arbitrary<Op> = fc.oneof(
        fc.record({ kind: fc.constant("report" as const), id: fc.nat(4), periodMs: fc.constantFrom(0, 10, 25, 100) }),
        fc.record({ kind: fc.constant("load" as const), id: fc.nat(4) }),
        fc.record({ kind: fc.constant("close" as const), id: fc.nat(4) }),
        fc.record({ kind: fc.constant("tick" as const), ms: fc.nat(300) }),
      );
      fc.assert(
        fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
          const t = new ServerTable();
          const model = new Map<string, { periodMs: number; at: number; status: string }>();
          let now = 0;
          let seq = 0;
          for (const o of ops) {
            if (o.kind === "tick") now += o.ms;
            else if (o.kind === "close") {
              t.setStatus(`s${o.id}`, "dead");
              const m = model.get(`s${o.id}`);
              if (m) m.status = "dead";
            } else if (o.kind === "load") {
              // A load-only report refreshes a known entry under the period of its last full report.
              t.refresh(`s${o.id}`, 1, [1, ++seq], now);
              const m = model.get(`s${o.id}`);
              if (m) Object.assign(m, { at: now, status: "alive" });
            } else {
              t.apply(periodic({ id: `s${o.id}`, periodMs: o.periodMs, version: [1, ++seq] }), now);
              model.set(`s${o.id}`, { periodMs: o.periodMs, at: now, status: "alive" });
            }
            t.expire(now);
            for (const m of model.values()) {
              const age = now - m.at;
              if (m.periodMs > 0 && m.status !== "dead") m.status = age > 5 * m.periodMs ? "dead" : age > 2 * m.periodMs ? "suspect" : "alive";
            }
            for (const [id, m] of model) expect([id, t.get(id)?.status]).toEqual([id, m.status]);
          }
        }),
      );
    });

    it("revives a dead server on a newer load-only report, which keeps its period", () => {
      const t = new ServerTable();
      t.apply(periodic(), 0);
      t.expire(10_000);
      expect(t.refresh("p", 3, [1, 2], 10_000)).toBe("updated");
      expect(t.get("p")?.status).toBe("alive");
      expect(t.expire(10_201).map((e) => [e.id, e.status])).toEqual([["p", "suspect"]]);
    });

    it("forgets the period when a newer report no longer promises one", () => {
      const t = new ServerTable();
      t.apply(periodic(), 0);
      const { periodMs: _, ...eventOnly } = periodic({ version: [1, 2] });
      t.apply(eventOnly, 0);
      expect(t.expire(1e9)).toEqual([]);
    });
  });
});

describe("state/server-table retention of dead entries", () => {
  const r = (id: string, seq: number, over: Partial<ServerReport> = {}): ServerReport => ({ id, url: `ws://${id}`, apps: ["echo", "hash"], capacity: 4, power: 1, load: 0, attrs: {}, version: [1, seq], ...over });

  /**
   * Every index of `t` agrees with its entries: by application, free index, delay index, idle
   * queue and hash ring (each built now if it was not yet). No removed entry is in any of them.
   */
  function checkIndexes(t: ServerTable, apps: readonly string[]): void {
    const all = [...t.all()];
    for (const app of apps) {
      const offering = all.filter((e) => e.apps.includes(app));
      expect(ids(t.offering(app))).toEqual(ids(offering));
      const free = offering.filter((e) => e.status === "alive" && freeSlots(e) > 0);
      for (const idx of [t.available(app), t.availableByDelay(app)]) {
        const seen: ServerEntry[] = [];
        idx?.visit((e) => (seen.push(e), true));
        expect(ids(seen)).toEqual(ids(free));
        expect(idx?.size ?? 0).toBe(free.length);
      }
      const idle: ServerEntry[] = [];
      t.idleQueue(app)?.longestIdle((e) => (idle.push(e), false), Infinity);
      expect(ids(idle)).toEqual(ids(free.filter((e) => e.load + e.reserved === 0)));
      const ring = t.ring(app);
      const onRing: ServerEntry[] = [];
      ring.walk(0, (e) => (onRing.push(e), true));
      expect([ring.size, ids(onRing)]).toEqual([offering.length, ids(offering)]);
    }
  }

  describe("ServerTable.removeDead", () => {
    it("removes an entry dead for longer than the retention, counted from when it was marked dead", () => {
      const t = new ServerTable();
      t.apply(r("a", 1), 0);
      t.apply(r("b", 1), 0);
      t.setStatus("a", "dead", 1000);
      t.setStatus("b", "dead", 1500);
      expect(t.removeDead(2000, 1000)).toEqual([]);
      expect(t.removeDead(2001, 1000).map((e) => e.id)).toEqual(["a"]);
      expect([t.get("a"), t.size]).toEqual([undefined, 1]);
      expect(t.removeDead(2501, 1000).map((e) => e.id)).toEqual(["b"]);
      expect(t.size).toBe(0);
    });

    it("counts an entry's silence-expiry death from the check that noticed it", () => {
      const t = new ServerTable();
      t.apply(r("p", 1, { periodMs: 100 }), 0);
      t.expire(600);
      expect(t.get("p")?.status).toBe("dead");
      expect(t.removeDead(1600, 1000)).toEqual([]);
      expect(t.removeDead(1601, 1000).map((e) => e.id)).toEqual(["p"]);
    });

    it("never removes a live entry, nor one revived by a newer report, and keeps what `keep` holds", () => {
      const t = new ServerTable();
      t.apply(r("live", 1), 0);
      t.apply(r("back", 1), 0);
      t.apply(r("held", 1), 0);
      t.setStatus("back", "dead", 0);
      t.setStatus("held", "dead", 0);
      t.apply(r("back", 2), 10);
      expect(t.removeDead(1e9, 1000, (e) => e.id === "held")).toEqual([]);
      expect(t.size).toBe(3);
      expect(t.removeDead(1e9, 1000).map((e) => e.id)).toEqual(["held"]);
    });

    it("takes a removed entry out of every index already built, and off the ring", () => {
      const t = new ServerTable();
      for (const id of ["a", "b", "c"]) t.apply(r(id, 1), 0);
      checkIndexes(t, ["echo", "hash"]); // builds them all
      t.setStatus("b", "dead", 0);
      t.removeDead(10_000, 1000);
      checkIndexes(t, ["echo", "hash"]);
      expect(ids(t.offering("echo"))).toEqual(["a", "c"]);
    });

    it("ignores a stale copy of a removed entry (a peer's sync), and registers a newer report afresh", () => {
      const t = new ServerTable();
      t.apply(r("s", 5, { load: 2 }), 0);
      t.setStatus("s", "dead", 0);
      t.removeDead(10_000, 1000);
      expect(t.apply(r("s", 5, { load: 2 }), 10_001)).toBe("stale");
      expect(t.apply(r("s", 4), 10_002)).toBe("stale");
      expect(t.size).toBe(0);
      expect(t.apply(r("s", 6), 10_003)).toBe("new");
      expect(t.get("s")).toMatchObject({ status: "alive", reserved: 0, version: [1, 6] });
      // A new incarnation is newer whatever its seq.
      t.setStatus("s", "dead", 20_000);
      t.removeDead(40_000, 1000);
      expect(t.apply(r("s", 0, { version: [2, 0] }), 40_001)).toBe("new");
    });

    it("leaves a decision's entry harmless when it is confirmed or released after removal", () => {
      const t = new ServerTable();
      t.apply(r("gone", 1), 0);
      const e = entry(t, "gone");
      t.reserve(e);
      t.setStatus("gone", "dead", 0);
      t.removeDead(10_000, 1000);
      t.confirm(e, 0, [1, 9], 10_001);
      t.release(e);
      t.apply(r("other", 1), 10_002);
      checkIndexes(t, ["echo", "hash"]);
    });

    it("keeps every index consistent and removes exactly the entries dead past retention, whenever the indexes are built (property)", () => {
      const RETENTION = 50;
      const APPS = ["a", "b", "c"];
      type Op =
        | { kind: "report"; id: number; apps: string[]; load: number; stale: boolean }
        | { kind: "load"; id: number; load: number }
        | { kind: "close"; id: number }
        | { kind: "tick"; ms: number }
        | { kind: "sweep" }
        | { kind: "reserve"; id: number }
        | { kind: "build"; app: string };
      const id = fc.nat(4);
      const op: fc.Arbitrary<Op> = fc.oneof(
        fc.record({ kind: fc.constant("report" as const), id, apps: fc.subarray(APPS, { minLength: 1 }), load: fc.nat(4), stale: fc.boolean() }),
        fc.record({ kind: fc.constant("load" as const), id, load: fc.nat(4) }),
        fc.record({ kind: fc.constant("close" as const), id }),
        fc.record({ kind: fc.constant("tick" as const), ms: fc.nat(40) }),
        fc.record({ kind: fc.constant("sweep" as const) }),
        fc.record({ kind: fc.constant("reserve" as const), id }),
        fc.record({ kind: fc.constant("build" as const), app: fc.constantFrom(...APPS) }),
      );
      fc.assert(
        // Long runs ("max" size), so deaths live past retention and sweeps find them in most.
        fc.property(fc.array(op, { maxLength: 80, size: "max" }), (ops) => {
          const t = new ServerTable();
          // The model: each entry's version, status and when it died; removed ids with their last version.
          const model = new Map<string, { seq: number; dead: number | undefined }>();
          const removed = new Map<string, number>();
          let now = 0;
          let seq = 0;
          for (const o of ops) {
            if (o.kind === "tick") now += o.ms;
            else if (o.kind === "build") checkIndexes(t, [o.app]);
            else if (o.kind === "sweep") {
              const want = [...model].filter(([, m]) => m.dead !== undefined && now - m.dead > RETENTION).map(([k]) => k);
              expect(t.removeDead(now, RETENTION).map((e) => e.id).sort()).toEqual(want.sort());
              for (const k of want) {
                removed.set(k, model.get(k)?.seq ?? 0);
                model.delete(k);
              }
            } else {
              const k = `s${o.id}`;
              const m = model.get(k);
              if (o.kind === "close") {
                t.setStatus(k, "dead", now);
                if (m && m.dead === undefined) m.dead = now;
              } else if (o.kind === "reserve") {
                const e = t.get(k);
                if (e) t.reserve(e);
              } else if (o.kind === "load") {
                const s = ++seq;
                t.refresh(k, o.load, [1, s], now);
                if (m) Object.assign(m, { seq: s, dead: undefined });
              } else if (o.stale) {
                // A copy no newer than what is held, or than what was removed: it changes nothing.
                const old = m?.seq ?? removed.get(k);
                if (old !== undefined) expect(t.apply(r(k, old, { apps: o.apps, load: o.load }), now)).toBe("stale");
              } else {
                const s = ++seq;
                t.apply(r(k, s, { apps: o.apps, load: o.load }), now);
                model.set(k, { seq: s, dead: undefined });
                removed.delete(k);
              }
            }
            const rows = [...t.all()].map((e) => [e.id, e.status === "dead"]).sort();
            expect(rows).toEqual([...model].map(([k, m]) => [k, m.dead !== undefined]).sort());
          }
          checkIndexes(t, APPS);
        }),
        { numRuns: 300 },
      );
    });
  });
});
