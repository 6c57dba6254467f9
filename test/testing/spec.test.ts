import { describe, expect, it } from "vitest";
import { TestClusterSpecError, createTestCluster, validateSpec } from "../../src/testing/index.js";
import type { TestClusterSpec } from "../../src/testing/index.js";

const base = (): TestClusterSpec => ({
  tiered: { tier2: [{ id: "t2a", peers: ["t2b"] }, { id: "t2b" }], apps: [{ id: "a1", apps: ["echo"], capacity: 1 }] },
  clients: ["c1"],
});

function pathOf(f: () => void): string {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(TestClusterSpecError);
    return (err as TestClusterSpecError).path;
  }
  throw new Error("no error");
}

describe("test cluster spec", () => {
  it("accepts a good spec", () => {
    expect(() => validateSpec(base())).not.toThrow();
  });
  it("names the field of an unknown role", () => {
    const s = base() as unknown as { tiered: Record<string, unknown> };
    s.tiered.tier3 = [{ id: "x" }];
    expect(pathOf(() => validateSpec(s as unknown as TestClusterSpec))).toBe("tiered.tier3");
  });
  it("refuses a join or a peer to a node that does not exist", () => {
    const j = base();
    j.tiered!.apps[0]!.join = ["t2a", "nope"];
    expect(pathOf(() => validateSpec(j))).toBe("tiered.apps[0].join[1]");
    const p = base();
    p.tiered!.tier2[1]!.peers = ["ghost"];
    expect(pathOf(() => validateSpec(p))).toBe("tiered.tier2[1].peers[0]");
    const r = base();
    r.tiered!.apps[0]!.join = ["a1"];
    expect(pathOf(() => validateSpec(r))).toBe("tiered.apps[0].join[0]");
  });
  it("refuses capacity < 1, duplicate ids, apps without a handler", () => {
    const c = base();
    c.tiered!.apps[0]!.capacity = 0;
    expect(pathOf(() => validateSpec(c))).toBe("tiered.apps[0].capacity");
    const d = base();
    d.clients = ["t2a"];
    expect(pathOf(() => validateSpec(d))).toBe("clients[0]");
    const h = base();
    h.tiered!.apps[0]!.apps = ["mine"];
    expect(pathOf(() => validateSpec(h))).toBe("tiered.apps[0].apps[0]");
  });
  it("refuses a fault on a node not in the cluster", () => {
    const f = base();
    f.faults = [{ at: 10, kind: "crash", node: "a9" }];
    expect(pathOf(() => validateSpec(f))).toBe("faults[0].node");
    const l = base();
    l.faults = [{ at: 10, kind: "delay", link: ["c1", "zz"], ms: 5 }];
    expect(pathOf(() => validateSpec(l))).toBe("faults[0].link[1]");
  });
  it("refuses both designs at once, a bad slave link, silence not above heartbeat", () => {
    const both = { ...base(), masterSlave: { masters: [{ id: "m" }], apps: [] } };
    expect(pathOf(() => validateSpec(both))).toBe("");
    const s: TestClusterSpec = { masterSlave: { masters: [{ id: "m" }], slaves: [{ id: "s", link: "sideways" as "proxy" }], apps: [] } };
    expect(pathOf(() => validateSpec(s))).toBe("masterSlave.slaves[0].link");
    expect(pathOf(() => validateSpec({ ...base(), heartbeatMs: 100, silenceMs: 100 }))).toBe("silenceMs");
  });
  it("takes counts of tier-1s and vips, up to two vips", () => {
    const ok = base();
    (ok.tiered as { vips?: number; tier1?: number }).vips = 2;
    (ok.tiered as { vips?: number; tier1?: number }).tier1 = 1;
    expect(() => validateSpec(ok)).not.toThrow();
    const bad = base();
    (bad.tiered as { vips?: number }).vips = 3;
    expect(pathOf(() => validateSpec(bad))).toBe("tiered.vips");
    const neg = base();
    (neg.tiered as { tier1?: number }).tier1 = -1;
    expect(pathOf(() => validateSpec(neg))).toBe("tiered.tier1");
  });
  it("createTestCluster rejects before starting anything", async () => {
    const f = base();
    f.tiered!.apps[0]!.capacity = 0.5;
    await expect(createTestCluster(f)).rejects.toBeInstanceOf(TestClusterSpecError);
  });
});
