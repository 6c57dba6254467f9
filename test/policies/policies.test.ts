import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { allocate, createRoundRobin, hash32, policyNames, resolvePolicy, sampleIndices } from "../../src/policies/index.js";
import type { PolicyContext } from "../../src/policies/index.js";
import type { Task } from "../../src/protocol/index.js";
import { ServerTable, idlePower } from "../../src/state/index.js";
import type { ServerEntry } from "../../src/state/index.js";
import { lcg } from "../helpers/policy.js";

const ctxOf = (seed: number): PolicyContext => ({ random: lcg(seed), now: () => 0 });

const task = (over: Partial<Task> = {}): Task => ({ id: "t", key: "t", app: "echo", deadline: 1, require: [], clientAttrs: {}, prefs: {}, payload: null, ...over });

interface Spec {
  capacity: number;
  used: number;
  power: number;
}
const specArb: fc.Arbitrary<Spec> = fc
  .record({ capacity: fc.integer({ min: 1, max: 8 }), used: fc.nat(8), power: fc.integer({ min: 1, max: 8 }) })
  .map((s) => ({ ...s, used: Math.min(s.used, s.capacity - 1) }));

/** Entries with room (as allocate hands a policy), built through a real table. */
function entries(specs: readonly Spec[], prefix = "s"): ServerEntry[] {
  const t = new ServerTable();
  specs.forEach((s, i) => t.apply({ id: `${prefix}${i}`, url: "ws://x", apps: ["echo"], capacity: s.capacity, power: s.power, load: s.used, attrs: {}, version: [1, 1] }, 0));
  return [...t.all()];
}

const ALL = ["most-idle", "least-loaded", "random", "round-robin", "weighted", "best-fit", "p2c", "p2c:d=3", "hash", "hash:key=attr:tenant,bound=2", "idle-queue", "idle-queue:look=4", "shortest-delay", "shortest-delay:look=4,margin=0.5"];

describe("policies", () => {
  describe("registry and options", () => {
    it("resolves every built-in, with options after a colon", () => {
      expect(policyNames()).toEqual(expect.arrayContaining(["weighted", "p2c", "best-fit", "hash"]));
      for (const spec of ALL) expect(resolvePolicy(spec).name).toBe(spec.split(":")[0]);
    });

    it.each([
      ["p2c:d=0", /p2c: option d must be an integer from 1 to 64, got "0"/],
      ["p2c:d=two", /option d must be an integer/],
      ["p2c:e=1", /p2c: unknown option e; it takes d/],
      ["p2c:d", /option "d" is not key=value/],
      ["p2c:d=2,d=3", /option d given twice/],
      ["most-idle:x=1", /most-idle: unknown option x; it takes none/],
      ["hash:key=client", /hash: option key must be user or attr:NAME/],
      ["hash:bound=0.5", /hash: option bound must be a number from 1/],
      ["idle-queue:look=0", /idle-queue: option look must be an integer from 1/],
      ["nope:d=1", /unknown policy "nope"; known: .*p2c/],
    ])("refuses %s with an error naming what is wrong", (spec, why) => {
      expect(() => resolvePolicy(spec)).toThrow(TypeError);
      expect(() => resolvePolicy(spec)).toThrow(why);
    });
  });

  it("every policy returns one of its candidates, and none only when there are none (property)", () => {
    fc.assert(
      fc.property(fc.array(specArb, { maxLength: 12 }), fc.constantFrom(...ALL), fc.nat(), fc.option(fc.integer({ min: 0, max: 30 }), { nil: undefined }), fc.option(fc.string({ maxLength: 6 }), { nil: undefined }), (specs, spec, seed, cost, user) => {
        const cs = entries(specs);
        const picked = resolvePolicy(spec).select(cs, task({ ...(cost === undefined ? {} : { cost }), ...(user === undefined ? {} : { user }), clientAttrs: { tenant: user ?? "" } }), ctxOf(seed));
        if (cs.length === 0) expect(picked).toBeUndefined();
        else expect(cs).toContain(picked);
      }),
      { numRuns: 500 },
    );
  });

  it("p2c among candidates (a task with soft preferences) never returns the worse of the servers it sampled by expected delay (property)", () => {
    fc.assert(
      fc.property(fc.array(specArb, { minLength: 1, maxLength: 12 }), fc.integer({ min: 1, max: 5 }), fc.nat(), (specs, d, seed) => {
        const cs = entries(specs);
        const picked = resolvePolicy(`p2c:d=${d}`).select(cs, task(), ctxOf(seed)) as ServerEntry;
        // The same draws again: the servers that decision looked at.
        const sampled = sampleIndices(cs.length, d, ctxOf(seed).random, []).map((k) => cs[k] as ServerEntry);
        expect(sampled).toContain(picked);
        const r = (e: ServerEntry): number => (e.load + e.reserved + 1) / e.power;
        for (const e of sampled) expect(r(picked)).toBeLessThanOrEqual(r(e));
      }),
      { numRuns: 500 },
    );
  });

  it("round robin is fair over any sequence of membership changes: while the set holds still, |set| picks visit every member once (property)", () => {
    const ids = ["a", "b", "c", "d", "e", "f"];
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.subarray(ids, { minLength: 1 }), fc.integer({ min: 1, max: 14 })), { minLength: 1, maxLength: 12 }), (phases) => {
        const rr = createRoundRobin();
        for (const [members, picks] of phases) {
          const cs = entries(members.map(() => ({ capacity: 4, used: 0, power: 1 }))).map((e, i) => ({ ...e, id: members[i] as string }));
          const seen = Array.from({ length: picks }, () => (rr.select(cs, task(), ctxOf(0)) as ServerEntry).id);
          for (let from = 0; from + members.length <= seen.length; from += members.length) {
            expect(new Set(seen.slice(from, from + members.length)).size).toBe(members.length);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  describe("hash", () => {
    const keys = Array.from({ length: 3000 }, (_, i) => `user-${i}`);
    /** Idle servers with room for everything, so the load bound never bites. */
    function idleTable(ids: readonly string[]): ServerTable {
      const t = new ServerTable();
      for (const id of ids) t.apply({ id, url: "ws://x", apps: ["echo"], capacity: 1_000_000, power: 1, load: 0, attrs: {}, version: [1, 1] }, 0);
      return t;
    }
    /** Where allocate sends each key (on the table's ring), releasing the slot again. */
    function owners(t: ServerTable): Map<string, string> {
      const policy = resolvePolicy("hash");
      return new Map(
        keys.map((k) => {
          const a = allocate(t, task({ user: k }), policy, ctxOf(0));
          if (!a.ok) throw new Error(a.reason);
          t.release(a.server.id);
          return [k, a.server.id];
        }),
      );
    }
    const ten = Array.from({ length: 10 }, (_, i) => `s${i}`);

    it("moves only the keys of a server that leaves, and only the keys a joining server takes: about 1/n", () => {
      const t = idleTable(ten);
      const before = owners(t);
      t.setStatus("s3", "dead");
      const after = owners(t);
      const moved = keys.filter((k) => after.get(k) !== before.get(k));
      expect(moved.every((k) => before.get(k) === "s3")).toBe(true);
      expect(moved.length / keys.length).toBeGreaterThan(0.04);
      expect(moved.length / keys.length).toBeLessThan(0.17);
      t.setStatus("s3", "alive");
      expect(owners(t)).toEqual(before);
      t.apply({ id: "new", url: "ws://x", apps: ["echo"], capacity: 1_000_000, power: 1, load: 0, attrs: {}, version: [1, 1] }, 0);
      const joined = owners(t);
      const movedIn = keys.filter((k) => joined.get(k) !== before.get(k));
      expect(movedIn.every((k) => joined.get(k) === "new")).toBe(true);
      expect(movedIn.length / keys.length).toBeGreaterThan(0.03);
      expect(movedIn.length / keys.length).toBeLessThan(0.16);
    });

    it("spreads keys over the servers", () => {
      const counts = new Map<string, number>();
      for (const id of owners(idleTable(ten)).values()) counts.set(id, (counts.get(id) ?? 0) + 1);
      expect(counts.size).toBe(10);
      for (const n of counts.values()) expect(n).toBeGreaterThan(120);
    });

    it("gives the same key the same server, whatever the order servers joined in", () => {
      expect(owners(idleTable([...ten].reverse()))).toEqual(owners(idleTable(ten)));
    });

    it("keeps a hot key within its load bound: a server is passed over once it would hold more than ceil(bound × its share of the load) (property)", () => {
      fc.assert(
        fc.property(fc.array(specArb, { minLength: 2, maxLength: 8 }), fc.integer({ min: 1, max: 40 }), fc.constantFrom(1, 1.25, 2), (specs, tasks, bound) => {
          const t = new ServerTable();
          specs.forEach((s, i) => t.apply({ id: `s${i}`, url: "ws://x", apps: ["echo"], capacity: s.capacity * 4, power: s.power, load: s.used, attrs: {}, version: [1, 1] }, 0));
          const policy = resolvePolicy(`hash:bound=${bound}`);
          for (let i = 0; i < tasks; i++) {
            const cs = [...t.all()].filter((e) => e.load + e.reserved < e.capacity);
            if (cs.length === 0) break;
            const load = cs.reduce((a, e) => a + e.load + e.reserved, 0);
            const capacity = cs.reduce((a, e) => a + e.capacity, 0);
            const leastRatio = Math.min(...cs.map((e) => (e.load + e.reserved) / e.capacity));
            const a = allocate(t, task({ user: "hot" }), policy, ctxOf(i));
            if (!a.ok) break;
            const e = a.server;
            const allowed = Math.ceil(((bound * (load + 1)) / capacity) * e.capacity);
            // Either within the bound, or no server was, and the least loaded took it.
            if (e.load + e.reserved > allowed) expect((e.load + e.reserved - 1) / e.capacity).toBe(leastRatio);
          }
        }),
        { numRuns: 300 },
      );
    });

    it("sends a key that has no value to the least loaded server", () => {
      const cs = entries([
        { capacity: 4, used: 3, power: 1 },
        { capacity: 4, used: 1, power: 1 },
      ]);
      expect(resolvePolicy("hash").select(cs, task(), ctxOf(0))?.id).toBe("s1");
      expect(hash32("a")).not.toBe(hash32("b"));
    });
  });

  describe("idle-queue", () => {
    const report = (id: string, load: number, region = "eu") => ({ id, url: "ws://x", apps: ["echo"], capacity: 2, power: 1, load, attrs: { region }, version: [1, load + 10] as [number, number] });

    it("sends each task to the server idle longest that meets its constraints, then the next", () => {
      const t = new ServerTable();
      t.apply(report("busy", 1), 0);
      t.apply(report("first", 0), 0);
      t.apply(report("us", 0, "us"), 0);
      t.apply(report("second", 0), 0);
      const policy = resolvePolicy("idle-queue");
      const eu = task({ require: [{ key: "region", op: "=", value: "eu" }] });
      const pick = (tk: Task): string | undefined => {
        const a = allocate(t, tk, policy, ctxOf(1));
        return a.ok ? a.server.id : undefined;
      };
      expect(pick(eu)).toBe("first");
      expect(pick(eu)).toBe("second");
      // "busy" finishes its task and is idle: it joins the back of the queue, behind "us".
      t.apply({ ...report("busy", 0), version: [1, 99] }, 0);
      expect(pick(task())).toBe("us");
      expect(pick(task())).toBe("busy");
      // Nobody is idle now: a random candidate with room takes it.
      expect(["busy", "first", "second", "us"]).toContain(pick(task()));
    });
  });

  it("weighted picks each server about as often as its share of the computing power", () => {
    const cs = entries([1, 2, 5].map((power) => ({ capacity: 4, used: 0, power })));
    const policy = resolvePolicy("weighted");
    const ctx = ctxOf(42);
    const counts = new Map<string, number>();
    const draws = 40_000;
    for (let i = 0; i < draws; i++) {
      const id = (policy.select(cs, task(), ctx) as ServerEntry).id;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    expect((counts.get("s0") ?? 0) / draws).toBeCloseTo(1 / 8, 1);
    expect((counts.get("s1") ?? 0) / draws).toBeCloseTo(2 / 8, 1);
    expect((counts.get("s2") ?? 0) / draws).toBeCloseTo(5 / 8, 1);
  });

  it("best-fit packs on a fleet far larger than the candidates it gathers", () => {
    // 200 servers of power 4 and capacity 8 (0.5 idle power per free slot); one in 50 has a single free slot.
    const t = new ServerTable();
    for (let i = 0; i < 200; i++) t.apply({ id: `s${i}`, url: "ws://x", apps: ["echo"], capacity: 8, power: 4, load: i % 50 === 7 ? 7 : i % 5, attrs: {}, version: [1, 1] }, 0);
    const a = allocate(t, task({ cost: 0.5 }), resolvePolicy("best-fit"), ctxOf(3));
    expect(a.ok && idlePower({ ...a.server, reserved: a.server.reserved - 1 })).toBe(0.5);
  });

  it("best-fit takes the server whose idle power covers the cost most tightly, else the roomiest (property)", () => {
    fc.assert(
      fc.property(fc.array(specArb, { minLength: 1, maxLength: 10 }), fc.integer({ min: 0, max: 12 }), (specs, cost) => {
        const cs = entries(specs);
        const picked = resolvePolicy("best-fit").select(cs, task({ cost }), ctxOf(0)) as ServerEntry;
        const covering = cs.filter((e) => idlePower(e) >= cost);
        if (covering.length > 0) expect(idlePower(picked)).toBe(Math.min(...covering.map(idlePower)));
        else expect(idlePower(picked)).toBe(Math.max(...cs.map(idlePower)));
      }),
      { numRuns: 500 },
    );
  });
});
