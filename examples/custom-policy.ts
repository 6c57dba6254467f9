// A selection policy of your own: registered by name, it is used by a tier-2 distributor (or a
// master) like a built-in one, options included: `--policy prefer-label:label=ssd`.
//   npm run build && node dist/examples/custom-policy.js
import { OptionReader, registerPolicy, startNode } from "allot";
import type { Policy, ServerEntry } from "allot";

registerPolicy("prefer-label", (options) => {
  const o = new OptionReader("prefer-label", options);
  const label = o.string("label", "fast", (v) => v.length > 0, "an attribute name");
  o.done(); // any other option is an error that names it
  const policy: Policy = {
    name: "prefer-label",
    // Candidates all offer the app, meet the task's constraints and have a free slot.
    select(candidates) {
      let best: ServerEntry | undefined;
      const score = (e: ServerEntry): number => (e.attrs[label] === true ? 1 : 0) - (e.load + e.reserved) / e.capacity / 2;
      for (const e of candidates) if (best === undefined || score(e) > score(best)) best = e;
      return best;
    },
  };
  return policy;
});

const tier2 = await startNode({ role: "tier2", policy: "prefer-label:label=ssd", logLevel: "warn" });
const nodes = [
  await startNode({ role: "app", id: "disk", apps: ["echo"], capacity: 4, power: 1, join: [tier2.url], logLevel: "warn" }),
  await startNode({ role: "app", id: "ssd", apps: ["echo"], capacity: 2, power: 1, attrs: { ssd: true }, join: [tier2.url], logLevel: "warn" }),
];
const client = await startNode({ role: "client", entries: [tier2.url], logLevel: "warn" });
try {
  while ((tier2.stats().servers as unknown[]).length < 2) await new Promise((r) => setTimeout(r, 10));
  const one = await client.submit({ app: "echo", payload: "alone" });
  console.log(`a lone task ran on ${one.serverId}`);
  // Six at once: the ssd server takes what it has room for, the rest spill over.
  const many = await Promise.all(Array.from({ length: 6 }, (_, i) => client.submit({ app: "echo", payload: i })));
  console.log(`six at once ran on: ${[...new Set(many.map((r) => r.serverId))].sort().join(", ")}`);
  try {
    await startNode({ role: "tier2", policy: "prefer-label:colour=red" });
  } catch (err) {
    console.log(`bad option: ${err instanceof Error ? err.message : String(err)}`);
  }
} finally {
  await client.stop();
  for (const n of nodes) await n.stop();
  await tier2.stop();
}
