// The master/slave design started from a script: two peered masters, app servers and slaves
// registered with both, and a client whose entries are the masters. The masters hand out
// servers by indication: the chosen server accepts a task before its slave hears which it is.
//   npm run build && node dist/examples/master-slave.js
import { startMasterSlaveCluster, startNode } from "allot";

const cluster = await startMasterSlaveCluster({
  masters: 2,
  slaves: ["proxy", "direct"],
  assign: "indicate",
  apps: [
    { id: "small", apps: ["echo", "hash"], capacity: 4, power: 1 },
    { id: "big", apps: ["echo", "hash"], capacity: 8, power: 8 },
  ],
  common: { logLevel: "warn" },
});
const client = await startNode({ role: "client", entries: cluster.masters, logLevel: "warn" });

try {
  console.log(`masters ${cluster.masters.join(" ")}`);
  // A task whose expected cost only the big server's idle power covers goes there.
  const costly = await client.submit({ app: "hash", payload: { rounds: 1000 }, cost: 6 });
  console.log(`costly task ran on ${costly.serverId} via ${costly.slaveId}`);
  const bySlave: Record<string, number> = {};
  await Promise.all(
    Array.from({ length: 200 }, async (_, i) => {
      const r = await client.submit({ app: "echo", payload: i });
      bySlave[r.slaveId ?? "?"] = (bySlave[r.slaveId ?? "?"] ?? 0) + 1;
    }),
  );
  console.log("200 echo tasks per slave:", bySlave);
} finally {
  await client.stop();
  await cluster.stop();
}
