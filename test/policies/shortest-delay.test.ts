import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { allocate, expectedDelay, ownerOf, resolvePolicy } from "../../src/policies/index.js";
import type { AllocatorIdentity, PolicyContext } from "../../src/policies/index.js";
import type { ServerReport } from "../../src/protocol/index.js";
import { ServerTable, freeSlots } from "../../src/state/index.js";
import type { ServerEntry, ServerStatus } from "../../src/state/index.js";
import { lcg, task } from "../helpers/policy.js";

interface Spec {
  capacity: number;
  load: number;
  reserved: number;
  power: number;
  status: ServerStatus;
  region: "eu" | "us";
}
const specArb: fc.Arbitrary<Spec> = fc.record({
  capacity: fc.integer({ min: 1, max: 6 }),
  load: fc.nat(7),
  reserved: fc.nat(2),
  power: fc.integer({ min: 1, max: 8 }),
  status: fc.constantFrom<ServerStatus>("alive", "alive", "alive", "suspect", "dead"),
  region: fc.constantFrom("eu", "us"),
});

/** A table of the specs (loads may fill a server), with reservations and statuses applied. */
function build(specs: readonly Spec[]): ServerTable {
  const t = new ServerTable();
  specs.forEach((s, i) => {
    const r: ServerReport = { id: `s${i}`, url: "ws://x", apps: ["echo"], capacity: s.capacity, power: s.power, load: Math.min(s.load, s.capacity), attrs: { region: s.region }, version: [1, 1] };
    t.apply(r, 0);
    const e = t.get(r.id) as ServerEntry;
    for (let k = 0; k < s.reserved && freeSlots(e) > 0; k++) t.reserve(e);
    if (s.status !== "alive") t.setStatus(r.id, s.status);
  });
  return t;
}

/** No identity, or member `me` of a set of `k`. */
const identityArb: fc.Arbitrary<AllocatorIdentity | undefined> = fc.option(
  fc.integer({ min: 1, max: 5 }).chain((k) => fc.integer({ min: 0, max: k - 1 }).map((me) => ({ id: `a${me}`, members: Array.from({ length: k }, (_, i) => `a${i}`) }))),
  { nil: undefined },
);
const ctxOf = (seed: number, allocator: AllocatorIdentity | undefined): PolicyContext => ({ random: lcg(seed), now: () => 0, ...(allocator ? { allocator } : {}) });

const live = (e: ServerEntry): boolean => e.status === "alive";
const eligible = (e: ServerEntry, region?: string): boolean => live(e) && freeSlots(e) > 0 && (region === undefined || e.attrs["region"] === region);
const isHome = (e: ServerEntry, me: AllocatorIdentity | undefined): boolean => me !== undefined && me.members.length > 1 && ownerOf(e.id, me.members) === me.id;

/** What the policy promises among the servers it considered: the shortest home one unless another is shorter by more than the margin. */
function expectRule(pick: ServerEntry, considered: readonly ServerEntry[], me: AllocatorIdentity | undefined, margin: number): void {
  const best = Math.min(...considered.map(expectedDelay));
  const homes = considered.filter((e) => isHome(e, me));
  const bestHome = Math.min(...homes.map(expectedDelay));
  if (homes.length > 0 && bestHome <= best + margin) {
    expect(isHome(pick, me)).toBe(true);
    expect(expectedDelay(pick)).toBe(bestHome);
  } else expect(expectedDelay(pick)).toBe(best);
}

describe("policies/shortest-delay", () => {
  it("reads (load + reserved + 1) / power as the expected delay", () => {
    expect(expectedDelay({ load: 3, reserved: 1, power: 8 } as ServerEntry)).toBe(5 / 8);
  });

  it("refuses bad options", () => {
    expect(() => resolvePolicy("shortest-delay:look=0")).toThrow(/look must be an integer from 1/);
    expect(() => resolvePolicy("shortest-delay:margin=-1")).toThrow(/margin must be a number from 0/);
    expect(() => resolvePolicy("shortest-delay:spread=1")).toThrow(/unknown option spread; it takes look, margin, homes, reads/);
  });

  it("through allocate: an eligible server, or none exactly when none is eligible; never a full one (property)", () => {
    fc.assert(
      fc.property(fc.array(specArb, { maxLength: 14 }), identityArb, fc.boolean(), fc.nat(), (specs, me, constrained, seed) => {
        const t = build(specs);
        const region = constrained ? "eu" : undefined;
        const tk = task(region ? { require: [{ key: "region", op: "=", value: region }] } : {});
        const before = new Map([...t.all()].map((e) => [e.id, eligible(e, region)]));
        const a = allocate(t, tk, resolvePolicy("shortest-delay"), ctxOf(seed, me));
        expect(a.ok).toBe([...before.values()].some(Boolean));
        if (a.ok) expect(before.get(a.server.id)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it("through allocate, reading every eligible server: the shortest expected delay, or the shortest home one within the margin (property)", () => {
    fc.assert(
      fc.property(fc.array(specArb, { minLength: 1, maxLength: 14 }), identityArb, fc.constantFrom(0, 0.25, 1, 4), fc.nat(), (specs, me, margin, seed) => {
        const t = build(specs);
        const considered = [...t.all()].filter((e) => eligible(e));
        const before = new Map(considered.map((e) => [e.id, expectedDelay(e)]));
        const snapshot = considered.map((e) => ({ ...e }));
        const a = allocate(t, task(), resolvePolicy(`shortest-delay:margin=${margin},homes=100`), ctxOf(seed, me));
        if (!a.ok) {
          expect(considered).toHaveLength(0);
          return;
        }
        const pick = snapshot.find((e) => e.id === a.server.id) as ServerEntry;
        expect(before.get(pick.id)).toBeDefined();
        expectRule(pick, snapshot, me, margin);
      }),
      { numRuns: 500 },
    );
  });

  it("select: among the candidates it is given, the same rule, with soft preferences too (property)", () => {
    fc.assert(
      fc.property(fc.array(specArb, { minLength: 1, maxLength: 14 }), identityArb, fc.constantFrom(0, 0.5, 2), fc.nat(), (specs, me, margin, seed) => {
        const cs = [...build(specs).all()].filter((e) => eligible(e));
        const pick = resolvePolicy(`shortest-delay:margin=${margin}`).select(cs, task({ clientAttrs: { region: "eu" } }), ctxOf(seed, me));
        if (cs.length === 0) {
          expect(pick).toBeUndefined();
          return;
        }
        expect(cs).toContain(pick);
        expectRule(pick as ServerEntry, cs, me, margin);
      }),
      { numRuns: 500 },
    );
  });

  it("with soft preferences, lets allocate score first: the preferred server wins over a shorter one", () => {
    const t = new ServerTable();
    t.apply({ id: "fast", url: "ws://x", apps: ["echo"], capacity: 8, power: 8, load: 0, attrs: { region: "us" }, version: [1, 1] }, 0);
    t.apply({ id: "near", url: "ws://x", apps: ["echo"], capacity: 8, power: 1, load: 2, attrs: { region: "eu" }, version: [1, 1] }, 0);
    const a = allocate(t, task({ clientAttrs: { region: "eu" } }), resolvePolicy("shortest-delay"), ctxOf(1, undefined));
    expect(a.ok && a.server.id).toBe("near");
  });

  it("reads a bounded number of servers from a large fleet, and still finds the shortest", () => {
    const t = new ServerTable();
    for (let i = 0; i < 20_000; i++) t.apply({ id: `s${i}`, url: "ws://x", apps: ["echo"], capacity: 1000, power: 1 + (i % 8), load: 5 + (i % 7), attrs: {}, version: [1, 1] }, 0);
    t.apply({ id: "s13", url: "ws://x", apps: ["echo"], capacity: 1000, power: 6, load: 0, attrs: {}, version: [1, 2] }, 0);
    let reads = 0;
    const counting = (e: ServerEntry): boolean => (reads++, true);
    const policy = resolvePolicy("shortest-delay");
    const found = policy.locate?.(t, task(), ctxOf(1, undefined), counting);
    expect(found?.id).toBe("s13");
    expect(reads).toBe(32);
    reads = 0;
    const me = { id: "a1", members: ["a0", "a1", "a2", "a3"] };
    const home = policy.locate?.(t, task(), ctxOf(1, me), counting) as ServerEntry;
    expect(ownerOf(home.id, me.members)).toBe("a1");
    expect(reads).toBeLessThanOrEqual(32 * 8);
  });
});
