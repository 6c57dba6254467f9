import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createWsTransport, startNode } from "../../src/index.js";
import type { CommonConfig, RunningNode } from "../../src/index.js";
import { FuzzSession, Prober, statusShape } from "../../bench/fuzz-driver.js";
import type { Phase } from "../../bench/fuzz-driver.js";
import { createFrameGenerator } from "../../bench/fuzz-frames.js";
import type { Frame } from "../../bench/fuzz-frames.js";
import { eventually } from "../helpers/raw-client.js";

// Hostile frames at scale, over real sockets on loopback, against each role that listens to
// strangers. FUZZ_SEED=N reproduces a run; FUZZ_FRAMES=N changes the frames per target and phase.
const SEED = Number(process.env.FUZZ_SEED ?? 20261201);
const FRAMES = Number(process.env.FUZZ_FRAMES ?? 5000);
const BATCH = 250;
const MAX_FRAME = 128 * 1024;
/** Any one wait: far above what an answer takes, only there so that a hang fails instead of stalling. */
const WAIT_MS = 20_000;

const fatal: unknown[] = [];
const nodes: RunningNode[] = [];
const common = (id: string): CommonConfig => ({
  id,
  logLevel: "silent",
  transport: createWsTransport({ maxFrameBytes: MAX_FRAME }),
  // No restart budget: an actor that throws once is a crash here, not something supervision hides.
  supervision: { name: "one-for-one", maxRestarts: 0, withinMs: 60_000 },
  onFatal: (err) => fatal.push(err),
});
const start = async <T extends RunningNode>(p: Promise<T>): Promise<T> => {
  const n = await p;
  nodes.push(n);
  return n;
};
const alive = (n: RunningNode, key: "servers" | "slaves"): number => (n.stats()[key] as Array<{ status: string }>).filter((r) => r.status === "alive").length;

const targets = new Map<string, string>();

beforeAll(async () => {
  console.log(`fuzz seed ${SEED} (FUZZ_SEED=${SEED} reproduces it), ${FRAMES} frames per target and phase`);
  const tier2 = await start(startNode({ ...common("tier2-1"), role: "tier2" }));
  const app = await start(startNode({ ...common("app-1"), role: "app", apps: ["echo"], capacity: 8, power: 1, join: [tier2.url] }));
  const master = await start(startNode({ ...common("m1"), role: "master" }));
  await start(startNode({ ...common("app-2"), role: "app", apps: ["echo"], capacity: 8, power: 1, join: [master.url] }));
  const slave = await start(startNode({ ...common("s1"), role: "slave", masters: [master.url], link: "proxy" }));
  await eventually(() => alive(tier2, "servers") === 1 && alive(master, "servers") === 1 && alive(master, "slaves") === 1, 10_000, "the app servers and the slave to register");
  targets.set("tier2", tier2.url).set("app", app.url).set("master", master.url).set("slave", slave.url);
});

afterAll(async () => {
  for (const n of nodes.splice(0).reverse()) await n.stop();
});

/** Sends FRAMES generated frames to one target in batches; after each, the node must answer and its status must be as before. */
async function fuzz(target: string, phase: Phase, seed: number): Promise<number> {
  const url = targets.get(target) as string;
  const gen = createFrameGenerator(seed, { maxFrameBytes: MAX_FRAME, maxNilElements: 1000, bigNilShare: 0.01 });
  const prober = await Prober.open(url, WAIT_MS);
  const session = new FuzzSession({ url, phase, timeoutMs: WAIT_MS });
  try {
    const before = statusShape(await prober.status());
    for (let b = 0; session.framesSent < FRAMES; b++) {
      const frames: Frame[] = Array.from({ length: Math.min(BATCH, FRAMES - session.framesSent) }, () => gen.next());
      try {
        await session.batch(frames);
        expect(statusShape(await prober.status())).toEqual(before);
      } catch (err) {
        throw new Error(`${target} ${phase} seed ${seed}, batch ${b}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      }
      expect(fatal).toEqual([]);
    }
    if (process.env.FUZZ_VERBOSE) console.log(target, phase, `${session.socketsOpened} sockets`, Object.fromEntries(session.closes), Object.fromEntries(session.answers));
    return session.framesSent;
  } finally {
    session.close();
    prober.close();
  }
}

describe("bad input at scale", () => {
  const cases: Array<[string, Phase]> = ["tier2", "app", "master", "slave"].flatMap((t): Array<[string, Phase]> => [
    [t, "before"],
    [t, "after"],
  ]);
  it.each(cases.map((c, i) => [...c, i] as const))("%s keeps answering, its status unchanged, through generated hostile frames %s the handshake", async (target, phase, i) => {
    expect(await fuzz(target, phase, SEED + i)).toBe(FRAMES);
    expect(fatal).toEqual([]);
  }, 120_000);
});
