import { describe, expect, it } from "vitest";
import { ClientLeases, RENEW_AT, leaseClassKey, leaseClassOf } from "../../src/actors/runtime/client-leases.js";
import type { Asker } from "../../src/actors/runtime/context.js";
import { AllotError, ErrorCode, PROTOCOL_VERSION } from "../../src/protocol/index.js";
import type { Bodies, LeaseGrant, Message, MessageType } from "../../src/protocol/index.js";

const T0 = 1_000_000;

interface Asked {
  type: MessageType;
  body: Bodies["lease.request"] | Bodies["lease.release"];
  answer(leases: LeaseGrant[]): void;
  fail(code: ErrorCode): void;
}

/** A client actor's context by hand: asks are recorded and answered by the test, timers fire when the clock is moved. */
function fakeContext() {
  let now = T0;
  const asked: Asked[] = [];
  const timers: Array<{ at: number; fn: () => void; live: boolean }> = [];
  const entry: Asker = { request: () => Promise.reject(new Error("not used")) };
  const ctx = {
    now: () => now,
    after(ms: number, fn: () => void) {
      const t = { at: now + ms, fn, live: true };
      timers.push(t);
      return () => void (t.live = false);
    },
    ask<T extends MessageType>(_to: Asker, type: T, body: Bodies[T], _timeout: number | undefined, then: (err: AllotError | undefined, answer: Message | undefined) => void) {
      asked.push({
        type,
        body: body as Bodies["lease.request"],
        answer: (leases) => then(undefined, { v: PROTOCOL_VERSION, type: "lease.granted", id: 1, re: 1, from: "t2", body: { leases } }),
        fail: (code) => then(new AllotError(code, "refused"), undefined),
      });
    },
  };
  const advance = (ms: number): void => {
    now += ms;
    for (let i = 0; i < 100; i++) {
      const due = timers.find((t) => t.live && t.at <= now);
      if (due === undefined) return;
      due.live = false;
      due.fn();
    }
  };
  return { ctx, asked, advance, entry, now: () => now };
}

const cls = leaseClassOf({ app: "echo", require: [{ key: "region", op: "=", value: "eu" }], clientAttrs: { b: 1, a: 2 } });
const key = leaseClassKey(cls);
const grant = (leaseId: string, slots: number, expiresAt: number, ticket = `tk-${leaseId}-${expiresAt}`): LeaseGrant => ({ leaseId, serverId: `srv-${leaseId}`, serverUrl: `ws://srv-${leaseId}`, slots, ticket, expiresAt });

function setup() {
  const f = fakeContext();
  const leases = new ClientLeases(f.ctx, { client: { id: "alice", addr: "" }, entry: () => f.entry });
  return { ...f, leases };
}

describe("actors/runtime/client-leases", () => {
  describe("leaseClassKey", () => {
    it("is the same for classes whose attributes differ only in key order, and differs when matching would", () => {
      expect(leaseClassKey(leaseClassOf({ app: "echo", require: [{ key: "region", op: "=", value: "eu" }], clientAttrs: { a: 2, b: 1 } }))).toBe(key);
      expect(leaseClassKey(leaseClassOf({ app: "echo", require: [{ key: "region", op: "=", value: "us" }], clientAttrs: { a: 2, b: 1 } }))).not.toBe(key);
      expect(leaseClassKey(leaseClassOf({ app: "hash" }))).not.toBe(leaseClassKey(leaseClassOf({ app: "echo" })));
    });
  });

  describe("take", () => {
    it("asks once for a class's first task (which is placed on its own), then hands out at most k slots at once", () => {
      const { leases, asked } = setup();
      expect(leases.take(key, { class: cls, slots: 2, ttlMs: 9_000 })).toBeUndefined();
      expect(leases.take(key, { class: cls, slots: 2, ttlMs: 9_000 })).toBeUndefined();
      expect(asked).toHaveLength(1);
      expect(asked[0]?.body).toMatchObject({ class: cls, slots: 2, ttlMs: 9_000, client: { id: "alice" } });
      asked[0]?.answer([grant("L1", 2, T0 + 9_000)]);
      const a = leases.take(key);
      const b = leases.take(key);
      expect(a).toMatchObject({ leaseId: "L1", serverUrl: "ws://srv-L1", ticket: `tk-L1-${T0 + 9_000}` });
      expect(b?.leaseId).toBe("L1");
      expect(leases.take(key)).toBeUndefined(); // exhausted: placed on its own, no new request
      expect(asked).toHaveLength(1);
      leases.done(a as NonNullable<typeof a>);
      expect(leases.take(key)?.leaseId).toBe("L1");
      expect(leases.stats()).toMatchObject({ leases: 1, slots: 2, inUse: 2 });
    });

    it("gives nothing for a class it was never asked for with a lease", () => {
      const { leases, asked } = setup();
      expect(leases.take(key)).toBeUndefined();
      expect(asked).toHaveLength(0);
    });

    it("after a refusal, asks again on the next take of the class", () => {
      const { leases, asked } = setup();
      leases.take(key, { class: cls, slots: 1 });
      asked[0]?.fail(ErrorCode.NO_SERVER);
      expect(leases.take(key)).toBeUndefined();
      expect(asked).toHaveLength(2);
      expect(leases.stats().refused).toBe(1);
    });
  });

  describe("revoked", () => {
    it("drops a lease a server answered LEASE_EXPIRED for, and asks again on the next take", () => {
      const { leases, asked } = setup();
      leases.take(key, { class: cls, slots: 1 });
      asked[0]?.answer([grant("L1", 1, T0 + 30_000)]);
      expect(leases.take(key)?.leaseId).toBe("L1");
      leases.revoked("L1");
      expect(leases.take(key)).toBeUndefined();
      expect(asked).toHaveLength(2);
      expect(asked[1]?.body).not.toHaveProperty("renew");
    });
  });

  describe("renewal", () => {
    it("renews at 2/3 of the lease's time, naming the leases held, and takes the new ticket and expiry; runs keep their slots", () => {
      const { leases, asked, advance } = setup();
      leases.take(key, { class: cls, slots: 2, ttlMs: 9_000 });
      asked[0]?.answer([grant("L1", 1, T0 + 9_000)]);
      const running = leases.take(key);
      advance(Math.floor(9_000 * RENEW_AT) - 1);
      expect(asked).toHaveLength(1);
      advance(1);
      expect(asked).toHaveLength(2);
      expect(asked[1]?.body).toMatchObject({ renew: ["L1"], slots: 2 });
      // Renewed, and topped up with a second lease for the slot the first grant lacked.
      asked[1]?.answer([grant("L1", 1, T0 + 15_000), grant("L2", 1, T0 + 15_000)]);
      advance(4_000); // past the first expiry
      expect(leases.take(key)?.leaseId).toBe("L2"); // L1's one slot is still the running task's
      leases.done(running as NonNullable<typeof running>);
      expect(leases.take(key)).toMatchObject({ leaseId: "L1", ticket: `tk-L1-${T0 + 15_000}` });
    });

    it("lets a lease go that the renewal did not renew, and stops taking an expired one", () => {
      const { leases, asked, advance } = setup();
      leases.take(key, { class: cls, slots: 2, ttlMs: 3_000 });
      asked[0]?.answer([grant("L1", 1, T0 + 3_000), grant("L2", 1, T0 + 6_000)]);
      advance(2_000);
      expect(asked[1]?.body).toMatchObject({ renew: ["L1", "L2"] });
      asked[1]?.answer([grant("L2", 1, T0 + 9_000)]);
      expect(leases.stats().leases).toBe(1);
      expect(leases.take(key)?.leaseId).toBe("L2");
      advance(10_000);
      expect(leases.take(key)).toBeUndefined();
    });
  });

  describe("release", () => {
    it("tells the tier-2 every lease held is done with, and takes nothing more", () => {
      const { leases, asked } = setup();
      leases.take(key, { class: cls, slots: 2 });
      asked[0]?.answer([grant("L1", 1, T0 + 9_000), grant("L2", 1, T0 + 9_000)]);
      leases.release();
      const rel = asked[1];
      expect(rel?.type).toBe("lease.release");
      expect(rel?.body).toMatchObject({ leases: ["L1", "L2"], client: { id: "alice" } });
      expect(leases.take(key, { class: cls, slots: 2 })).toBeUndefined();
      expect(asked).toHaveLength(2);
    });
  });
});
