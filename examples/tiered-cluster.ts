// The whole tiered design started from a script: app servers joined to a tier-2 set, a vip over
// it, a tier-1 set behind a second vip that clients use as their one entry address.
//   npm run build && node dist/examples/tiered-cluster.js
import { startNode, startTieredCluster } from "allot";

const cluster = await startTieredCluster({
  tier1: 2,
  tier2: 2,
  apps: [
    { id: "small-eu", apps: ["echo", "hash"], capacity: 4, power: 1, attrs: { region: "eu" } },
    { id: "big-eu", apps: ["echo", "hash"], capacity: 8, power: 4, attrs: { region: "eu", gpu: true } },
    { id: "mid-us", apps: ["echo", "hash"], capacity: 8, power: 2, attrs: { region: "us" } },
  ],
  common: { logLevel: "warn" },
});
const client = await startNode({ role: "client", entries: [cluster.entry], logLevel: "warn" });

try {
  console.log(`entry ${cluster.entry}`);
  // A hard constraint: only servers with gpu=true may run it.
  const gpu = await client.submit({ app: "hash", payload: { rounds: 1000 }, require: [{ key: "gpu", op: "=", value: true }] });
  console.log(`gpu task ran on ${gpu.serverId}`);
  // A client in the us prefers servers in the us (a soft preference, not a constraint).
  const us = await client.submit({ app: "echo", payload: "hi", clientAttrs: { region: "us" } });
  console.log(`us client's task ran on ${us.serverId}`);
  const counts: Record<string, number> = {};
  await Promise.all(
    Array.from({ length: 200 }, async (_, i) => {
      const r = await client.submit({ app: "echo", payload: i });
      counts[r.serverId] = (counts[r.serverId] ?? 0) + 1;
    }),
  );
  console.log("200 echo tasks per server:", counts);
} finally {
  await client.stop();
  await cluster.stop();
}
