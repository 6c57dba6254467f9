import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { allocate, leastLoaded } from "../../src/policies/index.js";
import type { Constraint, Task } from "../../src/protocol/index.js";
import { ServerTable, freeSlots, idlePower } from "../../src/state/index.js";
import type { ServerEntry } from "../../src/state/index.js";

// The decision a master makes for a slave's request (src/actors/roles/master.ts): allocate() with the
// least-loaded policy over the servers' reported loads, reserving a slot per grant.

const ctx = { random: () => 0.5, now: () => 0 };

interface Spec {
  capacity: number;
  used: number;
  power: number;
  apps: string[];
  region: string;
}

const serverSpec: fc.Arbitrary<Spec> = fc
  .record({
    capacity: fc.integer({ min: 1, max: 6 }),
    used: fc.nat(6),
    power: fc.integer({ min: 1, max: 16 }),
    apps: fc.subarray(["echo", "hash"], { minLength: 1 }),
    region: fc.constantFrom("eu", "us"),
  })
  .map((s) => ({ ...s, used: Math.min(s.used, s.capacity) }));

const request = fc.record({
  app: fc.constantFrom("echo", "hash"),
  cost: fc.option(fc.integer({ min: 0, max: 20 }), { nil: undefined }),
  region: fc.option(fc.constantFrom("eu", "us"), { nil: undefined }),
});

const asTask = (r: { app: string; cost: number | undefined; region: string | undefined }, i: number): Task => ({
  id: `t${i}`,
  key: `t${i}`,
  app: r.app,
  ...(r.cost === undefined ? {} : { cost: r.cost }),
  deadline: 1,
  require: r.region === undefined ? [] : [{ key: "region", op: "=", value: r.region } satisfies Constraint],
  clientAttrs: {},
  prefs: {},
  payload: null,
});

const ratio = (e: ServerEntry): number => (e.load + e.reserved) / e.capacity;

describe("master server selection (property)", () => {
  it("never picks a server at capacity while an eligible one has room; picks the least loaded, covering the task's cost when any can", () => {
    fc.assert(
      fc.property(fc.array(serverSpec, { minLength: 1, maxLength: 8 }), fc.array(request, { maxLength: 40 }), (specs, requests) => {
        const table = new ServerTable();
        specs.forEach((s, i) => table.apply({ id: `s${i}`, url: `ws://h/${i}`, apps: s.apps, capacity: s.capacity, power: s.power, load: s.used, attrs: { region: s.region }, version: [1, 1] }, 0));
        requests.forEach((r, i) => {
          const task = asTask(r, i);
          const eligible = [...table.all()].filter((e) => e.apps.includes(task.app) && (r.region === undefined || e.attrs.region === r.region));
          const withRoom = eligible.filter((e) => freeSlots(e) > 0);
          const covering = task.cost === undefined ? [] : withRoom.filter((e) => idlePower(e) >= (task.cost as number));
          const before = new Map(eligible.map((e) => [e.id, ratio(e)]));
          const a = allocate(table, task, leastLoaded, ctx);
          if (!a.ok) {
            expect(withRoom).toEqual([]);
            return;
          }
          const picked = a.server;
          expect(withRoom.map((e) => e.id)).toContain(picked.id);
          const pool = covering.length > 0 ? covering : withRoom;
          expect(pool.map((e) => e.id)).toContain(picked.id);
          expect(before.get(picked.id)).toBe(Math.min(...pool.map((e) => before.get(e.id) as number)));
          expect(picked.load + picked.reserved).toBeLessThanOrEqual(picked.capacity);
        });
      }),
      { numRuns: 300 },
    );
  });
});
