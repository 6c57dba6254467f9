import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkLeaseTicket, checkTicket, isLeaseTicket, newTicketKey, parseLeaseTicket, parseTicket, signLeaseTicket } from "../../src/actors/runtime/ticket.js";
import type { LeaseTicketFields } from "../../src/actors/runtime/ticket.js";

const key = newTicketKey();
const fields: LeaseTicketFields = { leaseId: "l1-dGllcjI", client: "alice", serverId: "app-1", slots: 4, expiresAt: 1_800_000_000_000 };
const of = (f: LeaseTicketFields) => ({ leaseId: f.leaseId, client: f.client, serverId: f.serverId, slots: f.slots });

describe("actors/runtime/ticket (leases)", () => {
  describe("signLeaseTicket / checkLeaseTicket", () => {
    it("checks a lease ticket signed for exactly its lease, client, server and slots, and gives back its expiry", () => {
      const t = signLeaseTicket(key, fields);
      expect(isLeaseTicket(t)).toBe(true);
      expect(parseLeaseTicket(t)).toMatchObject({ leaseId: fields.leaseId, slots: 4, expiresAt: fields.expiresAt });
      expect(checkLeaseTicket(key, t, of(fields))).toEqual({ expiresAt: fields.expiresAt });
    });

    it("refuses any other field, another key, and any change to the ticket (property)", () => {
      const t = signLeaseTicket(key, fields);
      for (const k of ["leaseId", "client", "serverId"] as const) expect(checkLeaseTicket(key, t, { ...of(fields), [k]: "other" })).toBeUndefined();
      expect(checkLeaseTicket(key, t, { ...of(fields), slots: 5 })).toBeUndefined();
      expect(checkLeaseTicket(newTicketKey(), t, of(fields))).toBeUndefined();
      fc.assert(
        fc.property(fc.nat(t.length - 1), fc.string({ minLength: 1, maxLength: 1 }), (i, c) => {
          fc.pre(t[i] !== c);
          expect(checkLeaseTicket(key, t.slice(0, i) + c + t.slice(i + 1), of(fields))).toBeUndefined();
        }),
      );
    });

    it("is never taken for a per-task ticket, nor a per-task ticket for it", () => {
      const t = signLeaseTicket(key, fields);
      expect(parseTicket(t)).toBeUndefined();
      expect(checkTicket(key, t, { taskId: fields.leaseId, key: "k", serverId: fields.serverId, client: fields.client })).toBeUndefined();
      expect(isLeaseTicket("s1~abc~1~2~xxxxxxxxxxxxxxxxxxxxxx")).toBe(false);
    });

    it("does not parse a malformed one, nor sign a lease id that is not base64url", () => {
      for (const s of ["", "l1~", "l1~a~b~c", "l1~~~~", "l1~a~0~1~xxxxxxxxxxxxxxxxxxxxxx", "l1~a!~1~1~xxxxxxxxxxxxxxxxxxxxxx", "l1~a~1~1~short"]) expect(parseLeaseTicket(s)).toBeUndefined();
      expect(() => signLeaseTicket(key, { ...fields, leaseId: "a~b" })).toThrow(TypeError);
    });
  });
});
