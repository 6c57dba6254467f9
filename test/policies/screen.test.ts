import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compileRequire, passes, requirement, sampleByPower, sampleEligible, screenFor } from "../../src/policies/index.js";
import type { Screen } from "../../src/policies/index.js";
import type { Constraint, ServerReport } from "../../src/protocol/index.js";
import { FAILS, MAX_VERDICT_SETS, PASSES, SeatVerdicts, ServerTable, UNJUDGED, VERDICT_SET_IDLE, freeSlots } from "../../src/state/index.js";
import type { ServerEntry } from "../../src/state/index.js";
import { lcg } from "../helpers/policy.js";

// Seat verdicts let a sampler reject a draw without reading the entry. They are a cache: a
// screened draw must take exactly what an unscreened one takes, from the same random numbers,
// whatever happened to the table in between (full reports changing what constraints read, seats
// handed to new servers, loads moving).

/** Small, so that reservations past it are met often. */
const MAX_UNCONFIRMED = 2;
const usable = (e: ServerEntry): boolean => e.status === "alive" && freeSlots(e) > 0 && e.reserved < MAX_UNCONFIRMED;
const AVOID = ["s1", "s2"];

const LISTS: Constraint[][] = [
  [{ key: "region", op: "=", value: "eu" }],
  [
    { key: "region", op: "=", value: "eu" },
    { key: "power", op: ">=", value: 2 },
  ],
  [
    { key: "gpu", op: "=", value: true },
    { key: "free", op: ">=", value: 2 },
  ],
  [{ key: "app", op: "=", value: "hash" }],
  [{ key: "capacity", op: ">", value: 3 }],
];

type Op =
  | { kind: "report"; i: number; region: string; power: number; capacity: number; gpu: boolean; hash: boolean }
  | { kind: "load"; i: number; load: number }
  | { kind: "reserve"; i: number }
  | { kind: "release"; i: number }
  | { kind: "remove"; i: number }
  | { kind: "status"; i: number; status: ServerEntry["status"] }
  | { kind: "sample"; list: number; d: number; seed: number; weighted: boolean; avoid: boolean };

const N = 24;
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("report" as const), i: fc.nat(N - 1), region: fc.constantFrom("eu", "us"), power: fc.integer({ min: 1, max: 4 }), capacity: fc.integer({ min: 1, max: 6 }), gpu: fc.boolean(), hash: fc.boolean() }),
  fc.record({ kind: fc.constant("load" as const), i: fc.nat(N - 1), load: fc.nat(6) }),
  fc.record({ kind: fc.constant("reserve" as const), i: fc.nat(N - 1) }),
  fc.record({ kind: fc.constant("release" as const), i: fc.nat(N - 1) }),
  fc.record({ kind: fc.constant("remove" as const), i: fc.nat(N - 1) }),
  fc.record({ kind: fc.constant("status" as const), i: fc.nat(N - 1), status: fc.constantFrom("alive" as const, "suspect" as const, "draining" as const, "dead" as const) }),
  fc.record({ kind: fc.constant("sample" as const), list: fc.nat(LISTS.length - 1), d: fc.integer({ min: 1, max: 3 }), seed: fc.nat(), weighted: fc.boolean(), avoid: fc.boolean() }),
);

describe("seat verdicts: a screened draw takes what an unscreened one takes", () => {
  it("judges every place as eligibility does, through full reports, seat reuse, removals and load changes (property)", () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 20, maxLength: 120, size: "max" }), (ops) => {
        const t = new ServerTable();
        const seq = new Map<string, number>();
        const send = (r: Omit<ServerReport, "version" | "url">): void => {
          const v = (seq.get(r.id) ?? 0) + 1;
          seq.set(r.id, v);
          t.apply({ ...r, url: `ws://h/${r.id}`, version: [1, v] }, 0);
        };
        for (let i = 0; i < N; i++) send({ id: `s${i}`, apps: ["echo"], capacity: 4, power: 1 + (i % 4), load: i % 3, attrs: { region: i % 2 === 0 ? "eu" : "us" } });
        let screenedDraws = 0;
        for (const op of ops) {
          const id = `s${"i" in op ? op.i : 0}`;
          switch (op.kind) {
            case "report":
              send({ id, apps: op.hash ? ["echo", "hash"] : ["echo"], capacity: op.capacity, power: op.power, load: 0, attrs: { region: op.region, gpu: op.gpu } });
              break;
            case "load": {
              const v = (seq.get(id) ?? 0) + 1;
              seq.set(id, v);
              t.refresh(id, op.load, [1, v], 0);
              break;
            }
            case "reserve": {
              const e = t.get(id);
              if (e) t.reserve(e);
              break;
            }
            case "release":
              t.release(id);
              break;
            case "remove":
              // Its seat goes to the next server to join; its next report (newer) joins it afresh.
              t.remove(id);
              break;
            case "status":
              t.setStatus(id, op.status);
              break;
            case "sample": {
              const list = LISTS[op.list] as Constraint[];
              const req = requirement(list);
              const index = t.available("echo");
              if (!index) break;
              const avoided = (e: ServerEntry): boolean => op.avoid && AVOID.includes(e.id);
              const eligible = (e: ServerEntry): boolean => usable(e) && req.all(e) && !avoided(e);
              const moving = req.moving;
              // As allocate builds it: the rest asks only what the seat's verdict and the rows cannot.
              const screen = screenFor(t, req, MAX_UNCONFIRMED, op.avoid ? (e) => moving(e) && !avoided(e) : req.moves ? moving : undefined);
              expect(screen).toBeDefined();
              // Every place judged twice (the first pass may fill verdicts, the second reads them):
              // the screen's answer is eligibility's, so a screened draw keeps what a plain one keeps.
              for (let pass = 0; pass < 2; pass++)
                for (let h = 0; h < index.size; h++) {
                  const e = index.at(h);
                  expect(passes(index, h, screen as Screen), `${e.id} at place ${h}, pass ${pass}`).toBe(eligible(e));
                }
              if (op.weighted) {
                const plain = sampleByPower(index, t.maxPower("echo"), lcg(op.seed), eligible);
                const fast = sampleByPower(index, t.maxPower("echo"), lcg(op.seed), eligible, screen);
                if (fast) expect(eligible(fast)).toBe(true);
                expect(fast === undefined).toBe(plain === undefined);
              } else {
                let count = 0;
                for (let h = 0; h < index.size; h++) if (eligible(index.at(h))) count++;
                const fast = sampleEligible(index, op.d, lcg(op.seed), eligible, [], screen);
                for (const e of fast) expect(eligible(e)).toBe(true);
                expect(new Set(fast).size).toBe(Math.min(op.d, count));
              }
              screenedDraws++;
              break;
            }
          }
        }
        return screenedDraws >= 0;
      }),
      { numRuns: 300, seed: 17 },
    );
  });

  it("keeps a verdict per seat, reads it instead of the entry, and forgets it on the entry's next full report", () => {
    const t = new ServerTable();
    t.apply({ id: "a", url: "ws://a", apps: ["echo"], capacity: 4, power: 1, load: 0, attrs: { region: "us" }, version: [1, 1] }, 0);
    const req = requirement([{ key: "region", op: "=", value: "eu" }]);
    const screen = screenFor(t, req, 1024, undefined);
    if (!screen) throw new Error("no screen");
    const index = t.available("echo");
    if (!index) throw new Error("no index");
    const seat = (t.get("a") as ServerEntry).seat;
    expect(sampleEligible(index, 1, lcg(1), (e) => usable(e) && req.all(e), [], screen)).toEqual([]);
    expect(screen.verdicts[seat]).toBe(FAILS);
    t.apply({ id: "a", url: "ws://a", apps: ["echo"], capacity: 4, power: 1, load: 0, attrs: { region: "eu" }, version: [1, 2] }, 0);
    expect(screen.verdicts[seat]).toBe(UNJUDGED);
    expect(sampleEligible(index, 1, lcg(1), (e) => usable(e) && req.all(e), [], screen).map((e) => e.id)).toEqual(["a"]);
    expect(screen.verdicts[seat]).toBe(PASSES);
    // A load change is not a full report: constraints on the load are judged on every draw, never kept.
    t.refresh("a", 3, [1, 3], 0);
    expect(screen.verdicts[seat]).toBe(PASSES);
  });

  it("gives no screen for constraints on the load alone, which no verdict may keep", () => {
    const t = new ServerTable();
    t.apply({ id: "a", url: "ws://a", apps: ["echo"], capacity: 4, power: 1, load: 0, attrs: {}, version: [1, 1] }, 0);
    expect(screenFor(t, requirement([{ key: "free", op: ">=", value: 2 }]), 1024, usable)).toBeUndefined();
    expect(screenFor(t, requirement([]), 1024, undefined)).toBeUndefined();
  });
});

describe("SeatVerdicts", () => {
  it(`keeps at most ${MAX_VERDICT_SETS} sets, and a new test takes one only from a set unused for ${VERDICT_SET_IDLE} decisions`, () => {
    const v = new SeatVerdicts();
    const sets = Array.from({ length: MAX_VERDICT_SETS }, (_, k) => v.get(`k${k}`));
    for (const s of sets) expect(s).toBeInstanceOf(Int8Array);
    (sets[0] as Int8Array)[3] = PASSES;
    expect(v.get("new")).toBeUndefined(); // every set was used just now
    for (let i = 0; i < VERDICT_SET_IDLE; i++) for (let k = 1; k < MAX_VERDICT_SETS; k++) v.get(`k${k}`);
    const taken = v.get("new");
    expect(taken).toBe(sets[0]); // the idle one, cleared for its new test
    expect((taken as Int8Array)[3]).toBe(UNJUDGED);
    expect(v.get("k0")).toBeUndefined();
  });

  it("forgets a seat in every set, and grows every set to a seat past its end keeping what it held", () => {
    const v = new SeatVerdicts();
    const a = v.get("a") as Int8Array;
    a[1] = PASSES;
    a[2] = FAILS;
    v.forget(2);
    expect(a[2]).toBe(UNJUDGED);
    v.forget(1000);
    const grown = v.get("a") as Int8Array;
    expect(grown.length).toBeGreaterThan(1000);
    expect(grown[1]).toBe(PASSES);
  });
});

describe("requirement: a bounded cache of compiled constraint lists", () => {
  const scalar = fc.oneof(fc.constantFrom("eu", "2", "true", "", "2.0"), fc.constantFrom(2, 0, -0, 2.5, NaN), fc.boolean());
  const constraint: fc.Arbitrary<Constraint> = fc.record({
    key: fc.constantFrom("region", "power", "load", "free", "app", "gpu"),
    op: fc.constantFrom("=", "!=", ">=", "<", "in"),
    value: fc.oneof(scalar, fc.array(scalar, { maxLength: 3 })),
  }) as fc.Arbitrary<Constraint>;
  const entry = (attrs: Record<string, string | number | boolean>, power: number, load: number): ServerEntry => {
    const t = new ServerTable();
    t.apply({ id: "x", url: "ws://x", apps: ["echo"], capacity: 8, power, load, attrs, version: [1, 1] }, 0);
    return t.get("x") as ServerEntry;
  };

  it("judges every list as compileRequire does, whatever lists were compiled before it (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(constraint, { maxLength: 3 }), { minLength: 1, maxLength: 6 }),
        fc.dictionary(fc.constantFrom("region", "gpu"), scalar),
        fc.integer({ min: 1, max: 4 }),
        fc.nat(8),
        (lists, attrs, power, load) => {
          const e = entry(attrs, power, load);
          for (const cs of lists) {
            const req = requirement(cs);
            expect(req.all(e)).toBe(compileRequire(cs)(e));
            expect(req.fixed(e) && req.moving(e)).toBe(compileRequire(cs)(e));
          }
        },
      ),
      { numRuns: 400, seed: 5 },
    );
  });

  it("tells apart lists that differ only in a value's type", () => {
    const e = entry({ region: "2" }, 1, 0);
    expect(requirement([{ key: "region", op: "=", value: "2" }]).all(e)).toBe(true);
    expect(requirement([{ key: "region", op: "=", value: "2.0" }]).all(e)).toBe(false);
    expect(requirement([{ key: "region", op: "in", value: ["3", "2"] }]).all(e)).toBe(true);
    expect(requirement([{ key: "region", op: "in", value: ["3"] }]).all(e)).toBe(false);
  });

  it("is not misled by a list changed after it was compiled (it keeps a copy)", () => {
    const e = entry({ region: "eu" }, 1, 0);
    const cs: Constraint[] = [{ key: "region", op: "in", value: ["eu"] }];
    expect(requirement(cs).all(e)).toBe(true);
    (cs[0]?.value as string[])[0] = "us";
    expect(requirement(cs).all(e)).toBe(false);
  });
});
