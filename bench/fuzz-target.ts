// The nodes `npm run fuzz` attacks, in a process of their own so that its RSS and its crashes are
// the nodes', not the fuzzer's: a tier-2 with an app server, a master with an app server and a
// proxy slave. Started with fork(); says `ready` with the targets' URLs over IPC and answers
// `rss` (after a GC, when --expose-gc is on). An actor that throws once ends it with code 70.
import { createWsTransport, startNode } from "../src/index.js";
import type { CommonConfig, RunningNode } from "../src/index.js";

/** The targets' frame limit (the first argument): the fuzzer's oversize frames are a little past it. */
const maxFrameBytes = Number(process.argv[2] ?? 128 * 1024);

/** What the target process says over IPC. */
export type TargetMessage = { type: "ready"; targets: Record<string, string> } | { type: "rss"; rss: number; heapUsed: number; external: number };

const common = (id: string): CommonConfig => ({
  id,
  logLevel: "silent",
  transport: createWsTransport({ maxFrameBytes }),
  supervision: { name: "one-for-one", maxRestarts: 0, withinMs: 60_000 },
  onFatal: (err) => {
    process.stderr.write(`fuzz target: actor crashed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(70);
  },
});

const alive = (n: RunningNode, key: "servers" | "slaves"): number => (n.stats()[key] as Array<{ status: string }>).filter((r) => r.status === "alive").length;

async function main(): Promise<void> {
  const tier2 = await startNode({ ...common("tier2-1"), role: "tier2" });
  const app = await startNode({ ...common("app-1"), role: "app", apps: ["echo"], capacity: 8, power: 1, join: [tier2.url] });
  const master = await startNode({ ...common("m1"), role: "master" });
  await startNode({ ...common("app-2"), role: "app", apps: ["echo"], capacity: 8, power: 1, join: [master.url] });
  const slave = await startNode({ ...common("s1"), role: "slave", masters: [master.url], link: "proxy" });
  for (let i = 0; !(alive(tier2, "servers") === 1 && alive(master, "servers") === 1 && alive(master, "slaves") === 1); i++) {
    if (i > 1000) throw new Error("the app servers and the slave did not register within 10 s");
    await new Promise((r) => setTimeout(r, 10));
  }
  const say = (m: TargetMessage): void => {
    process.send?.(m);
  };
  process.on("message", (m: unknown) => {
    if (typeof m !== "object" || m === null || (m as { type?: unknown }).type !== "rss") return;
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    const mem = process.memoryUsage();
    say({ type: "rss", rss: mem.rss, heapUsed: mem.heapUsed, external: mem.external });
  });
  process.on("disconnect", () => process.exit(0));
  say({ type: "ready", targets: { tier2: tier2.url, app: app.url, master: master.url, slave: slave.url } });
}

main().catch((err: unknown) => {
  process.stderr.write(`fuzz target: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
