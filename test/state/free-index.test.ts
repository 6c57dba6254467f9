import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DELAY_STEPS_PER_OCTAVE, FreeIndex, IdleQueue, ServerTable, bucketOf, delayBucketOf, freeSlots, idlePower } from "../../src/state/index.js";
import type { ServerEntry } from "../../src/state/index.js";

const APPS = ["echo", "hash", "render"];

type Op =
  | { kind: "report"; id: number; apps: string[]; capacity: number; load: number; periodMs: number; power: number }
  | { kind: "reserve"; id: number }
  | { kind: "release"; id: number }
  | { kind: "confirm"; id: number; load: number }
  | { kind: "status"; id: number; status: "alive" | "dead" | "draining" | "suspect" }
  | { kind: "tick"; ms: number }
  | { kind: "remove"; id: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("report" as const), id: fc.nat(5), apps: fc.subarray(APPS, { minLength: 1 }), capacity: fc.integer({ min: 1, max: 6 }), load: fc.nat(7), periodMs: fc.constantFrom(0, 50), power: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant("reserve" as const), id: fc.nat(5) }),
  fc.record({ kind: fc.constant("release" as const), id: fc.nat(5) }),
  fc.record({ kind: fc.constant("confirm" as const), id: fc.nat(5), load: fc.nat(7) }),
  fc.record({ kind: fc.constant("status" as const), id: fc.nat(5), status: fc.constantFrom("alive" as const, "dead" as const, "draining" as const, "suspect" as const) }),
  fc.record({ kind: fc.constant("tick" as const), ms: fc.nat(200) }),
  fc.record({ kind: fc.constant("remove" as const), id: fc.nat(5) }),
);

function visited(idx: FreeIndex<ServerEntry> | undefined): ServerEntry[] {
  const out: ServerEntry[] = [];
  idx?.visit((e) => (out.push(e), true));
  return out;
}

/** Every entry `sample` can return: a draw at the middle of each of its size equal slices of [0, 1). */
function drawnAll(idx: FreeIndex<ServerEntry> | undefined): ServerEntry[] {
  const out: ServerEntry[] = [];
  const n = idx?.size ?? 0;
  for (let k = 0; k < n; k++) {
    const e = idx?.sample(() => (k + 0.5) / n);
    if (e) out.push(e);
  }
  return out;
}

describe("state/free-index", () => {
  it("always holds exactly the live entries with a free slot of each application, idlest buckets first, by delay the shortest first, by idle power the most first, and idle ones longest idle first, once asked for (property)", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), fc.nat(80), fc.integer({ min: 1, max: 5 }), (ops, askAt, every) => {
        const t = new ServerTable();
        let now = 0;
        let seq = 0;
        // The model of the idle queue: per app, the step at which each entry last went idle.
        const idleSince = new Map<string, number>();
        let step = 0;
        for (const o of ops) {
          step++;
          const id = o.kind === "tick" ? "" : `s${o.id}`;
          const e = t.get(id);
          switch (o.kind) {
            case "report":
              // A server whose applications change joins its idle queues afresh.
              if (e && (e.apps.length !== new Set(o.apps).size || !o.apps.every((a) => e.apps.includes(a)))) for (const app of APPS) idleSince.delete(`${app}/${id}`);
              t.apply({ id, url: "ws://x", apps: o.apps, capacity: o.capacity, power: o.power, load: o.load, attrs: {}, version: [1, ++seq], periodMs: o.periodMs }, now);
              break;
            case "reserve":
              if (e) t.reserve(e);
              break;
            case "release":
              t.release(id);
              break;
            case "confirm":
              t.confirm(id, o.load, [1, ++seq], now);
              break;
            case "status":
              t.setStatus(id, o.status);
              break;
            case "tick":
              now += o.ms;
              t.expire(now);
              break;
            case "remove": {
              // Its seat goes to the next new entry; a stale release of the removed one must change nothing.
              const gone = t.remove(id);
              for (const app of APPS) idleSince.delete(`${app}/${id}`);
              if (gone) {
                t.release(gone);
                t.reserve(gone);
              }
              break;
            }
          }
          for (const app of APPS) {
            for (const x of t.all()) {
              const k = `${app}/${x.id}`;
              const idle = x.apps.includes(app) && x.status === "alive" && freeSlots(x) > 0 && x.load + x.reserved === 0;
              if (!idle) idleSince.delete(k);
              else if (!idleSince.has(k)) idleSince.set(k, step);
            }
            // Each order is built when first asked for (at a random step), then kept current;
            // read every few steps, so that many changes wait to be filed at a visit.
            if (step < askAt || step % every !== 0) continue;
            const longest = [...idleSince].filter(([k]) => k.startsWith(`${app}/`)).sort((a, b) => a[1] - b[1])[0]?.[0];
            expect(t.idleQueue(app)?.longestIdle(() => true, 1000)?.id).toBe(longest?.slice(app.length + 1));
            const want = [...t.all()].filter((x) => x.apps.includes(app) && x.status === "alive" && freeSlots(x) > 0);
            const got = visited(t.available(app));
            expect(got.map((x) => x.id).sort()).toEqual(want.map((x) => x.id).sort());
            // The dense set that sampling draws from: the same entries, each once.
            expect(drawnAll(t.available(app)).map((x) => x.id).sort()).toEqual(want.map((x) => x.id).sort());
            // The bound weighted rejects against: the highest power offering the app now, not ever.
            expect(t.maxPower(app)).toBe(Math.max(0, ...t.offering(app).map((x) => x.power)));
            // What a sampler reads of a place instead of its entry is the entry's now.
            const index = t.available(app);
            for (let h = 0; index && h < index.size; h++) {
              const x = index.at(h);
              expect(index.seatAt(h)).toBe(x.seat);
              expect(index.reservedAt(h)).toBe(x.reserved);
              expect(index.powerAt(h)).toBe(x.power);
              expect(index.delayAt(h)).toBe((x.load + x.reserved + 1) / x.power);
            }
            const buckets = got.map(bucketOf);
            for (let i = 1; i < buckets.length; i++) expect(buckets[i]).toBeLessThanOrEqual(buckets[i - 1] as number);
            // Fullest first: the same entries, buckets the other way round.
            const fullest: ServerEntry[] = [];
            t.available(app)?.visit((x) => (fullest.push(x), true), true);
            expect(fullest.map((x) => x.id).sort()).toEqual(want.map((x) => x.id).sort());
            for (let i = 1; i < fullest.length; i++) expect(bucketOf(fullest[i] as ServerEntry)).toBeGreaterThanOrEqual(bucketOf(fullest[i - 1] as ServerEntry));
            const byIdle = visited(t.availableByIdlePower(app));
            expect(byIdle.map((x) => x.id).sort()).toEqual(want.map((x) => x.id).sort());
            for (let i = 1; i < byIdle.length; i++) expect(idlePower(byIdle[i] as ServerEntry)).toBeLessThan(idlePower(byIdle[i - 1] as ServerEntry) * 2 ** (1 / DELAY_STEPS_PER_OCTAVE));
            const byDelay = visited(t.availableByDelay(app));
            expect(byDelay.map((x) => x.id).sort()).toEqual(want.map((x) => x.id).sort());
            const delay = (x: ServerEntry): number => (x.load + x.reserved + 1) / x.power;
            for (let i = 1; i < byDelay.length; i++) {
              const [a, b] = [byDelay[i - 1] as ServerEntry, byDelay[i] as ServerEntry];
              expect(delayBucketOf(b)).toBeLessThanOrEqual(delayBucketOf(a));
              expect(delay(a)).toBeLessThan(delay(b) * 2 ** (1 / DELAY_STEPS_PER_OCTAVE));
            }
          }
        }
      }),
      { numRuns: 400 },
    );
  });

  it("files a server anew at the next visit after reservations alone move it, in each order, and counts them in the rows", () => {
    const t = new ServerTable();
    t.apply({ id: "a", url: "ws://x", apps: ["echo"], capacity: 4, power: 1, load: 0, attrs: {}, version: [1, 1] }, 0);
    t.apply({ id: "b", url: "ws://x", apps: ["echo"], capacity: 4, power: 1, load: 1, attrs: {}, version: [1, 1] }, 0);
    const ids = (index: FreeIndex<ServerEntry> | undefined): string[] => visited(index).map((e) => e.id);
    expect(ids(t.available("echo"))).toEqual(["a", "b"]);
    expect(ids(t.availableByDelay("echo"))).toEqual(["a", "b"]);
    expect(ids(t.availableByIdlePower("echo"))).toEqual(["a", "b"]);
    const a = t.get("a") as ServerEntry;
    t.reserve(a);
    t.reserve(a); // a: 2 of 4 taken, b: 1
    expect(ids(t.available("echo"))).toEqual(["b", "a"]);
    expect(ids(t.availableByDelay("echo"))).toEqual(["b", "a"]);
    expect(ids(t.availableByIdlePower("echo"))).toEqual(["b", "a"]);
    const index = t.available("echo") as FreeIndex<ServerEntry>;
    expect(index.used).toBe(3);
    t.release(a);
    t.release("a");
    expect(ids(t.available("echo"))).toEqual(["a", "b"]);
    expect(index.used).toBe(1);
    for (let h = 0; h < index.size; h++) expect(index.reservedAt(h)).toBe(0);
  });

  it("keeps a server's place in the idle queue when a report lists its applications in another order", () => {
    const t = new ServerTable();
    const r = (id: string, apps: string[], seq: number) => ({ id, url: "ws://x", apps, capacity: 4, power: 1, load: 0, attrs: {}, version: [1, seq] as [number, number] });
    t.apply(r("a", ["echo", "hash"], 1), 0);
    t.apply(r("b", ["echo"], 1), 0);
    t.apply(r("a", ["hash", "echo"], 2), 0);
    expect(t.idleQueue("echo")?.longestIdle(() => true, 10)?.id).toBe("a");
  });

  it("keeps the idle queue bounded however many tasks come and go, refused or not", () => {
    const q = new IdleQueue<{ id: string; idleSince: number }>();
    let stamp = 0;
    const es = Array.from({ length: 50 }, (_, i) => ({ id: `s${i}`, idleSince: ++stamp }));
    for (const e of es) q.join(e);
    for (let i = 0; i < 20_000; i++) {
      const e = q.longestIdle(() => true, 64) as (typeof es)[number];
      e.idleSince = 0; // busy with the task
      q.leave();
      e.idleSince = ++stamp; // done: idle again
      q.join(e);
      q.longestIdle(() => false, 64); // a task no idle server can take
    }
    expect(q.length).toBeLessThan(2 * 50 + 64 + 1);
  });

  it("reads buckets in order within a word of the bitmap and across words, either way round", () => {
    const idx = new FreeIndex<{ id: string; capacity: number; load: number; reserved: number; seat: number }>();
    // Free shares 5%, 10%, 15% (buckets 12, 25, 38: two in the first word), 50% and 100%.
    const es = [95, 50, 85, 0, 90].map((load, seat) => ({ id: `l${load}`, capacity: 100, load, reserved: 0, seat }));
    for (const e of es) idx.place(e, true);
    const order = (fullestFirst: boolean): string[] => {
      const out: string[] = [];
      idx.visit((e) => (out.push(e.id), true), fullestFirst);
      return out;
    };
    expect(order(true)).toEqual(["l95", "l90", "l85", "l50", "l0"]);
    expect(order(false)).toEqual(["l0", "l50", "l85", "l90", "l95"]);
    // An entry taken out is no longer read, and its emptied bucket costs nothing.
    idx.place(es[0] as (typeof es)[number], false);
    expect(order(true)).toEqual(["l90", "l85", "l50", "l0"]);
  });

  it("samples nothing from an empty index, and an entry that leaves is never drawn again", () => {
    const idx = new FreeIndex<ServerEntry>();
    expect(idx.sample(() => 0.5)).toBeUndefined();
    const t = new ServerTable();
    for (const id of ["a", "b", "c"]) t.apply({ id, url: "ws://x", apps: ["echo"], capacity: 2, power: 1, load: 0, attrs: {}, version: [1, 1] }, 0);
    const avail = t.available("echo");
    t.setStatus("a", "dead");
    t.reserve(t.get("b") as ServerEntry); // a bucket move: still held, once
    expect(drawnAll(avail).map((e) => e.id).sort()).toEqual(["b", "c"]);
    t.reserve(t.get("b") as ServerEntry); // full: out
    expect(drawnAll(avail).map((e) => e.id)).toEqual(["c"]);
    t.release("b");
    expect(drawnAll(avail).map((e) => e.id).sort()).toEqual(["b", "c"]);
  });

  it("reuses a removed entry's seat for a new one, and a stale copy of the removed entry re-filed changes nothing", () => {
    const t = new ServerTable();
    const r = (id: string, version: [number, number]) => ({ id, url: "ws://x", apps: ["echo"], capacity: 2, power: 1, load: 0, attrs: {}, version });
    t.apply(r("old", [1, 1]), 0);
    t.apply(r("other", [1, 1]), 0);
    const avail = t.available("echo");
    const seat = (t.get("old") as ServerEntry).seat;
    const old = t.remove("old") as ServerEntry;
    expect(old.seat).toBe(-1); // seatless once removed: no index re-files it
    t.apply(r("new", [1, 1]), 0);
    const fresh = t.get("new") as ServerEntry;
    expect(fresh.seat).toBe(seat);
    t.release(old); // a pending release of the removed entry: re-files it, dead
    t.setStatus("old", "alive"); // not in the table: nothing
    expect(drawnAll(avail).map((e) => e.id).sort()).toEqual(["new", "other"]);
    expect(avail?.has(fresh)).toBe(true);
    expect(avail?.has(old)).toBe(false);
  });

  it("lets equal entries take turns being read first", () => {
    const idx = new FreeIndex<{ id: string; capacity: number; load: number; reserved: number; seat: number }>();
    const es = ["a", "b", "c"].map((id, seat) => ({ id, capacity: 4, load: 0, reserved: 0, seat }));
    for (const e of es) idx.place(e, true);
    const firsts = Array.from({ length: 3 }, () => {
      let first = "";
      idx.visit((e) => ((first = e.id), false));
      return first;
    });
    expect(new Set(firsts).size).toBe(3);
  });
});
