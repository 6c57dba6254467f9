import type { Allocation, PolicyContext } from "../../src/policies/index.js";
import type { ServerReport, Task } from "../../src/protocol/index.js";
import { ServerTable } from "../../src/state/index.js";

/** A tiny seeded LCG: the same seed, the same draws. */
export function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1_664_525) + 1_013_904_223) >>> 0;
    return s / 2 ** 32;
  };
}

/** A seeded policy context with a fixed clock, so every run is reproducible. */
export const seededCtx = (seed = 1): PolicyContext => ({ random: lcg(seed), now: () => 1_000_000 });

export const report = (over: Partial<ServerReport> & { id: string }): ServerReport => ({
  url: `ws://h/${over.id}`,
  apps: ["echo"],
  capacity: 4,
  power: 4,
  load: 0,
  attrs: {},
  version: [1, 1],
  ...over,
});

export const task = (over: Partial<Task> = {}): Task => ({ id: "t1", key: "k1", app: "echo", deadline: 2_000_000, require: [], clientAttrs: {}, prefs: {}, payload: null, ...over });

export function table(...rs: ServerReport[]): ServerTable {
  const t = new ServerTable();
  for (const r of rs) t.apply(r, 0);
  return t;
}

/** The id of the server an allocation chose; throws with the reason when it refused. */
export function chosen(a: Allocation): string {
  if (!a.ok) throw new Error(`expected a server, got: ${a.reason}`);
  return a.server.id;
}
