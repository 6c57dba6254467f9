import { describe, expect, it } from "vitest";
import { startNode } from "../../src/index.js";
import type { RunningNode } from "../../src/index.js";
import { queryExplain, queryStatus } from "../../src/node/query.js";
import { refusal } from "../../src/protocol/index.js";
import type { Task } from "../../src/protocol/index.js";
import { runMain } from "../helpers/capture.js";
import { testCluster } from "../helpers/credentials.js";
import { trackNodes } from "../helpers/nodes.js";
import { eventually } from "../helpers/raw-client.js";

const track = trackNodes();
const quiet = { logLevel: "silent" as const };
const alive = (n: RunningNode): number => (n.stats().servers as Array<{ status: string }>).filter((r) => r.status === "alive").length;
const handlers = { echo: (p: unknown) => p };

/** An allocator of `role` with two app servers, eu (power 4) and us (power 2). */
async function allocatorWithServers(role: "tier2" | "master", auth: object = {}, serverAuth: (id: string) => object = () => ({})): Promise<RunningNode> {
  const allocator = await track(startNode({ ...quiet, ...auth, role, id: `x-${role}` }));
  for (const [id, region, power] of [
    ["x-eu", "eu", 4],
    ["x-us", "us", 2],
  ] as const) {
    await track(startNode({ ...quiet, ...serverAuth(id), role: "app", id, apps: ["echo"], capacity: 4, power, attrs: { region }, join: [allocator.url], handlers }));
  }
  await eventually(() => alive(allocator) === 2, 5000, "both app servers to register");
  return allocator;
}

const explainJson = async (args: string[]): Promise<{ code: number; x: Record<string, unknown>; err: string }> => {
  const r = await runMain(["explain", ...args, "-o", "json"]);
  return { code: r.code, x: JSON.parse(r.out) as Record<string, unknown>, err: r.err };
};

describe("allot explain", () => {
  it.each(["tier2", "master"] as const)("explains a placement at a %s as one JSON object, reserving nothing", async (role) => {
    const allocator = await allocatorWithServers(role);
    const { code, x, err } = await explainJson(["--entry", allocator.url, "--app", "echo", "--require", "power>=2", "--prefer", "region=us:2", "--client-attr", "tier=gold", "--user", "u1"]);
    expect(code, err).toBe(0);
    expect(x).toMatchObject({ app: "echo", offering: 2, live: 2, eligible: 2, removedBy: { status: 0, "power>=2": 0, full: 0 }, maxScore: 3, chosen: "x-us" });
    expect(x.policy).toBe(role === "master" ? "least-loaded" : "shortest-delay");
    expect(x.candidates).toEqual([
      { id: "x-us", rank: 1, score: 2, load: 0, reserved: 0, capacity: 4, free: 4, power: 2, idlePower: 2, chosen: true },
      { id: "x-eu", rank: 2, score: 0, load: 0, reserved: 0, capacity: 4, free: 4, power: 4, idlePower: 4, chosen: false },
    ]);
    expect(x.reason).toMatch(/^server x-us wins: score 2 of 3 possible; .*1 eligible server scored lower/);
    const st = await queryStatus(allocator.url);
    expect(st.role === "tier2" || st.role === "master" ? st.servers.map((s) => s.reserved) : null).toEqual([0, 0]);
  });

  it("counts what each constraint removed, and prints it for people", async () => {
    const tier2 = await allocatorWithServers("tier2");
    const { code, x } = await explainJson(["--entry", tier2.url, "--app", "echo", "--require", "region=eu", "--require", "power>=3"]);
    expect(code).toBe(0);
    expect(x).toMatchObject({ eligible: 1, removedBy: { "region=eu": 1, "power>=3": 1 }, chosen: "x-eu" });
    const text = await runMain(["explain", "--entry", tier2.url, "--app", "echo", "--require", "region=eu"]);
    expect(text.code, text.err).toBe(0);
    expect(text.out).toContain("offering 2, live 2, eligible 1");
    expect(text.out).toContain("removed by: status 0, region=eu 1, full 0");
    expect(text.out).toMatch(/\* +1 +x-eu +0\/0/);
    expect(text.out).toContain("chosen: x-eu");
  });

  it("exits 1 with the reason for an unknown application or an unmet constraint", async () => {
    const tier2 = await allocatorWithServers("tier2");
    const unknown = await explainJson(["--entry", tier2.url, "--app", "nope"]);
    expect(unknown.code).toBe(1);
    expect(unknown.x).toMatchObject({ offering: 0, eligible: 0, candidates: [], chosen: null, reason: 'no server offers application "nope"' });
    expect(unknown.err).toContain('allot explain: no server fits: no server offers application "nope"');
    const unmet = await explainJson(["--entry", tier2.url, "--app", "echo", "--require", "region=ap"]);
    expect(unmet.code).toBe(1);
    expect(unmet.x).toMatchObject({ chosen: null, removedBy: { "region=ap": 2 }, reason: 'no server for "echo" meets constraint region=ap' });
  });

  it("passes through a vip to a member of its set", async () => {
    const tier2 = await allocatorWithServers("tier2");
    const vip = await track(startNode({ ...quiet, role: "vip", to: [tier2.url] }));
    await eventually(() => JSON.stringify(vip.stats()).includes('"open"'), 5000, "the vip to connect to the tier-2");
    const { code, x, err } = await explainJson(["--entry", vip.url, "--app", "echo", "--require", "region=us"]);
    expect(code, err).toBe(0);
    expect(x).toMatchObject({ offering: 2, eligible: 1, chosen: "x-us" });
  });

  it("exits 2 naming the flag for bad input", async () => {
    for (const [args, flag] of [
      [["--app", "echo"], "--entry"],
      [["--entry", "ws://127.0.0.1:1"], "--app"],
      [["--entry", "ws://127.0.0.1:1", "--app", "echo", "--require", "region in (eu"], "--require"],
      [["--entry", "ws://127.0.0.1:1", "--app", "echo", "--prefer", "region=eu:-1"], "--prefer"],
      [["--entry", "ws://127.0.0.1:1", "--app", "echo", "--client-attr", "novalue"], "--client-attr"],
      [["--entry", "ws://127.0.0.1:1", "--app", "echo", "-o", "yaml"], "--output"],
    ] as const) {
      const r = await runMain(["explain", ...args]);
      expect(r.code, `${args.join(" ")}: ${r.err}`).toBe(2);
      expect(r.err).toContain(flag);
    }
  });

  it("with authentication on, shows a client no server ids but the chosen one's, and an admin all of them", async () => {
    const cluster = testCluster();
    const tier2 = await allocatorWithServers("tier2", cluster.auth(cluster.issue(["tier2"], "x-tier2")), (id) => cluster.auth(cluster.issue(["app"], id)));
    const task: Task = { id: "q1", key: "q1", app: "echo", deadline: Date.now() + 5000, require: [], clientAttrs: {}, prefs: {}, payload: null };
    const asClient = await queryExplain(tier2.url, task, "someone-else", { credentials: cluster.issue(["client"], "c1"), clusterPub: [cluster.pub] });
    expect(asClient.chosen).not.toBeNull();
    expect(asClient.candidates).toHaveLength(2);
    expect(asClient.candidates.every((c) => c.id === undefined)).toBe(true);
    expect(asClient.reason).not.toMatch(/x-(eu|us)/);
    const asAdmin = await queryExplain(tier2.url, task, undefined, { credentials: cluster.issue(["admin"], "op"), clusterPub: [cluster.pub] });
    expect(asAdmin.candidates.map((c) => c.id).sort()).toEqual(["x-eu", "x-us"]);
    // Only clients and admins ask; an app server's principal may not.
    expect(refusal({ id: "x-eu", roles: ["app"], verified: true }, "tier2", "placement.explain", undefined)?.code).toBe("UNAUTHORIZED");
  });
});
