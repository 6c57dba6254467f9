import { describe, expect, it } from "vitest";
import { TokenGate } from "../../src/node/token-gate.js";

/** A gate over a check that counts its calls: tokens starting "good" are good until `until`. */
function gate(o = { checksPerSecond: 20, goodForMs: 5_000, maxRemembered: 1024, totalChecksPerSecond: 200 }) {
  const clock = { t: 1_000_000 };
  const calls: string[] = [];
  const g = new TokenGate(
    (token) => {
      calls.push(token);
      return token.startsWith("good") ? { expiresAt: clock.t + 60_000 } : { refused: "token signature does not verify" };
    },
    () => clock.t,
    o,
  );
  return { g, clock, calls };
}

describe("TokenGate", () => {
  it("checks a good token's signatures once, then takes it for goodForMs, then checks it again", () => {
    const { g, clock, calls } = gate();
    for (let i = 0; i < 100; i++) expect(g.admit("good-1", "10.0.0.1")).toBeUndefined();
    expect(calls).toEqual(["good-1"]);
    clock.t += 5_001;
    expect(g.admit("good-1", "10.0.0.1")).toBeUndefined();
    expect(calls).toEqual(["good-1", "good-1"]);
  });

  it("never takes a token past its own expiry", () => {
    const clock = { t: 0 };
    let checks = 0;
    const g = new TokenGate(() => (checks++, clock.t < 1_000 ? { expiresAt: 1_000 } : { refused: "token expired" }), () => clock.t);
    expect(g.admit("t", "a")).toBeUndefined();
    clock.t = 1_001;
    expect(g.admit("t", "a")).toEqual({ status: 401, error: "token expired" });
    expect(checks).toBe(2);
  });

  it("gives one address twice checksPerSecond checks at once and checksPerSecond a second after, refusing the rest 429 unchecked", () => {
    const { g, clock, calls } = gate();
    const answers = Array.from({ length: 100 }, (_, i) => g.admit(`fake-${i}`, "10.0.0.9"));
    expect(answers.filter((a) => a?.status === 401)).toHaveLength(40);
    expect(answers.filter((a) => a?.status === 429)).toHaveLength(60);
    expect(calls).toHaveLength(40);
    // Another address is not held back by the first one's flood, a good token neither.
    expect(g.admit("good-ops", "10.0.0.2")).toBeUndefined();
    clock.t += 1_000;
    const later = Array.from({ length: 50 }, (_, i) => g.admit(`fake-more-${i}`, "10.0.0.9"));
    expect(later.filter((a) => a?.status === 401)).toHaveLength(20);
    expect(calls).toHaveLength(61);
  });

  it("bounds the checks of all addresses together, however many addresses a flood comes from", () => {
    const { g, calls } = gate();
    for (let i = 0; i < 2_000; i++) g.admit(`fake-${i}`, `10.1.${i >> 8}.${i & 255}`);
    expect(calls).toHaveLength(400); // twice totalChecksPerSecond
    expect(g.admit("fake-x", "10.9.9.9")).toMatchObject({ status: 429 });
  });

  it("remembers at most maxRemembered tokens and addresses", () => {
    const { g, clock } = gate({ checksPerSecond: 1_000, goodForMs: 60_000, maxRemembered: 8, totalChecksPerSecond: 1_000_000 });
    for (let i = 0; i < 100; i++) {
      clock.t += 1;
      g.admit(`good-${i}`, `10.2.0.${i}`);
    }
    const inside = g as unknown as { good: Map<string, number>; buckets: Map<string, unknown> };
    expect(inside.good.size).toBe(8);
    expect(inside.buckets.size).toBe(8);
    expect([...inside.good.keys()]).toEqual(Array.from({ length: 8 }, (_, i) => `good-${92 + i}`));
  });
});
