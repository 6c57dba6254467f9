import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SAMPLE_TRIES, allocate, expectedDelay, resolvePolicy, sampleEligible } from "../../src/policies/index.js";
import type { Policy, PolicyContext } from "../../src/policies/index.js";
import type { ServerReport, Task } from "../../src/protocol/index.js";
import { DELAY_STEPS_PER_OCTAVE, ServerTable, freeSlots, idlePower } from "../../src/state/index.js";
import type { ServerEntry } from "../../src/state/index.js";
import { chiSquare, chiSquareCritical001 } from "./chi-square.js";
import { lcg } from "../helpers/policy.js";

const ctxOf = (seed: number): PolicyContext => ({ random: lcg(seed), now: () => 0 });

const eu: Task = { id: "t", key: "t", app: "echo", deadline: 1, require: [{ key: "region", op: "=", value: "eu" }], clientAttrs: {}, prefs: {}, payload: null };

const report = (i: number, over: Partial<ServerReport> = {}): ServerReport => ({ id: `s${i}`, url: "ws://x", apps: ["echo"], capacity: 8, power: 1 + (i % 8), load: i % 7, attrs: { region: i % 3 === 0 ? "us" : "eu" }, version: [1, 1], ...over });

/**
 * n servers of mixed power and load, two thirds in the eu; every 11th dead and every 13th full,
 * so that the sampling meets ineligible servers of every kind.
 */
function fleet(n: number, over: (i: number) => Partial<ServerReport> = () => ({})): ServerTable {
  const t = new ServerTable();
  for (let i = 0; i < n; i++) t.apply(report(i, { ...(i % 13 === 5 ? { load: 8 } : {}), ...over(i) }), 0);
  for (let i = 0; i < n; i++) if (i % 11 === 4) t.setStatus(`s${i}`, "dead");
  return t;
}

/** What `allocate` lets a policy take for `eu`: alive, a free slot, in the eu. */
const eligibleEu = (e: ServerEntry): boolean => e.status === "alive" && freeSlots(e) > 0 && e.attrs.region === "eu";

/** How often each server is chosen over `draws` decisions; each slot is released again, so the table holds still. */
function tally(t: ServerTable, policy: Policy, task: Task, draws: number, seed: number): Map<string, number> {
  const ctx = ctxOf(seed);
  const counts = new Map<string, number>();
  for (let i = 0; i < draws; i++) {
    const a = allocate(t, task, policy, ctx);
    if (!a.ok) throw new Error(a.reason);
    counts.set(a.server.id, (counts.get(a.server.id) ?? 0) + 1);
    t.release(a.server);
  }
  return counts;
}

/** Checks `counts` against probabilities `p` (by server) with a chi-square test at significance 0.1%; nothing outside `p` may be chosen. */
function expectDistribution(counts: Map<string, number>, p: Map<string, number>, draws: number): void {
  for (const id of counts.keys()) expect(p.has(id), `${id} is not eligible`).toBe(true);
  const ids = [...p.keys()];
  const x = chiSquare(
    ids.map((id) => counts.get(id) ?? 0),
    ids.map((id) => (p.get(id) as number) * draws),
  );
  expect(x).toBeLessThan(chiSquareCritical001(ids.length - 1));
}

const uniform = (es: readonly ServerEntry[]): Map<string, number> => new Map(es.map((e) => [e.id, 1 / es.length]));

describe("policies: distributions over all eligible servers", () => {
  describe("random", () => {
    it("hits every eligible server of a fleet far larger than 32 about equally (chi-square, 0.1%), whatever their loads", () => {
      const t = fleet(300);
      const eligible = [...t.all()].filter(eligibleEu);
      expect(eligible.length).toBeGreaterThan(150);
      const draws = 100 * eligible.length;
      expectDistribution(tally(t, resolvePolicy("random"), eu, draws, 1), uniform(eligible), draws);
    });

    it("stays uniform when eligible servers are too rare to sample (the walk): 4 of 2,000", () => {
      const t = fleet(2000, (i) => ({ attrs: { region: i % 400 === 17 ? "eu" : "us" } }));
      const eligible = [...t.all()].filter(eligibleEu);
      expect(eligible).toHaveLength(4); // s1617 of the 5 in the eu is full
      const draws = 10_000;
      expectDistribution(tally(t, resolvePolicy("random"), eu, draws, 2), uniform(eligible), draws);
    });
  });

  describe("p2c", () => {
    /** n eligible servers of power 1 whose expected delays are all different (load r - 1 for rank r), among ineligible ones. */
    function ranked(n: number): { t: ServerTable; byRank: ServerEntry[] } {
      const t = new ServerTable();
      for (let r = 1; r <= n; r++) t.apply(report(r, { capacity: 100, power: 1, load: r - 1, attrs: { region: "eu" } }), 0);
      for (let i = 0; i < n; i++) t.apply(report(1000 + i, { capacity: 100, power: 1, load: 0, attrs: { region: "us" } }), 0);
      t.setStatus("s1000", "dead");
      return { t, byRank: Array.from({ length: n }, (_, k) => t.get(`s${k + 1}`) as ServerEntry) };
    }
    const choose = (a: number, b: number): number => {
      let c = 1;
      for (let i = 0; i < b; i++) c = (c * (a - i)) / (i + 1);
      return c;
    };

    it("with d=2 picks the server of load rank r at the rate 2(n-r)/(n(n-1)) of two distinct uniform draws (chi-square, 0.1%)", () => {
      const n = 20;
      const { t, byRank } = ranked(n);
      const draws = 40_000;
      const p = new Map(byRank.map((e, k) => [e.id, (2 * (n - (k + 1))) / (n * (n - 1))]));
      // The worst server is never the better of two distinct draws.
      p.delete(`s${n}`);
      expectDistribution(tally(t, resolvePolicy("p2c"), eu, draws, 3), p, draws);
    });

    it("with d=3 picks rank r at the rate C(n-r, 2) / C(n, 3) (chi-square, 0.1%)", () => {
      const n = 16;
      const { t, byRank } = ranked(n);
      const draws = 40_000;
      const p = new Map(byRank.map((e, k) => [e.id, choose(n - (k + 1), 2) / choose(n, 3)]));
      for (const [id, q] of p) if (q === 0) p.delete(id);
      expectDistribution(tally(t, resolvePolicy("p2c:d=3"), eu, draws, 4), p, draws);
    });

    it("samples d distinct eligible servers (all of them when fewer) and never takes the worse of them by (load + reserved + 1) / power (property)", () => {
      const server = fc.record({ capacity: fc.integer({ min: 1, max: 6 }), load: fc.nat(6), power: fc.integer({ min: 1, max: 8 }), eu: fc.boolean(), dead: fc.boolean(), reserved: fc.nat(2) });
      fc.assert(
        fc.property(fc.array(server, { maxLength: 40 }), fc.integer({ min: 1, max: 5 }), fc.nat(), (specs, d, seed) => {
          const t = new ServerTable();
          specs.forEach((s, i) => {
            t.apply(report(i, { capacity: s.capacity, load: Math.min(s.load, s.capacity), power: s.power, attrs: { region: s.eu ? "eu" : "us" } }), 0);
            const e = t.get(`s${i}`) as ServerEntry;
            for (let k = 0; k < s.reserved && freeSlots(e) > 0; k++) t.reserve(e);
            if (s.dead) t.setStatus(e.id, "dead");
          });
          const eligible = [...t.all()].filter(eligibleEu);
          const index = t.available("echo");
          const policy = resolvePolicy(`p2c:d=${d}`);
          const picked = index && policy.locate?.(t, eu, ctxOf(seed), eligibleEu);
          if (eligible.length === 0) {
            expect(picked).toBeUndefined();
            return;
          }
          // The same draws again: the servers that decision compared.
          const sampled = sampleEligible(index as NonNullable<typeof index>, d, ctxOf(seed).random, eligibleEu, []);
          expect(sampled).toHaveLength(Math.min(d, eligible.length));
          expect(new Set(sampled).size).toBe(sampled.length);
          for (const e of sampled) expect(eligible).toContain(e);
          expect(sampled).toContain(picked);
          for (const e of sampled) expect(expectedDelay(picked as ServerEntry)).toBeLessThanOrEqual(expectedDelay(e));
        }),
        { numRuns: 500 },
      );
    });
  });

  describe("weighted", () => {
    it("picks each eligible server as often as its share of their power, on a fleet far larger than 32 (chi-square, 0.1%)", () => {
      const t = fleet(200);
      const eligible = [...t.all()].filter(eligibleEu);
      const total = eligible.reduce((s, e) => s + e.power, 0);
      const draws = 40_000;
      expectDistribution(tally(t, resolvePolicy("weighted"), eu, draws, 5), new Map(eligible.map((e) => [e.id, e.power / total])), draws);
    });

    it("keeps those shares when its power bound is far above every live server's (the walk decides)", () => {
      // A power-10,000 server reported once, then dead: draws are kept with probability power / 10,000.
      const t = fleet(60, (i) => (i === 4 ? { power: 10_000 } : {}));
      expect(t.get("s4")?.status).toBe("dead");
      const eligible = [...t.all()].filter(eligibleEu);
      const total = eligible.reduce((s, e) => s + e.power, 0);
      const draws = 20_000;
      expectDistribution(tally(t, resolvePolicy("weighted"), eu, draws, 6), new Map(eligible.map((e) => [e.id, e.power / total])), draws);
    });
  });

  describe("idle-queue", () => {
    it("sends a task to a uniformly random eligible server when none is idle, not to one of the idlest (chi-square, 0.1%)", () => {
      const t = fleet(200, (i) => ({ load: 1 + (i % 7) }));
      const eligible = [...t.all()].filter(eligibleEu);
      const draws = 100 * eligible.length;
      expectDistribution(tally(t, resolvePolicy("idle-queue"), eu, draws, 7), uniform(eligible), draws);
    });
  });

  describe("round-robin", () => {
    it("gives every eligible server of a fleet far larger than 32 one task in turn, whatever their loads", () => {
      const t = fleet(300);
      const eligible = [...t.all()].filter(eligibleEu);
      const policy = resolvePolicy("round-robin");
      const ctx = ctxOf(9);
      for (let round = 0; round < 3; round++) {
        const seen = new Set<string>();
        for (let i = 0; i < eligible.length; i++) {
          const a = allocate(t, eu, policy, ctx);
          if (!a.ok) throw new Error(a.reason);
          seen.add(a.server.id);
          t.release(a.server);
        }
        expect(seen.size).toBe(eligible.length);
      }
    });
  });

  describe("most-idle", () => {
    it("takes the most idle computing power even when more than 32 servers have a larger free share", () => {
      // 100 power-1 servers with every slot free (idle power 1), one power-8 server half full (idle power 4).
      const t = new ServerTable();
      for (let i = 0; i < 100; i++) t.apply(report(i, { power: 1, load: 0, attrs: { region: "eu" } }), 0);
      t.apply(report(100, { power: 8, load: 4, attrs: { region: "eu" } }), 0);
      const a = allocate(t, eu, resolvePolicy("most-idle"), ctxOf(1));
      expect(a.ok && a.server.id).toBe("s100");
    });

    it("takes a server within one step of the idle-power order (2^(1/16)) of the most idle eligible one (property)", () => {
      const server = fc.record({ capacity: fc.integer({ min: 1, max: 8 }), load: fc.nat(8), power: fc.integer({ min: 1, max: 8 }), eu: fc.boolean() });
      fc.assert(
        fc.property(fc.array(server, { minLength: 1, maxLength: 120 }), (specs) => {
          const t = new ServerTable();
          specs.forEach((s, i) => t.apply(report(i, { capacity: s.capacity, load: Math.min(s.load, s.capacity), power: s.power, attrs: { region: s.eu ? "eu" : "us" } }), 0));
          const eligible = [...t.all()].filter(eligibleEu);
          const a = allocate(t, eu, resolvePolicy("most-idle"), ctxOf(1));
          if (eligible.length === 0) {
            expect(a.ok).toBe(false);
            return;
          }
          expect(a.ok).toBe(true);
          if (!a.ok) return;
          t.release(a.server);
          const most = Math.max(...eligible.map(idlePower));
          expect(idlePower(a.server) * 2 ** (1 / DELAY_STEPS_PER_OCTAVE)).toBeGreaterThanOrEqual(most);
        }),
        { numRuns: 300 },
      );
    });
  });

  describe("cost", () => {
    it.each(["random", "p2c", "p2c:d=3", "weighted"])("%s reads about d servers a decision at 100,000 servers, never walks them, when about 29 in 100 are eligible", (spec) => {
      const t = new ServerTable();
      // The decisions table's fleet: a third in each of three regions, power 1–8.
      for (let i = 0; i < 100_000; i++) t.apply(report(i, { power: 1 + (i % 8), load: i % 7, attrs: { region: ["eu", "us", "ap"][i % 3] as string } }), 0);
      const task: Task = { ...eu, require: [...eu.require, { key: "power", op: ">=", value: 2 }] };
      const ok = (e: ServerEntry): boolean => eligibleEu(e) && e.power >= 2;
      const policy = resolvePolicy(spec);
      const ctx = ctxOf(8);
      let reads = 0;
      let most = 0;
      const decisions = 2000;
      for (let i = 0; i < decisions; i++) {
        let n = 0;
        const e = policy.locate?.(t, task, ctx, (x) => (n++, ok(x)));
        expect(e && ok(e)).toBe(true);
        reads += n;
        most = Math.max(most, n);
      }
      const d = spec === "p2c" ? 2 : spec === "p2c:d=3" ? 3 : 1;
      // A draw is eligible with probability ~0.29: about d / 0.29 reads (weighted keeps ~1 in 2 of those).
      expect(reads / decisions).toBeLessThan((spec === "weighted" ? 2.5 : 1.2) * (d / 0.29));
      expect(most).toBeLessThanOrEqual(SAMPLE_TRIES * d);
    });
  });
});
