import { createRoundRobin, leastLoaded, mostIdle, random } from "./policy.js";
import type { Policy } from "./policy.js";

const factories = new Map<string, () => Policy>([
  ["most-idle", () => mostIdle],
  ["least-loaded", () => leastLoaded],
  ["random", () => random],
  ["round-robin", createRoundRobin],
]);

export const DEFAULT_POLICY = "most-idle";

/** Adds a policy under `name`; a factory runs once per allocator, so stateful policies are per allocator. */
export function registerPolicy(name: string, factory: () => Policy): void {
  if (!/^[a-z][a-z0-9-]*$/.test(name)) throw new TypeError(`policy name ${JSON.stringify(name)} must be lower-case letters, digits and dashes`);
  factories.set(name, factory);
}

export function policyNames(): string[] {
  return [...factories.keys()];
}

/** Resolves a policy by name, with an error that lists the known ones. */
export function resolvePolicy(name: string = DEFAULT_POLICY): Policy {
  const f = factories.get(name);
  if (!f) throw new TypeError(`unknown policy ${JSON.stringify(name)}; known: ${policyNames().join(", ")}`);
  return f();
}
