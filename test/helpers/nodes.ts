import { afterEach } from "vitest";
import type { RunningNode } from "../../src/index.js";

/**
 * Nodes a test file starts: `track(startNode(…))` records each one, and every node is stopped,
 * newest first, after each test.
 */
export function trackNodes(): <T extends RunningNode>(p: Promise<T>) => Promise<T> {
  const started: RunningNode[] = [];
  afterEach(async () => {
    for (const n of started.splice(0).reverse()) await n.stop();
  });
  return async (p) => {
    const n = await p;
    started.push(n);
    return n;
  };
}
