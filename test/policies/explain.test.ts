import { describe, expect, it } from "vitest";
import { EXPLAIN_CANDIDATES, allocate, explainPlacement, resolvePolicy, seededRandom } from "../../src/policies/index.js";
import type { Policy } from "../../src/policies/index.js";
import type { ServerReport, Task } from "../../src/protocol/index.js";
import { hash32 } from "../../src/state/index.js";
import type { ServerTable } from "../../src/state/index.js";
import { chosen, report, table, task } from "../helpers/policy.js";

const BUILTIN = ["most-idle", "least-loaded", "round-robin", "random", "weighted", "best-fit", "p2c", "hash", "idle-queue", "shortest-delay"];
const clock = { now: () => 1_000_000 };

/** Everything of an entry a decision may change, for every entry, in id order. */
function state(t: ServerTable): unknown {
  return [...t.all()].map((e) => ({ id: e.id, reserved: e.reserved, load: e.load, status: e.status, limit: e.limit, idleSince: e.idleSince })).sort((a, b) => (a.id < b.id ? -1 : 1));
}

const fleet = (): ServerReport[] => [
  report({ id: "a", attrs: { region: "eu" }, power: 4 }),
  report({ id: "b", attrs: { region: "us" }, power: 2 }),
  report({ id: "c", attrs: { region: "eu" }, load: 4 }),
  report({ id: "d", attrs: { region: "eu" } }),
  report({ id: "e", apps: ["other"], attrs: { region: "eu" } }),
  report({ id: "f", attrs: { region: "eu", gpu: true }, load: 1 }),
];

function fleetTable(): ServerTable {
  const t = table(...fleet());
  t.setStatus("d", "dead");
  return t;
}

describe("policies/explain", () => {
  it("counts the servers offering the application and those each hard constraint removed", () => {
    const x = explainPlacement(fleetTable(), task({ require: [{ key: "region", op: "=", value: "eu" }, { key: "power", op: ">=", value: 3 }] }), () => resolvePolicy("most-idle"), clock);
    expect(x.offering).toBe(5); // a b c d f: e offers another application
    expect(x.live).toBe(4);
    // b fails both constraints and counts under each; c meets them and is full; d is dead.
    expect(x.removedBy).toEqual({ status: 1, "region=eu": 1, "power>=3": 1, full: 1 });
    expect(x.eligible).toBe(2);
    expect(x.chosen).toBe("a");
    expect(x.candidates.map((c) => [c.id, c.chosen])).toEqual([
      ["a", true],
      ["f", false],
    ]);
    expect(x.reason).toMatch(/^server a wins: no soft preferences; policy most-idle chose it among the 2 candidates/);
  });

  it("scores soft preferences and says the chosen one wins on them", () => {
    const x = explainPlacement(fleetTable(), task({ clientAttrs: { gpu: true }, prefer: [{ key: "region", op: "=", value: "eu", weight: 2 }] }), () => resolvePolicy("most-idle"), clock);
    expect(x.maxScore).toBe(3);
    expect(x.chosen).toBe("f");
    expect(x.candidates[0]).toMatchObject({ id: "f", score: 3, rank: 1, chosen: true });
    expect(x.candidates.find((c) => c.id === "b")?.score).toBe(0);
    expect(x.reason).toMatch(/server f wins: score 3 of 3 possible; .*; 2 eligible servers scored lower/);
  });

  it.each(BUILTIN)("chooses what allocate would choose on a copy of the table, and reserves nothing, with %s", (name) => {
    const tasks: Task[] = [
      task({ id: "t1", user: "u1" }),
      task({ id: "t2", key: "k2", require: [{ key: "region", op: "=", value: "eu" }] }),
      task({ id: "t3", key: "k3", clientAttrs: { region: "us" } }),
      task({ id: "t4", key: "k4", prefer: [{ key: "gpu", op: "=", value: true, weight: 1 }], user: "u2" }),
    ];
    for (const tk of tasks) {
      const t = fleetTable();
      const before = state(t);
      const x = explainPlacement(t, tk, () => resolvePolicy(name), clock);
      expect(state(t)).toEqual(before);
      const copy = fleetTable();
      const a = allocate(copy, tk, resolvePolicy(name), { random: seededRandom(hash32(tk.id)), now: clock.now });
      expect(x.chosen, `${name} ${tk.id}`).toBe(chosen(a));
    }
  });

  it("leaves idle-queue's queue as it was: a later decision sees the same order as on an untouched copy", () => {
    const reports = [report({ id: "a", attrs: { zone: "x" } }), report({ id: "b", attrs: { zone: "y" } }), report({ id: "c", attrs: { zone: "y" } })];
    const explained = table(...reports);
    const untouched = table(...reports);
    for (let i = 0; i < 5; i++) {
      const x = explainPlacement(explained, task({ id: `x${i}`, require: [{ key: "zone", op: "=", value: "y" }] }), () => resolvePolicy("idle-queue"), clock);
      expect(x.chosen).toBe("b");
    }
    const live1 = resolvePolicy("idle-queue");
    const live2 = resolvePolicy("idle-queue");
    for (let i = 0; i < 3; i++) {
      const ctx = { random: seededRandom(i), now: clock.now };
      expect(chosen(allocate(explained, task({ id: `t${i}` }), live1, ctx))).toBe(chosen(allocate(untouched, task({ id: `t${i}` }), live2, { random: seededRandom(i), now: clock.now })));
    }
  });

  it("leaves the free order's rotating start as it was: the next live decision takes the server it would have on an untouched copy", () => {
    const reports = [report({ id: "a" }), report({ id: "b" }), report({ id: "c" })];
    const explained = table(...reports);
    const untouched = table(...reports);
    // least-loaded takes the first of equals it reads, and a visit moves where the next one starts reading equals.
    for (const name of ["least-loaded", "random", "p2c", "weighted"]) explainPlacement(explained, task({ id: `x-${name}` }), () => resolvePolicy(name), clock);
    for (let i = 0; i < 3; i++) {
      const a = allocate(explained, task(), resolvePolicy("least-loaded"), { random: seededRandom(i), now: clock.now });
      const b = allocate(untouched, task(), resolvePolicy("least-loaded"), { random: seededRandom(i), now: clock.now });
      expect(chosen(a)).toBe(chosen(b));
    }
  });

  it("does not advance a stateful policy: round-robin's live cursor is not moved by explanations", () => {
    const t = table(report({ id: "a" }), report({ id: "b" }), report({ id: "c" }));
    const live = resolvePolicy("round-robin");
    let made = 0;
    const fresh = (): Policy => {
      made++;
      return resolvePolicy("round-robin");
    };
    const seen: string[] = [];
    for (let i = 0; i < 3; i++) {
      const a = allocate(t, task(), live, { random: seededRandom(1), now: clock.now });
      seen.push(chosen(a));
      if (a.ok) t.release(a.server);
      // A fresh instance starts from the lowest id each time, and the live cursor goes on.
      expect(explainPlacement(t, task(), fresh, clock).chosen).toBe("a");
    }
    expect(seen).toEqual(["a", "b", "c"]);
    expect(made).toBe(3);
    expect(t.get("a")?.reserved).toBe(0);
  });

  it("says why none fits: an unknown application, an unmet constraint, every eligible server busy", () => {
    const unknown = explainPlacement(fleetTable(), task({ app: "nope" }), () => resolvePolicy("most-idle"), clock);
    expect(unknown).toMatchObject({ offering: 0, eligible: 0, chosen: null, candidates: [], retryable: false, reason: 'no server offers application "nope"' });
    const unmet = explainPlacement(fleetTable(), task({ require: [{ key: "region", op: "=", value: "ap" }] }), () => resolvePolicy("most-idle"), clock);
    expect(unmet).toMatchObject({ chosen: null, retryable: false, reason: 'no server for "echo" meets constraint region=ap' });
    expect(unmet.removedBy["region=ap"]).toBe(4);
    const busy = explainPlacement(table(report({ id: "a", load: 4 }), report({ id: "b", load: 4 })), task(), () => resolvePolicy("most-idle"), clock);
    expect(busy).toMatchObject({ eligible: 0, chosen: null, retryable: true, reason: 'all 2 eligible servers for "echo" are at capacity' });
    expect(busy.removedBy.full).toBe(2);
  });

  it("lists at most the top candidates, the chosen one among them, and hides ids when asked", () => {
    const many = Array.from({ length: 30 }, (_, i) => report({ id: `s${String(i).padStart(2, "0")}`, load: i % 4 }));
    const t = table(...many);
    const x = explainPlacement(t, task(), () => resolvePolicy("round-robin"), clock);
    expect(x.eligible).toBe(30);
    expect(x.candidates).toHaveLength(EXPLAIN_CANDIDATES);
    expect(x.candidates.filter((c) => c.chosen)).toHaveLength(1);
    expect(x.candidates.find((c) => c.chosen)?.id).toBe(x.chosen);
    const hidden = explainPlacement(t, task(), () => resolvePolicy("most-idle"), clock, { showIds: false });
    expect(hidden.candidates.every((c) => c.id === undefined)).toBe(true);
    expect(hidden.chosen).not.toBeNull();
    expect(hidden.reason).not.toMatch(/\bs\d\d\b/);
  });
});
