import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { allocate, effectiveTask, parseConstraint, parsePreference, resolvePolicy } from "../../src/policies/index.js";
import type { AttrValue, Attrs, Constraint, Preference, Task } from "../../src/protocol/index.js";
import type { ServerEntry } from "../../src/state/index.js";
import { chosen, report, seededCtx, table, task } from "../helpers/policy.js";

// `in` constraints and weighted preferences, through allocate().

const ctx = seededCtx;

const prefer = (...ps: string[]): Preference[] => ps.map(parsePreference);
const require = (...cs: string[]): Constraint[] => cs.map(parseConstraint);
/**
 * The policies that choose among the best-scoring eligible servers. (hash does too for a task
 * with no key, as here; a policy with a `locate` step that finds a server — hash with a key,
 * idle-queue — decides before scoring.)
 */
const POLICIES = ["most-idle", "least-loaded", "round-robin", "random", "weighted", "best-fit", "p2c", "hash"];

describe("policies: in constraints and weighted preferences through allocate", () => {
  it("keeps only servers whose value is in the set", () => {
    const t = table(report({ id: "eu", attrs: { region: "eu" } }), report({ id: "us", attrs: { region: "us" } }), report({ id: "ap", power: 64, attrs: { region: "ap" } }));
    for (const n of POLICIES) {
      const id = chosen(allocate(t, task({ require: require("region in (eu,us)") }), resolvePolicy(n), ctx()));
      expect(["eu", "us"]).toContain(id);
      t.release(id);
    }
    const r = allocate(t, task({ require: require("region in (sa, af)") }), resolvePolicy("most-idle"), ctx());
    expect(r).toMatchObject({ ok: false, full: false, reason: expect.stringContaining("region in (sa,af)") });
  });

  it("reads app=X as: the server offers X too", () => {
    const t = table(report({ id: "plain", power: 64, apps: ["echo"] }), report({ id: "both", power: 1, apps: ["echo", "render"] }));
    expect(chosen(allocate(t, task({ require: require("app=render") }), resolvePolicy("most-idle"), ctx()))).toBe("both");
    expect(chosen(allocate(t, task({ require: require("app!=render") }), resolvePolicy("most-idle"), ctx()))).toBe("plain");
  });

  it("takes the examples of the issue together", () => {
    const t = table(
      report({ id: "good", power: 4, apps: ["echo", "render"], attrs: { region: "eu", gpu: true, label: "stable" } }),
      report({ id: "canary", power: 8, apps: ["echo", "render"], attrs: { region: "eu", gpu: true, label: "canary" } }),
      report({ id: "weak", power: 2, apps: ["echo", "render"], attrs: { region: "us", gpu: true } }),
      report({ id: "nogpu", power: 16, apps: ["echo", "render"], attrs: { region: "us", gpu: false } }),
    );
    const req = require("app=render", "power>=4", "region in (eu,us)", "gpu=true", "label!=canary");
    for (const n of POLICIES) {
      expect(chosen(allocate(t, task({ require: req }), resolvePolicy(n), ctx()))).toBe("good");
      t.release("good");
    }
  });

  it("chooses the server meeting the heavier preference over one meeting lighter ones", () => {
    const t = table(
      report({ id: "none", power: 64, attrs: {} }),
      report({ id: "eu", power: 8, attrs: { region: "eu" } }),
      report({ id: "gpu", power: 1, attrs: { gpu: true } }),
      report({ id: "ssd", power: 2, attrs: { disk: "ssd" } }),
    );
    const tk = task({ prefer: prefer("region=eu:2", "disk=ssd:1.5", "gpu=true:3") });
    for (const n of POLICIES) {
      expect(chosen(allocate(t, tk, resolvePolicy(n), ctx()))).toBe("gpu");
      t.release("gpu");
    }
    // Two lighter ones together (2 + 1.5) outweigh the heavy one (3).
    t.apply(report({ id: "eu", power: 8, attrs: { region: "eu", disk: "ssd" }, version: [1, 2] }), 0);
    expect(chosen(allocate(t, tk, resolvePolicy("most-idle"), ctx()))).toBe("eu");
  });

  it("weighs a preference against the one point of a client attribute or stored preference", () => {
    const t = table(report({ id: "near", attrs: { region: "eu" } }), report({ id: "gpu", attrs: { region: "us", gpu: true } }));
    const near = task({ clientAttrs: { region: "eu" } });
    expect(chosen(allocate(t, { ...near, prefer: prefer("gpu=true:0.5") }, resolvePolicy("most-idle"), ctx()))).toBe("near");
    t.release("near");
    expect(chosen(allocate(t, { ...near, prefer: prefer("gpu=true:2") }, resolvePolicy("most-idle"), ctx()))).toBe("gpu");
  });

  it("adds the attribute database's client attributes and user preferences to the task's weighted ones", () => {
    const t = table(
      report({ id: "a", attrs: { region: "eu", tier: "gold" } }),
      report({ id: "b", attrs: { gpu: true } }),
      report({ id: "c", attrs: { region: "eu", disk: "ssd" } }),
    );
    const own = task({ user: "u1", prefer: prefer("gpu=true:1.5") });
    expect(chosen(allocate(t, own, resolvePolicy("most-idle"), ctx()))).toBe("b");
    t.release("b");
    // Stored: the client is in the eu (1 point), the user likes gold servers (1 point): a scores 2 > 1.5.
    const eff = effectiveTask(own, { region: "eu" }, { tier: "gold" }, undefined);
    expect(eff.prefer).toEqual(own.prefer);
    expect(chosen(allocate(t, eff, resolvePolicy("most-idle"), ctx()))).toBe("a");
  });

  it("never lets a preference admit a server a hard constraint or a full slot keeps out", () => {
    const t = table(report({ id: "full", capacity: 1, load: 1, attrs: { gpu: true } }), report({ id: "us", attrs: { region: "us", gpu: true } }), report({ id: "eu", attrs: { region: "eu" } }));
    expect(chosen(allocate(t, task({ require: require("region in (eu)"), prefer: prefer("gpu=true:100") }), resolvePolicy("most-idle"), ctx()))).toBe("eu");
  });

  // ---- property: the choice is eligible and scores best -------------------------------------

  const REGIONS = ["eu", "us", "ap"];
  const APPS = ["echo", "hash", "render"];
  const attrsArb: fc.Arbitrary<Attrs> = fc.record({ region: fc.constantFrom(...REGIONS), gpu: fc.boolean(), cores: fc.constantFrom(4, 8, 16) }, { requiredKeys: [] });
  const fleetArb = fc.array(
    fc.record({
      apps: fc.subarray(APPS, { minLength: 1 }),
      capacity: fc.integer({ min: 1, max: 3 }),
      load: fc.integer({ min: 0, max: 3 }),
      power: fc.integer({ min: 1, max: 16 }),
      attrs: attrsArb,
    }),
    { minLength: 1, maxLength: 10 },
  );
  const valueArb = (key: string): fc.Arbitrary<AttrValue> =>
    key === "region" ? fc.constantFrom(...REGIONS) : key === "gpu" ? fc.boolean() : key === "app" ? fc.constantFrom(...APPS) : fc.constantFrom(4, 8, 16);
  const conArb: fc.Arbitrary<Constraint> = fc.constantFrom("region", "gpu", "cores", "app", "power").chain((key) =>
    fc.oneof(
      fc.record({ key: fc.constant(key), op: fc.constantFrom<Constraint["op"]>("=", "!="), value: valueArb(key) }),
      fc.record({ key: fc.constant(key), op: fc.constant<Constraint["op"]>("in"), value: fc.array(valueArb(key), { minLength: 1, maxLength: 3 }) }),
      fc.record({ key: fc.constant(key === "power" ? "power" : "cores"), op: fc.constantFrom<Constraint["op"]>(">=", "<=", ">", "<"), value: fc.constantFrom(4, 8, 16) }),
    ),
  );
  const prefArb: fc.Arbitrary<Preference> = fc.tuple(conArb, fc.oneof(fc.constantFrom(0, 0.5, 1, 2, 3), fc.double({ min: 0, max: 10, noNaN: true }))).map(([c, weight]) => ({ ...c, weight }));

  /** Oracles written apart from src/policies/match. */
  function valueIn(e: ServerEntry, key: string): AttrValue | string[] | undefined {
    if (key === "app") return e.apps;
    if (key === "power") return e.power;
    return e.attrs[key];
  }
  function ok(e: ServerEntry, c: Constraint): boolean {
    const v = valueIn(e, c.key);
    const wanted = (Array.isArray(c.value) ? c.value : [c.value]).map(String);
    const eq = (x: AttrValue): boolean => String(x) === String(c.value);
    if (Array.isArray(v)) {
      if (c.op === "=") return v.some(eq);
      if (c.op === "!=") return !v.some(eq);
      if (c.op === "in") return v.some((x) => wanted.includes(x));
      return false;
    }
    if (v === undefined) return c.op === "!=";
    if (c.op === "=") return eq(v);
    if (c.op === "!=") return !eq(v);
    if (c.op === "in") return wanted.includes(String(v));
    const a = Number(v);
    const b = Number(c.value);
    return c.op === ">=" ? a >= b : c.op === "<=" ? a <= b : c.op === ">" ? a > b : a < b;
  }
  const score = (e: ServerEntry, tk: Task): number =>
    Object.keys(tk.clientAttrs).filter((k) => e.attrs[k] === tk.clientAttrs[k]).length +
    Object.keys(tk.prefs).filter((k) => e.attrs[k] === tk.prefs[k]).length +
    (tk.prefer ?? []).reduce((s, p) => s + (ok(e, p) ? p.weight : 0), 0);

  // Tasks here carry no user, so hash too chooses among the best-scoring (with a key, it follows
  // the key's place on its ring first). At most 10 servers: fewer than a decision's candidates.
  it("chooses a server that offers the app, has a free slot, meets every constraint and scores highest among those (property)", () => {
    fc.assert(
      fc.property(
        fleetArb,
        fc.record({ app: fc.constantFrom(...APPS), require: fc.array(conArb, { maxLength: 2 }), prefer: fc.array(prefArb, { maxLength: 4 }), clientAttrs: attrsArb, prefs: attrsArb }),
        fc.constantFrom(...POLICIES),
        fc.nat(),
        (fleet, spec, policy, seed) => {
          const t = table(...fleet.map((s, i) => report({ id: `s${i}`, ...s, load: Math.min(s.load, s.capacity) })));
          const tk = task(spec);
          const eligible = [...t.all()].filter((e) => e.apps.includes(tk.app) && e.load < e.capacity && tk.require.every((c) => ok(e, c)));
          const best = Math.max(...eligible.map((e) => score(e, tk)));
          const a = allocate(t, tk, resolvePolicy(policy), ctx(seed));
          expect(a.ok).toBe(eligible.length > 0);
          if (!a.ok) return;
          expect(eligible.map((e) => e.id)).toContain(a.server.id);
          expect(score(a.server, tk)).toBeCloseTo(best, 9);
        },
      ),
      { numRuns: 400 },
    );
  });
});
