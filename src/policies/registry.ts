import { bestFit } from "./best-fit.js";
import { createHash } from "./hash.js";
import { createIdleQueue } from "./idle-queue.js";
import { OptionReader, parsePolicySpec } from "./options.js";
import type { PolicyOptions } from "./options.js";
import { createP2c } from "./p2c.js";
import { createRoundRobin, leastLoaded, mostIdle, random } from "./policy.js";
import type { Policy } from "./policy.js";
import { HOME_LOOK, HOME_READS, SHORTEST_DELAY_LOOK, SHORTEST_DELAY_MARGIN, createShortestDelay } from "./shortest-delay.js";
import { weighted } from "./weighted.js";

/**
 * Makes a policy from its options (`NAME:k=v,…` on the command line). It runs once per
 * allocator, so a stateful policy's state is that allocator's own. It throws a TypeError naming
 * a bad option; an OptionReader does that for you.
 */
export type PolicyFactory = (options: PolicyOptions) => Policy;

/** A policy that takes no options. */
const plain =
  (name: string, make: () => Policy): PolicyFactory =>
  (options) => {
    new OptionReader(name, options).done();
    return make();
  };

const factories = new Map<string, PolicyFactory>([
  ["most-idle", plain("most-idle", () => mostIdle)],
  ["least-loaded", plain("least-loaded", () => leastLoaded)],
  ["random", plain("random", () => random)],
  ["round-robin", plain("round-robin", createRoundRobin)],
  ["weighted", plain("weighted", () => weighted)],
  ["best-fit", plain("best-fit", () => bestFit)],
  [
    "p2c",
    (options) => {
      const o = new OptionReader("p2c", options);
      const d = o.number("d", 2, 1, 64, true);
      o.done();
      return createP2c(d);
    },
  ],
  [
    "idle-queue",
    (options) => {
      const o = new OptionReader("idle-queue", options);
      const look = o.number("look", 64, 1, 100_000, true);
      o.done();
      return createIdleQueue(look);
    },
  ],
  [
    "shortest-delay",
    (options) => {
      const o = new OptionReader("shortest-delay", options);
      const look = o.number("look", SHORTEST_DELAY_LOOK, 1, 100_000, true);
      const margin = o.number("margin", SHORTEST_DELAY_MARGIN, 0, 1_000_000);
      const homes = o.number("homes", HOME_LOOK, 1, 100_000, true);
      const reads = o.number("reads", HOME_READS, 1, 1000, true);
      o.done();
      return createShortestDelay(look, margin, homes, reads);
    },
  ],
  [
    "hash",
    (options) => {
      const o = new OptionReader("hash", options);
      const key = o.string("key", "user", (v) => v === "user" || /^attr:.+$/.test(v), "user or attr:NAME");
      const bound = o.number("bound", 1.25, 1, 1000);
      o.done();
      return createHash(key, bound);
    },
  ],
]);

/**
 * Shortest expected delay with home servers. In `allot sim` it is the closest to the oracle at
 * every load with tasks of 100 ms and 1 s. With 10 ms tasks (views several tasks stale) it is
 * the best at loads 0.8 and 0.95 only (docs/benchmarks.md, "Simulator (issue 5)").
 */
export const DEFAULT_POLICY = "shortest-delay";

/** Adds a policy under `name`. */
export function registerPolicy(name: string, factory: PolicyFactory): void {
  if (!/^[a-z][a-z0-9-]*$/.test(name)) throw new TypeError(`policy name ${JSON.stringify(name)} must be lower-case letters, digits and dashes`);
  factories.set(name, factory);
}

export function policyNames(): string[] {
  return [...factories.keys()];
}

/**
 * Resolves `NAME[:k=v,…]` (e.g. `p2c:d=3`) to a policy, with an error that lists the known
 * names for an unknown one and names the option that is wrong.
 */
export function resolvePolicy(spec: string = DEFAULT_POLICY): Policy {
  const { name, options } = parsePolicySpec(spec);
  const f = factories.get(name);
  if (!f) throw new TypeError(`unknown policy ${JSON.stringify(name)}; known: ${policyNames().join(", ")}`);
  return f(options);
}
