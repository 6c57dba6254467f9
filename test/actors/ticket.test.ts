import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ReplayWindows } from "../../src/actors/runtime/replay-window.js";
import { TicketIssuer, checkTicket, newTicketKey, parseTicket, signTicket } from "../../src/actors/runtime/ticket.js";
import type { TicketFields } from "../../src/actors/runtime/ticket.js";

const key = newTicketKey();
const fields: TicketFields = { taskId: "t1", key: "k1", serverId: "app-1", client: "alice", expiresAt: 1_800_000_000_000, issuer: "dGllcjItMUBhYmM", seq: 7 };
const of = (f: TicketFields) => ({ taskId: f.taskId, key: f.key, serverId: f.serverId, client: f.client });

describe("actors/runtime/ticket", () => {
  it("checks a ticket signed for exactly its task, key, server and client, and gives back its issuer, count and expiry", () => {
    const t = signTicket(key, fields);
    expect(checkTicket(key, t, of(fields))).toEqual({ issuer: fields.issuer, seq: 7, expiresAt: fields.expiresAt });
  });

  it("refuses any other field, another key, and any change to the ticket (property)", () => {
    const t = signTicket(key, fields);
    for (const k of ["taskId", "key", "serverId", "client"] as const) expect(checkTicket(key, t, { ...of(fields), [k]: "other" })).toBeUndefined();
    expect(checkTicket(newTicketKey(), t, of(fields))).toBeUndefined();
    fc.assert(
      fc.property(fc.nat(t.length - 1), fc.string({ minLength: 1, maxLength: 1 }), (i, c) => {
        fc.pre(t[i] !== c);
        expect(checkTicket(key, t.slice(0, i) + c + t.slice(i + 1), of(fields))).toBeUndefined();
      }),
    );
  });

  it("does not take a random string for a ticket", () => {
    for (const s of ["", "s1~", "s1~a~b~c", "s1~~~~", "abc", "s1~aaaa~zzzzzzzzzzzzz~1~xxxxxxxxxxxxxxxxxxxxxx"]) expect(parseTicket(s)).toBeUndefined();
  });

  it("issues tickets with a count per server, so each is distinct, and random ones for a server with no key", () => {
    const issuer = new TicketIssuer("tier2-1", 123);
    const a = issuer.issue({ id: "s", ticketKey: key }, { taskId: "t", key: "k", client: "c", expiresAt: 1 });
    const b = issuer.issue({ id: "s", ticketKey: key }, { taskId: "t", key: "k", client: "c", expiresAt: 1 });
    expect(a).not.toBe(b);
    expect(parseTicket(a)?.seq).toBe(1);
    expect(parseTicket(b)?.seq).toBe(2);
    expect(parseTicket(issuer.issue({ id: "s2" }, { taskId: "t", key: "k", client: "c", expiresAt: 1 }))).toBeUndefined();
  });
});

describe("actors/runtime/ReplayWindows", () => {
  it("takes each count once, refuses it after, and refuses what fell out of the window (property against a set)", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom("a", "b"), fc.integer({ min: 1, max: 10_000 })), { maxLength: 300 }), (uses) => {
        const w = new ReplayWindows();
        const seen = new Map<string, Set<number>>();
        const top = new Map<string, number>();
        for (const [issuer, seq] of uses) {
          const s = seen.get(issuer) ?? new Set<number>();
          const t = top.get(issuer) ?? 0;
          const expectFresh = !s.has(seq) && seq > t - 4096;
          expect(w.use(issuer, seq)).toBe(expectFresh);
          if (expectFresh) {
            s.add(seq);
            seen.set(issuer, s);
            top.set(issuer, Math.max(t, seq));
          }
          expect(w.used(issuer, seq)).toBe(true);
        }
      }),
    );
  });
});
