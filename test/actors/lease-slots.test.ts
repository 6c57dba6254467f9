import { describe, expect, it } from "vitest";
import { LEASE_SKEW_MS, LeaseSlots } from "../../src/actors/runtime/lease-slots.js";
import type { LeaseSlot } from "../../src/actors/runtime/lease-slots.js";
import { AllotError, MAX_LEASE_TTL_MS } from "../../src/protocol/index.js";

const T0 = 1_000_000;
const ask = (leaseId: string, slots: number, expiresAt = T0 + 10_000, client = "alice", ticket = `t-${leaseId}-${expiresAt}`) => ({ leaseId, client, slots, ticket, expiresAt });

function held(x: LeaseSlot | AllotError): LeaseSlot {
  if (x instanceof AllotError) throw new Error(`expected a lease, got ${x.code}: ${x.message}`);
  return x;
}
const code = (x: LeaseSlot | AllotError): string => (x instanceof AllotError ? x.code : "lease");

describe("actors/runtime/lease-slots", () => {
  describe("grant", () => {
    it("holds all k slots while the lease lives, used or not, and refuses slots that do not fit OVERLOADED", () => {
      const s = new LeaseSlots();
      held(s.grant(ask("a", 3), T0, 4));
      expect(s.unused()).toBe(3);
      expect(code(s.grant(ask("b", 2), T0, 4 - 3))).toBe("OVERLOADED");
      expect(s.size).toBe(1);
    });

    it("renews a lease it holds: new expiry and ticket, the old ticket still admitted, the slots not counted twice", () => {
      const s = new LeaseSlots();
      const first = ask("a", 2);
      held(s.grant(first, T0, 2));
      // Room 0 now (its own slots fill the server): a renewal of the same slots still fits.
      const l = held(s.grant(ask("a", 2, T0 + 20_000), T0 + 5_000, 0));
      expect(l.expiresAt).toBe(T0 + 20_000);
      expect(s.unused()).toBe(2);
      expect(code(s.admit("a", first.ticket, "alice", T0 + 15_000))).toBe("lease");
      expect(s.renewed).toBe(1);
    });

    it("refuses a lease id held for another client, and clamps an expiry past the longest lease", () => {
      const s = new LeaseSlots();
      held(s.grant(ask("a", 1), T0, 5));
      expect(code(s.grant(ask("a", 1, T0 + 10_000, "mallory"), T0, 5))).toBe("INVALID");
      expect(held(s.grant(ask("b", 1, Number.MAX_SAFE_INTEGER), T0, 5)).expiresAt).toBe(T0 + MAX_LEASE_TTL_MS);
    });
  });

  describe("admit / begin / end", () => {
    it("admits at most k runs at once, and a run takes one of the lease's slots rather than adding to the load", () => {
      const s = new LeaseSlots();
      const a = ask("a", 2);
      const l = held(s.grant(a, T0, 2));
      s.begin(held(s.admit("a", a.ticket, "alice", T0)));
      expect(s.unused()).toBe(1);
      s.begin(held(s.admit("a", a.ticket, "alice", T0)));
      expect(s.unused()).toBe(0);
      expect(code(s.admit("a", a.ticket, "alice", T0))).toBe("OVERLOADED");
      s.end(l);
      expect(s.unused()).toBe(1);
      expect(code(s.admit("a", a.ticket, "alice", T0))).toBe("lease");
    });

    it("answers LEASE_EXPIRED for an unknown lease, a stale ticket and an expired lease (past the skew allowance), UNAUTHORIZED for another client", () => {
      const s = new LeaseSlots();
      const a = ask("a", 1);
      held(s.grant(a, T0, 5));
      expect(code(s.admit("nope", a.ticket, "alice", T0))).toBe("LEASE_EXPIRED");
      expect(code(s.admit("a", "some-other-ticket", "alice", T0))).toBe("LEASE_EXPIRED");
      expect(code(s.admit("a", a.ticket, "mallory", T0))).toBe("UNAUTHORIZED");
      expect(code(s.admit("a", a.ticket, "alice", a.expiresAt + LEASE_SKEW_MS - 1))).toBe("lease");
      expect(code(s.admit("a", a.ticket, "alice", a.expiresAt + LEASE_SKEW_MS))).toBe("LEASE_EXPIRED");
      expect(s.size).toBe(0);
      expect(s.unused()).toBe(0);
    });
  });

  describe("revoke / clear", () => {
    it("frees a revoked lease's unused slots at once; its runs keep theirs (counted by the server as runs) and ending them frees nothing twice", () => {
      const s = new LeaseSlots();
      const a = ask("a", 3);
      const l = held(s.grant(a, T0, 3));
      s.begin(held(s.admit("a", a.ticket, "alice", T0)));
      expect(s.revoke("a")).toBe(true);
      expect(s.unused()).toBe(0);
      expect(code(s.admit("a", a.ticket, "alice", T0))).toBe("LEASE_EXPIRED");
      s.end(l);
      expect(s.unused()).toBe(0);
      expect(s.revoke("a")).toBe(false);
      held(s.grant(ask("b", 2), T0, 3));
      s.clear();
      expect([s.size, s.unused()]).toEqual([0, 0]);
    });
  });

  describe("sweep", () => {
    it("drops expired leases, looking at no more than its limit per sweep, and skips the walk until the soonest expiry", () => {
      const s = new LeaseSlots();
      for (let i = 0; i < 10; i++) held(s.grant(ask(`l${i}`, 1, T0 + 1_000 + i), T0, 100));
      held(s.grant(ask("late", 1, T0 + 100_000), T0, 100));
      expect(s.sweep(T0)).toBe(0);
      const after = T0 + 1_100 + LEASE_SKEW_MS;
      expect(s.sweep(after, 4)).toBe(4);
      expect(s.sweep(after, 4)).toBe(4);
      expect(s.sweep(after, 4)).toBe(2);
      expect(s.size).toBe(1);
      expect(s.unused()).toBe(1);
      expect(s.expired).toBe(10);
      // The walk ended: nothing expires before the late one, so the next sweeps look at nothing.
      expect(s.sweep(after + 1, 1)).toBe(0);
      expect(s.sweep(T0 + 100_000 + LEASE_SKEW_MS, 10)).toBe(1);
    });
  });
});
