import { describe, expect, it } from "vitest";
import { ErrorCode, startNode } from "../../src/index.js";
import { trackNodes } from "../helpers/nodes.js";

const track = trackNodes();
const common = { logLevel: "silent" as const };
/** An entry nobody listens on: every placement fails UNREACHABLE. */
const DEAD = "ws://127.0.0.1:1";

describe("retry bounds at the client", () => {
  it("fails a task RETRIES_EXHAUSTED after maxAttempts failures, long before its deadline", async () => {
    const client = await track(startNode({ ...common, role: "client", entries: [DEAD], maxAttempts: 3, backoffMinMs: 1, backoffMaxMs: 5 }));
    const t0 = Date.now();
    await expect(client.submit({ app: "echo", timeoutMs: 30_000 })).rejects.toMatchObject({ code: ErrorCode.RETRIES_EXHAUSTED, retryable: false, message: expect.stringMatching(/failed 3 times/) });
    expect(Date.now() - t0).toBeLessThan(20_000); // not the 30 s deadline
  });

  it("stops retrying once the client's retry budget is spent, whatever each task's own limit", async () => {
    const client = await track(startNode({ ...common, role: "client", entries: [DEAD], maxAttempts: 100, backoffMinMs: 1, backoffMaxMs: 5, retryBudget: { burst: 4, ratio: 0, minPerSecond: 0 } }));
    const all = await Promise.allSettled(Array.from({ length: 3 }, () => client.submit({ app: "echo", timeoutMs: 30_000 })));
    for (const r of all) {
      expect(r.status).toBe("rejected");
      if (r.status === "rejected") expect(r.reason).toMatchObject({ code: ErrorCode.RETRIES_EXHAUSTED, message: expect.stringMatching(/retry budget/) });
    }
    const retries = client.stats().retries as { granted: number; refused: number };
    expect(retries.granted).toBe(4);
    expect(retries.refused).toBe(3);
  });
});
