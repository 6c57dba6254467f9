import { describe, expect, it } from "vitest";
import { CLAIM_ROLES, ErrorCode, SENDERS, claimCovers, refusal, speaksForOthers } from "../../src/protocol/index.js";
import type { ClaimRole, Principal, Role } from "../../src/protocol/index.js";

const as = (roles: ClaimRole[], id = "n1", verified = true): Principal => ({ id, roles, verified });
const report = (id: string) => ({ server: { id } });

describe("protocol/permissions", () => {
  describe("refusal", () => {
    it("lets each role send what its part of the protocol needs", () => {
      const ok: Array<[ClaimRole, Role, keyof typeof SENDERS]> = [
        ["client", "vip", "task.place"],
        ["vip", "tier1", "task.place"],
        ["tier1", "tier2", "task.place"],
        ["tier2", "app", "task.expect"],
        ["master", "app", "task.expect"],
        ["slave", "app", "task.run"],
        ["client", "app", "task.run"],
        ["slave", "master", "server.request"],
        ["slave", "master", "server.report"],
        ["tier2", "tier2", "peer.sync"],
        ["master", "master", "peer.sync"],
        ["admin", "tier2", "attrs.set"],
        ["admin", "app", "status.get"],
        ["client", "tier2", "placement.explain"],
        ["admin", "master", "placement.explain"],
      ];
      for (const [role, receiver, type] of ok) expect(refusal(as([role]), receiver, type, undefined), `${role} → ${receiver} ${type}`).toBeUndefined();
    });

    it("refuses UNAUTHORIZED what a role has no business sending", () => {
      const no: Array<[ClaimRole, Role, keyof typeof SENDERS]> = [
        ["client", "app", "task.expect"],
        ["app", "tier2", "peer.sync"],
        ["master", "tier2", "peer.sync"],
        ["tier2", "app", "peer.sync"],
        ["client", "tier2", "attrs.set"],
        ["client", "tier2", "status.get"],
        ["slave", "tier2", "server.report"],
        ["app", "master", "server.request"],
        ["client", "tier2", "task.placed"],
        ["app", "tier2", "placement.explain"],
        ["tier2", "master", "explanation"],
      ];
      for (const [role, receiver, type] of no) expect(refusal(as([role]), receiver, type, undefined)?.code, `${role} → ${receiver} ${type}`).toBe(ErrorCode.UNAUTHORIZED);
    });

    it("refuses a report for any id but the sender's own", () => {
      expect(refusal(as(["app"], "app1"), "tier2", "server.report", report("app1"))).toBeUndefined();
      expect(refusal(as(["app"], "app1"), "tier2", "server.report", report("app2"))?.message).toMatch(/may not report for app2/);
      expect(refusal(as(["app"], "app1"), "tier2", "server.load", { id: "app2" })?.code).toBe(ErrorCode.UNAUTHORIZED);
    });

    it("lets an admin drain a server at its allocator or at the server, an allocator relay it, and a server leave only for itself", () => {
      for (const receiver of ["tier2", "master", "app"] as Role[]) expect(refusal(as(["admin"]), receiver, "server.drain", undefined), receiver).toBeUndefined();
      expect(refusal(as(["tier2"]), "app", "server.drain", undefined)).toBeUndefined();
      expect(refusal(as(["master"]), "app", "server.drain", undefined)).toBeUndefined();
      for (const role of ["client", "app", "slave", "vip", "tier1"] as ClaimRole[]) expect(refusal(as([role]), "tier2", "server.drain", undefined)?.code, role).toBe(ErrorCode.UNAUTHORIZED);
      expect(refusal(as(["client"]), "app", "server.drain", undefined)?.code).toBe(ErrorCode.UNAUTHORIZED);
      expect(refusal(as(["tier2"]), "tier2", "server.drain", undefined)?.code).toBe(ErrorCode.UNAUTHORIZED);
      expect(refusal(as(["app"], "app1"), "tier2", "server.leave", { id: "app1" })).toBeUndefined();
      expect(refusal(as(["app"], "app1"), "tier2", "server.leave", { id: "app2" })?.code).toBe(ErrorCode.UNAUTHORIZED);
      expect(refusal(as(["client"], "app1"), "tier2", "server.leave", { id: "app1" })?.code).toBe(ErrorCode.UNAUTHORIZED);
      // Without authentication, as for status and attrs, any peer may drain.
      expect(refusal(as(["client"], "cli", false), "tier2", "server.drain", undefined)).toBeUndefined();
    });

    it("without authentication, takes a peer at its word and lets it do what an admin may, as before", () => {
      expect(refusal(as(["client"], "cli", false), "tier2", "attrs.set", undefined)).toBeUndefined();
      expect(refusal(as(["client"], "cli", false), "app", "task.expect", undefined)?.code).toBe(ErrorCode.UNAUTHORIZED);
    });

    it("names every message type, with roles from the claim vocabulary", () => {
      for (const [type, entry] of Object.entries(SENDERS)) {
        const lists = typeof entry === "function" ? (["tier2", "master", "app"] as Role[]).map(entry) : [entry];
        for (const l of lists) for (const r of l) expect(CLAIM_ROLES, type).toContain(r);
      }
    });
  });

  describe("speaksForOthers", () => {
    it("is true only of vip, tier-1 and slave principals", () => {
      expect(CLAIM_ROLES.filter((r) => speaksForOthers(as([r])))).toEqual(["vip", "tier1", "slave"]);
    });
  });

  describe("claimCovers", () => {
    it("covers the exact id, or ids that extend the prefix", () => {
      const key = new Uint8Array(32);
      expect(claimCovers({ roles: ["app"], id: "app1", expires: 0, key }, "app1")).toBe(true);
      expect(claimCovers({ roles: ["app"], id: "app1", expires: 0, key }, "app10")).toBe(false);
      expect(claimCovers({ roles: ["app"], idPrefix: "app-", expires: 0, key }, "app-x1")).toBe(true);
      expect(claimCovers({ roles: ["app"], idPrefix: "app-", expires: 0, key }, "app-")).toBe(false);
      expect(claimCovers({ roles: ["app"], idPrefix: "app-", expires: 0, key }, "tier2")).toBe(false);
    });
  });
});
