import { describe, expect, it } from "vitest";
import { startNode } from "../../src/index.js";
import type { RunningNode } from "../../src/index.js";
import { RawClient, eventually } from "../helpers/raw-client.js";
import { trackNodes } from "../helpers/nodes.js";

const track = trackNodes();
const common = { logLevel: "silent" as const };

const place = (id: string) => ({ task: { id, key: id, app: "echo", deadline: Date.now() + 10_000, require: [], clientAttrs: {}, prefs: {}, payload: null }, client: { id: "c", addr: "" } });

interface Member {
  url: string;
  state: string;
}
const members = (vip: RunningNode): Member[] => vip.stats().members as Member[];

describe("vip", () => {
  describe("retry", () => {
    it("never answers UNREACHABLE while a member is up: a retry skips the members it tried and those whose link is down", async () => {
      const t2 = await Promise.all([1, 2, 3].map((i) => track(startNode({ ...common, role: "tier2", id: `t2-${i}` }))));
      const vip = await track(startNode({ ...common, role: "vip", to: t2.map((t) => t.url) }));
      await eventually(() => members(vip).every((m) => m.state === "open"), 5000, "the vip to reach every member");
      // Two of three die; their links go down (the vip keeps dialling them).
      await (t2[0] as RunningNode).stop();
      await (t2[1] as RunningNode).stop();
      await eventually(() => members(vip).filter((m) => m.state === "open").length === 1, 5000, "the vip to see two members down");
      const raw = await RawClient.open(vip.url, "c");
      try {
        await raw.hello("client");
        const codes: string[] = [];
        // Rounds of concurrent requests: the shared round robin moves under every one of them.
        for (let round = 0; round < 5; round++) {
          const answers = await Promise.all(Array.from({ length: 24 }, (_, i) => raw.call("task.place", place(`r${round}-${i}`))));
          for (const a of answers) codes.push(a.type === "error" ? String((a.body as { code: string }).code) : a.type);
        }
        // The live tier-2 has no server: it answers NO_SERVER, and nothing fails on the way.
        expect(codes.filter((c) => c === "UNREACHABLE")).toEqual([]);
        expect(new Set(codes)).toEqual(new Set(["NO_SERVER"]));
      } finally {
        await raw.close();
      }
    });
  });
});
