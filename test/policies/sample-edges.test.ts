import { describe, expect, it } from "vitest";
import { allocate, createP2c, weighted } from "../../src/policies/index.js";
import type { Policy } from "../../src/policies/index.js";
import type { Task } from "../../src/protocol/index.js";
import { ServerTable } from "../../src/state/index.js";
import { chosen, lcg, report, table, task } from "../helpers/policy.js";

const clock = { now: () => 1_000_000 };
const eu: Task = task({ require: [{ key: "region", op: "=", value: "eu" }] });

/** How often each server is chosen over `draws` decisions, each slot released again so the table holds still. */
function tally(t: ServerTable, policy: Policy, tk: Task, draws: number, seed: number): Record<string, number> {
  const ctx = { random: lcg(seed), now: clock.now };
  const counts: Record<string, number> = {};
  for (let i = 0; i < draws; i++) {
    const a = allocate(t, tk, policy, ctx);
    const id = chosen(a);
    counts[id] = (counts[id] ?? 0) + 1;
    if (a.ok) t.release(a.server);
  }
  return counts;
}

describe("samplers at their edges", () => {
  it("p2c: two servers of equal expected delay are taken alike when the walk samples them (2 eligible among 2,000)", () => {
    const t = new ServerTable();
    // Both at expected delay 6, b freer by share of capacity: the walk reads b first.
    t.apply(report({ id: "a", capacity: 10, load: 5, power: 1, attrs: { region: "eu" } }), 0);
    t.apply(report({ id: "b", capacity: 10, load: 2, power: 0.5, attrs: { region: "eu" } }), 0);
    for (let i = 0; i < 2000; i++) t.apply(report({ id: `u${i}`, capacity: 10, attrs: { region: "us" } }), 0);
    for (const d of [2, 3]) {
      const counts = tally(t, createP2c(d), eu, 2000, 7);
      expect(counts.a ?? 0, `d=${d}`).toBeGreaterThan(850);
      expect(counts.b ?? 0, `d=${d}`).toBeGreaterThan(850);
    }
  });

  it("p2c with fewer servers held than d walks at once, without drawing SAMPLE_TRIES × d times first", () => {
    const t = new ServerTable();
    for (let i = 0; i < 40; i++) t.apply(report({ id: `s${i}`, capacity: 1000, attrs: { region: "eu" } }), 0);
    for (const tk of [task(), eu]) {
      let draws = 0;
      const r = lcg(1);
      const ctx = { random: (): number => (draws++, r()), now: clock.now };
      expect(allocate(t, tk, createP2c(64), ctx).ok).toBe(true);
      expect(draws).toBeLessThan(200); // the walk keeps all 40 (no draws), its shuffle draws 39; before, 4,096 draws came first
    }
  });

  it("weighted: two eligible servers of power 1e308 (finite, as a report may say) are taken alike by the walk, whose sum would overflow", () => {
    const t = new ServerTable();
    t.apply(report({ id: "a", capacity: 4, load: 0, power: 1e308, attrs: { region: "eu" } }), 0);
    t.apply(report({ id: "b", capacity: 4, load: 1, power: 1e308, attrs: { region: "eu" } }), 0);
    t.apply(report({ id: "c", capacity: 4, load: 2, power: 1e307, attrs: { region: "eu" } }), 0);
    for (let i = 0; i < 2000; i++) t.apply(report({ id: `u${i}`, capacity: 4, power: 1, attrs: { region: "us" } }), 0);
    const counts = tally(t, weighted, eu, 2100, 3);
    expect(counts.a ?? 0).toBeGreaterThan(850);
    expect(counts.b ?? 0).toBeGreaterThan(850);
    expect(counts.c ?? 0).toBeGreaterThan(50);
  });

  it("weighted: select among candidates whose powers sum past Number.MAX_VALUE keeps their shares", () => {
    const ctx = { random: lcg(5), now: clock.now };
    const t = table(report({ id: "a", power: 1e308 }), report({ id: "b", power: 1e308 }));
    const cs = [t.get("a"), t.get("b")].filter((e) => e !== undefined);
    const counts: Record<string, number> = {};
    for (let i = 0; i < 1000; i++) {
      const id = weighted.select(cs, task(), ctx)?.id ?? "none";
      counts[id] = (counts[id] ?? 0) + 1;
    }
    expect(counts.a ?? 0).toBeGreaterThan(420);
    expect(counts.b ?? 0).toBeGreaterThan(420);
  });
});
