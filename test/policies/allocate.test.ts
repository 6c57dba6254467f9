import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DEFAULT_POLICY, allocate, policyNames, resolvePolicy } from "../../src/policies/index.js";
import type { Allocation, Policy, PolicyContext } from "../../src/policies/index.js";
import type { Attrs, Constraint, ServerReport, Task } from "../../src/protocol/index.js";
import { ServerTable } from "../../src/state/index.js";
import { chosen, report, seededCtx, table, task } from "../helpers/policy.js";
import type { ServerEntry, ServerStatus } from "../../src/state/index.js";

const BUILTIN = ["most-idle", "least-loaded", "round-robin", "random", "weighted", "best-fit", "p2c", "hash", "idle-queue", "shortest-delay"];
/** The policies that weigh soft preferences; hash (by key) and idle-queue (by idleness) locate their server otherwise. */
const STEERED = BUILTIN.filter((n) => n !== "hash" && n !== "idle-queue");

function refused(a: Allocation): { reason: string; full: boolean } {
  if (a.ok) throw new Error(`expected no server, got ${a.server.id}`);
  return a;
}

describe("policies/allocate", () => {
  describe("resolvePolicy / policyNames", () => {
    it("knows the built-in policies by name", () => {
      expect(policyNames()).toEqual(expect.arrayContaining(BUILTIN));
      for (const n of BUILTIN) expect(resolvePolicy(n).name).toBe(n);
      expect(resolvePolicy().name).toBe(DEFAULT_POLICY);
    });

    it("throws a TypeError listing the known names for an unknown policy", () => {
      expect(() => resolvePolicy("nope")).toThrow(TypeError);
      expect(() => resolvePolicy("nope")).toThrow(/most-idle/);
    });

    it("gives each caller its own round-robin cursor", () => {
      const t = table(report({ id: "a" }), report({ id: "b" }));
      const p1 = resolvePolicy("round-robin");
      const p2 = resolvePolicy("round-robin");
      const ctx = seededCtx(1);
      expect(chosen(allocate(t, task(), p1, ctx))).toBe("a");
      expect(chosen(allocate(t, task(), p1, ctx))).toBe("b");
      expect(chosen(allocate(t, task(), p2, ctx))).toBe("a");
    });
  });

  describe("allocate", () => {
    it.each(BUILTIN)("passes over the servers a task asks to avoid while another has room, and falls back to them when only they remain, with %s", (name) => {
      const t = table(report({ id: "a" }), report({ id: "b" }), report({ id: "c" }));
      const p = resolvePolicy(name);
      for (let i = 0; i < 6; i++) {
        const a = allocate(t, task({ key: `k${i}` }), p, seededCtx(i), undefined, ["a", "b"]);
        expect(chosen(a)).toBe("c");
        if (a.ok) t.release(a.server);
      }
      const only = table(report({ id: "a" }));
      expect(chosen(allocate(only, task(), p, seededCtx(1), undefined, ["a"]))).toBe("a");
    });

    it.each(BUILTIN)("waits for a busy server (refused full) rather than go back to one the task avoids, with %s", (name) => {
      const t = table(report({ id: "a", capacity: 2, load: 0 }), report({ id: "b", capacity: 2, load: 2 }));
      const a = allocate(t, task(), resolvePolicy(name), seededCtx(3), undefined, ["a"]);
      expect(a).toMatchObject({ ok: false, full: true, busy: true });
      expect(t.get("a")?.reserved).toBe(0);
    });

    it.each(BUILTIN)("chooses a server that offers the app and reserves a slot on it with %s", (name) => {
      const t = table(report({ id: "a", apps: ["hash"] }), report({ id: "b", apps: ["echo"] }));
      const a = allocate(t, task(), resolvePolicy(name), seededCtx(7));
      expect(chosen(a)).toBe("b");
      expect(t.get("b")?.reserved).toBe(1);
      expect(t.get("a")?.reserved).toBe(0);
    });

    it("picks the most idle computing power with most-idle", () => {
      const t = table(
        report({ id: "a", capacity: 4, power: 4, load: 0 }), // idle 4
        report({ id: "b", capacity: 4, power: 16, load: 2 }), // idle 8
        report({ id: "c", capacity: 2, power: 2, load: 0 }), // idle 2
      );
      expect(chosen(allocate(t, task(), resolvePolicy("most-idle"), seededCtx(1)))).toBe("b");
    });

    it("breaks most-idle ties by free slots, then by the lower id", () => {
      const t = table(report({ id: "b", capacity: 4, power: 4, load: 0 }), report({ id: "a", capacity: 8, power: 4, load: 0 }), report({ id: "c", capacity: 8, power: 4, load: 0 }));
      expect(chosen(allocate(t, task(), resolvePolicy("most-idle"), seededCtx(1)))).toBe("a");
    });

    it("picks the lowest (load + reserved) / capacity with least-loaded", () => {
      const t = table(report({ id: "a", capacity: 4, load: 2 }), report({ id: "b", capacity: 10, load: 3 }), report({ id: "c", capacity: 4, load: 1 }));
      const p = resolvePolicy("least-loaded");
      expect(chosen(allocate(t, task(), p, seededCtx(1)))).toBe("c"); // 0.25
      expect(chosen(allocate(t, task(), p, seededCtx(1)))).toBe("b"); // c now 0.5, b 0.3
    });

    it("cycles through the servers in the order they joined with round-robin", () => {
      const t = table(report({ id: "c", capacity: 9 }), report({ id: "a", capacity: 9 }), report({ id: "b", capacity: 9 }));
      const p = resolvePolicy("round-robin");
      const ctx = seededCtx(1);
      const picks = Array.from({ length: 5 }, () => chosen(allocate(t, task(), p, ctx)));
      expect(picks).toEqual(["c", "a", "b", "c", "a"]);
    });

    it("picks by ctx.random with random", () => {
      // A fresh table each time: every decision sees the three servers in the same order.
      const fresh = (): ServerTable => table(report({ id: "a" }), report({ id: "b" }), report({ id: "c" }));
      const p = resolvePolicy("random");
      const at = (r: number): PolicyContext => ({ random: () => r, now: () => 0 });
      expect(chosen(allocate(fresh(), task(), p, at(0)))).toBe("a");
      expect(chosen(allocate(fresh(), task(), p, at(0.5)))).toBe("b");
      expect(chosen(allocate(fresh(), task(), p, at(0.999)))).toBe("c");
    });

    it("says no server offers the app when none does", () => {
      const t = table(report({ id: "a", apps: ["hash"] }));
      const r = refused(allocate(t, task({ app: "render" }), resolvePolicy("most-idle"), seededCtx(1)));
      expect(r.reason).toBe('no server offers application "render"');
      expect(r.full).toBe(false);
    });

    it.each(["dead", "suspect", "draining"] as const)("never chooses a %s server", (status: ServerStatus) => {
      // Room for one task per policy: every policy reserves a slot on the server it chooses.
      const t = table(report({ id: "a", power: 100, capacity: 64 }), report({ id: "b", power: 1, capacity: 64 }));
      t.setStatus("a", status);
      for (const n of BUILTIN) expect(chosen(allocate(t, task(), resolvePolicy(n), seededCtx(3)))).toBe("b");
      t.setStatus("b", status);
      const r = refused(allocate(t, task(), resolvePolicy("most-idle"), seededCtx(3)));
      expect(r.reason).toBe('no live server offers application "echo"');
      // Retryable: the servers it knows may come back, or a peer allocator may have a live one.
      expect(r.full).toBe(true);
    });

    it("names the constraint no server meets", () => {
      const t = table(report({ id: "a", attrs: { region: "eu" }, power: 2 }), report({ id: "b", attrs: { region: "us" }, power: 8 }));
      const r = refused(allocate(t, task({ require: [{ key: "power", op: ">=", value: 1 }, { key: "region", op: "=", value: "ap" }] }), resolvePolicy("most-idle"), seededCtx(1)));
      expect(r.reason).toContain("region=ap");
      expect(r.reason).not.toContain("power");
      expect(r.full).toBe(false);
    });

    it("lists the constraints when each is met by some server but none meets all", () => {
      const t = table(report({ id: "a", attrs: { region: "eu" }, power: 2 }), report({ id: "b", attrs: { region: "us" }, power: 8 }));
      const r = refused(allocate(t, task({ require: [{ key: "power", op: ">=", value: 4 }, { key: "region", op: "=", value: "eu" }] }), resolvePolicy("most-idle"), seededCtx(1)));
      expect(r.reason).toContain("power>=4");
      expect(r.reason).toContain("region=eu");
      expect(r.full).toBe(false);
    });

    it.each(BUILTIN)("judges constraints by string form for = and in, by number for ordering ops, with %s", (name) => {
      // Only c meets all three: cores is "16" or 16 (not "16.0"), gpu is true or "true", mem is >= 8 as a number.
      const t = table(
        report({ id: "a", attrs: { cores: "16.0", gpu: true, mem: 32 } }),
        report({ id: "b", attrs: { cores: 16, gpu: "true", mem: "4" } }),
        report({ id: "c", attrs: { cores: "16", gpu: "true", mem: "8" } }),
        report({ id: "d", attrs: { cores: 16, gpu: "True", mem: 64 } }),
      );
      const require: Constraint[] = [
        { key: "cores", op: "in", value: [8, 16] },
        { key: "gpu", op: "=", value: true },
        { key: "mem", op: ">=", value: 8 },
      ];
      expect(chosen(allocate(t, task({ require }), resolvePolicy(name), seededCtx(3)))).toBe("c");
      const r = refused(allocate(t, task({ require: [...require, { key: "zone", op: "=", value: "a" }] }), resolvePolicy(name), seededCtx(3)));
      expect(r.reason).toContain("zone=a");
    });

    it("says full when every eligible server is at capacity", () => {
      const t = table(report({ id: "a", capacity: 2, load: 2 }), report({ id: "b", capacity: 1, load: 0 }));
      const p = resolvePolicy("most-idle");
      expect(chosen(allocate(t, task(), p, seededCtx(1)))).toBe("b");
      const r = refused(allocate(t, task(), p, seededCtx(1)));
      expect(r.full).toBe(true);
      expect(r.reason).toContain("at capacity");
      expect(t.get("b")?.reserved).toBe(1);
    });

    it("finds the one server a preference favours among many more than it gathers as candidates", () => {
      const many = Array.from({ length: 200 }, (_, i) => report({ id: `s${String(i).padStart(3, "0")}`, capacity: 8, attrs: { region: i === 137 ? "eu" : "us" } }));
      for (const n of STEERED) {
        const t = table(...many);
        expect(chosen(allocate(t, task({ clientAttrs: { region: "eu" } }), resolvePolicy(n), seededCtx(9)))).toBe("s137");
      }
    });

    it("steers the choice towards servers sharing the client's attributes", () => {
      const t = table(report({ id: "big", power: 64, attrs: { region: "us" } }), report({ id: "near", power: 1, attrs: { region: "eu" } }));
      for (const n of STEERED) {
        expect(chosen(allocate(t, task({ clientAttrs: { region: "eu" } }), resolvePolicy(n), seededCtx(5)))).toBe("near");
        t.release("near");
      }
    });

    it("steers the choice towards servers matching the user's preferences, more matches first", () => {
      const t = table(
        report({ id: "a", power: 64, attrs: {} }),
        report({ id: "b", power: 8, attrs: { gpu: true } }),
        report({ id: "c", power: 1, attrs: { gpu: true, region: "eu" } }),
      );
      const p = resolvePolicy("most-idle");
      expect(chosen(allocate(t, task({ prefs: { gpu: true } }), p, seededCtx(1)))).toBe("b");
      expect(chosen(allocate(t, task({ prefs: { gpu: true }, clientAttrs: { region: "eu" } }), p, seededCtx(1)))).toBe("c");
    });

    it("falls back to a server without the preferred attributes when those are full", () => {
      const t = table(report({ id: "a", power: 1, attrs: {} }), report({ id: "b", capacity: 1, load: 1, attrs: { gpu: true } }));
      expect(chosen(allocate(t, task({ prefs: { gpu: true } }), resolvePolicy("most-idle"), seededCtx(1)))).toBe("a");
    });

    // ---- properties ---------------------------------------------------------------------------

    const APPS = ["echo", "hash", "sleep"];
    const REGIONS = ["eu", "us", "ap"];
    const STATUSES: ServerStatus[] = ["alive", "alive", "alive", "suspect", "dead", "draining"];

    interface Fleet {
      reports: ServerReport[];
      statuses: ServerStatus[];
      reserved: number[];
    }

    const attrsArb: fc.Arbitrary<Attrs> = fc.record({ region: fc.constantFrom(...REGIONS), gpu: fc.boolean() }, { requiredKeys: [] });
    const fleetArb: fc.Arbitrary<Fleet> = fc
      .array(
        fc
          .record({
            apps: fc.subarray(APPS, { minLength: 1 }),
            capacity: fc.integer({ min: 1, max: 4 }),
            power: fc.integer({ min: 1, max: 16 }),
            attrs: attrsArb,
            status: fc.constantFrom(...STATUSES),
          })
          .chain((s) => fc.record({ s: fc.constant(s), load: fc.integer({ min: 0, max: s.capacity }), reserved: fc.integer({ min: 0, max: 1 }) })),
        { minLength: 1, maxLength: 8 },
      )
      .map((xs) => ({
        reports: xs.map(({ s, load }, i) => report({ id: `s${i}`, apps: s.apps, capacity: s.capacity, power: s.power, load, attrs: s.attrs })),
        statuses: xs.map(({ s }) => s.status),
        // Initial reservations never push a server past capacity.
        reserved: xs.map(({ s, load, reserved }) => Math.min(reserved, s.capacity - load)),
      }));

    const constraintArb: fc.Arbitrary<Constraint> = fc.oneof(
      fc.record({ key: fc.constant("power"), op: fc.constantFrom(">=", "<=", ">", "<", "=", "!="), value: fc.integer({ min: 0, max: 17 }) }),
      fc.record({ key: fc.constant("region"), op: fc.constantFrom("=", "!="), value: fc.constantFrom(...REGIONS) }),
      fc.record({ key: fc.constant("gpu"), op: fc.constantFrom("=", "!="), value: fc.boolean() }),
    );
    const taskArb: fc.Arbitrary<Task> = fc
      .record({
        app: fc.oneof({ weight: 9, arbitrary: fc.constantFrom(...APPS) }, { weight: 1, arbitrary: fc.constant("render") }),
        require: fc.array(constraintArb, { maxLength: 3 }),
        clientAttrs: attrsArb,
        prefs: attrsArb,
      })
      .map((x) => task(x));

    function build(f: Fleet): ServerTable {
      const t = table(...f.reports);
      f.reports.forEach((r, i) => {
        const e = t.get(r.id);
        if (!e) throw new Error("not applied");
        t.setStatus(r.id, f.statuses[i] ?? "alive");
        for (let k = 0; k < (f.reserved[i] ?? 0); k++) t.reserve(e);
      });
      return t;
    }

    /** An oracle written apart from src/policies/match: does `e` meet `c`? */
    function satisfies(e: ServerEntry, c: Constraint): boolean {
      if (c.key === "power") {
        const v = c.value as number;
        switch (c.op) {
          case ">=":
            return e.power >= v;
          case "<=":
            return e.power <= v;
          case ">":
            return e.power > v;
          case "<":
            return e.power < v;
          case "=":
            return e.power === v;
          case "!=":
            return e.power !== v;
        }
      }
      const has = Object.hasOwn(e.attrs, c.key);
      const equal = has && e.attrs[c.key] === c.value;
      return c.op === "=" ? equal : !equal;
    }

    const fits = (e: ServerEntry, t: Task): boolean => e.apps.includes(t.app) && e.status === "alive" && t.require.every((c) => satisfies(e, c));
    const hasFreeSlot = (e: ServerEntry): boolean => e.load + e.reserved < e.capacity;

    it("chooses only a live server offering the app and meeting every hard constraint, and refuses only when none with a free slot exists (property)", () => {
      fc.assert(
        fc.property(fleetArb, taskArb, fc.constantFrom(...BUILTIN), fc.nat(), (fleet, tk, policyName, seed) => {
          const t = build(fleet);
          const before = new Map([...t.all()].map((e) => [e.id, { reserved: e.reserved, free: hasFreeSlot(e), fits: fits(e, tk) }]));
          const a = allocate(t, tk, resolvePolicy(policyName), seededCtx(seed));
          const possible = [...before.values()].some((b) => b.fits && b.free);
          const anyFits = [...before.values()].some((b) => b.fits);
          const offering = [...t.all()].filter((e) => e.apps.includes(tk.app));
          const allDown = offering.length > 0 && offering.every((e) => e.status !== "alive");
          if (a.ok) {
            const was = before.get(a.server.id);
            expect(a.server.apps).toContain(tk.app);
            expect(a.server.status).toBe("alive");
            for (const c of tk.require) expect(satisfies(a.server, c), `${c.key}${c.op}${String(c.value)}`).toBe(true);
            expect(was?.free).toBe(true);
            expect(a.server.reserved).toBe((was?.reserved ?? 0) + 1);
          } else {
            expect(possible).toBe(false);
            expect(a.full).toBe(anyFits || allDown);
            for (const e of t.all()) expect(e.reserved).toBe(before.get(e.id)?.reserved);
          }
          expect(a.ok).toBe(possible);
        }),
        { numRuns: 300 },
      );
    });

    type Step = { kind: "allocate"; task: Task; policy: number } | { kind: "confirm"; pick: number } | { kind: "release"; pick: number } | { kind: "finish"; pick: number };

    const stepArb: fc.Arbitrary<Step> = fc.oneof(
      { weight: 4, arbitrary: fc.record({ kind: fc.constant("allocate" as const), task: taskArb, policy: fc.nat() }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant("confirm" as const), pick: fc.nat() }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant("release" as const), pick: fc.nat() }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant("finish" as const), pick: fc.nat() }) },
    );

    it("never puts more tasks on a server than its capacity across any run of allocations, confirms and releases (property)", () => {
      fc.assert(
        fc.property(fleetArb, fc.array(stepArb, { maxLength: 40 }), fc.nat(), (fleet, steps, seed) => {
          const t = build(fleet);
          const ctx = seededCtx(seed);
          const policies: Policy[] = BUILTIN.map((n) => resolvePolicy(n));
          // What each server really runs and the seq of its last word; the table learns load only from confirms.
          const running = new Map(fleet.reports.map((r) => [r.id, r.load]));
          const seq = new Map(fleet.reports.map((r) => [r.id, r.version[1]]));
          const pending: string[] = fleet.reports.flatMap((r, i) => new Array<string>(fleet.reserved[i] ?? 0).fill(r.id));
          const check = (): void => {
            for (const e of t.all()) {
              expect(e.reserved).toBeGreaterThanOrEqual(0);
              expect(e.load + e.reserved, `server ${e.id}`).toBeLessThanOrEqual(e.capacity);
              expect(running.get(e.id) ?? 0).toBeLessThanOrEqual(e.capacity);
            }
          };
          check();
          for (const step of steps) {
            if (step.kind === "allocate") {
              const a = allocate(t, step.task, policies[step.policy % policies.length] as Policy, ctx);
              if (a.ok) pending.push(a.server.id);
            } else if (pending.length > 0 && step.kind !== "finish") {
              const [id] = pending.splice(step.pick % pending.length, 1) as [string];
              if (step.kind === "confirm") {
                const load = (running.get(id) ?? 0) + 1;
                const s = (seq.get(id) ?? 0) + 1;
                running.set(id, load);
                seq.set(id, s);
                t.confirm(id, load, [1, s], 0);
              } else {
                t.release(id);
              }
            } else if (step.kind === "finish" && fleet.reports.length > 0) {
              const id = fleet.reports[step.pick % fleet.reports.length]?.id ?? "";
              const n = running.get(id) ?? 0;
              if (n > 0) running.set(id, n - 1); // finished quietly: no report reaches the table
            }
            check();
          }
        }),
        { numRuns: 200 },
      );
    });
  });
});

describe("policies/allocate backpressure", () => {
  it("takes no server with maxUnconfirmed reservations not yet acknowledged, and says so", async () => {
    const { ServerTable } = await import("../../src/state/index.js");
    const { allocate, resolvePolicy } = await import("../../src/policies/index.js");
    const table = new ServerTable();
    table.apply({ id: "s", url: "ws://s", apps: ["echo"], capacity: 1000, power: 1, load: 0, attrs: {}, version: [1, 1] }, 0);
    const task = { id: "t", key: "t", app: "echo", deadline: 1e12, require: [], clientAttrs: {}, prefs: {}, payload: null };
    const ctx = { random: () => 0.5, now: () => 0 };
    const policy = resolvePolicy("most-idle");
    for (let i = 0; i < 3; i++) expect(allocate(table, task, policy, ctx, 3).ok).toBe(true);
    const refused = allocate(table, task, policy, ctx, 3);
    expect(refused).toEqual({ ok: false, full: true, busy: true, reason: expect.stringContaining("3 reservations not yet acknowledged") });
    table.confirm("s", 1, [1, 2], 0);
    expect(allocate(table, task, policy, ctx, 3).ok).toBe(true);
  });
});
