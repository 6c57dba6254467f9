import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { HomeServers, ownerOf } from "../../src/policies/index.js";

const servers = Array.from({ length: 4000 }, (_, i) => ({ id: `s${i}` }));
const memberIds = (k: number, prefix = "a"): string[] => Array.from({ length: k }, (_, i) => `${prefix}${i}`);
const idArb = fc.string({ minLength: 1, maxLength: 8 });

describe("policies/home-servers", () => {
  describe("ownerOf", () => {
    it("gives every server exactly one owner, the one HomeServers says is home (property)", () => {
      fc.assert(
        fc.property(fc.uniqueArray(idArb, { minLength: 1, maxLength: 9 }), fc.array(idArb, { minLength: 1, maxLength: 30 }), (members, ids) => {
          const homes = members.map(() => new HomeServers());
          for (const id of ids) {
            const server = { id };
            const owners = members.filter((m, i) => (homes[i] as HomeServers).isHome(server, { id: m, members }));
            expect(owners).toHaveLength(1);
            expect(owners[0]).toBe(ownerOf(id, members));
          }
        }),
        { numRuns: 300 },
      );
    });

    it("does not depend on the order members are listed in (property)", () => {
      fc.assert(
        fc.property(fc.uniqueArray(idArb, { minLength: 1, maxLength: 9 }), idArb, (members, id) => {
          expect(ownerOf(id, [...members].reverse())).toBe(ownerOf(id, members));
        }),
      );
    });

    it("is undefined with no members", () => {
      expect(ownerOf("s1", [])).toBeUndefined();
    });

    it.each([2, 4, 8])("shares %i members' servers about evenly", (k) => {
      const members = memberIds(k);
      const count = new Map<string, number>();
      for (const s of servers) count.set(ownerOf(s.id, members) as string, (count.get(ownerOf(s.id, members) as string) ?? 0) + 1);
      for (const m of members) expect(Math.abs((count.get(m) ?? 0) / servers.length - 1 / k)).toBeLessThan(0.25 / k);
    });

    it.each([1, 3, 4, 7])("moves only the servers a joining member takes, about 1/(K+1), from %i members, and moves them back when it leaves", (k) => {
      const before = memberIds(k);
      const after = [...before, "joiner"];
      let moved = 0;
      for (const s of servers) {
        const was = ownerOf(s.id, before);
        const is = ownerOf(s.id, after);
        if (is !== was) {
          moved++;
          expect(is).toBe("joiner");
        }
      }
      expect(Math.abs(moved / servers.length - 1 / (k + 1))).toBeLessThan(0.25 / (k + 1));
    });

    it.each([2, 4, 8])("moves only the servers a leaving member held, about 1/K of them, from %i members", (k) => {
      const before = memberIds(k);
      const after = before.filter((m) => m !== "a1");
      let moved = 0;
      for (const s of servers) {
        const was = ownerOf(s.id, before);
        if (ownerOf(s.id, after) !== was) {
          moved++;
          expect(was).toBe("a1");
        }
      }
      expect(Math.abs(moved / servers.length - 1 / k)).toBeLessThan(0.25 / k);
    });
  });

  describe("HomeServers.isHome", () => {
    it("follows a change of membership, and keeps its answers for a new array with the same ids", () => {
      const home = new HomeServers();
      const four = memberIds(4);
      const mine = (members: readonly string[]): string[] => servers.filter((s) => home.isHome(s, { id: "a0", members })).map((s) => s.id);
      const was = mine(four);
      expect(was).toEqual(servers.filter((s) => ownerOf(s.id, four) === "a0").map((s) => s.id));
      const five = [...four, "a4"];
      const now = mine(five);
      expect(now).toEqual(servers.filter((s) => ownerOf(s.id, five) === "a0").map((s) => s.id));
      expect(now.length).toBeLessThan(was.length);
      expect(mine([...five].reverse())).toEqual(now);
    });

    it("answers for whichever member asks", () => {
      const home = new HomeServers();
      const members = memberIds(3);
      for (const s of servers.slice(0, 200)) {
        const owner = ownerOf(s.id, members);
        for (const m of members) expect(home.isHome(s, { id: m, members })).toBe(m === owner);
      }
    });
  });
});
