import type { TestClusterSpec, TieredSpec } from "../../src/testing/index.js";

/** The whole tiered design, small: two vips, two tier-1s, two peered tier-2s, two app servers. */
export const TIERED: TieredSpec = {
  tier2: [
    { id: "t2a", peers: ["t2b"] },
    { id: "t2b", peers: ["t2a"] },
  ],
  vips: [
    { id: "vip2", to: ["t2a", "t2b"] },
    { id: "vip1", to: ["t1a", "t1b"] },
  ],
  tier1: [
    { id: "t1a", to: ["vip2"] },
    { id: "t1b", to: ["vip2"] },
  ],
  apps: [
    { id: "a1", apps: ["echo", "sleep", "work"], capacity: 2, power: 2, attrs: { zone: "x" } },
    { id: "a2", apps: ["echo", "sleep", "work"], capacity: 2, power: 1, attrs: { zone: "y" } },
  ],
};

/** One tier-2, two app servers, one client entering at the tier-2: the smallest useful cluster. */
export const TINY: TestClusterSpec = {
  tiered: {
    tier2: [{ id: "t2" }],
    apps: [
      { id: "a1", apps: ["echo", "sleep"], capacity: 1 },
      { id: "a2", apps: ["echo", "sleep"], capacity: 1 },
    ],
  },
  clients: ["c1"],
  heartbeatMs: 100,
};
