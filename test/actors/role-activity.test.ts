import { start, stop } from "nact";
import { describe, expect, it } from "vitest";
import type { Behaviour } from "../../src/actors/runtime/context.js";
import { spawnRole } from "../../src/actors/runtime/role-actor.js";
import type { Inbound } from "../../src/protocol/index.js";
import type { Channel } from "../../src/transport/index.js";

const quiet = { warn: () => {}, debug: () => {}, info: () => {}, error: () => {} };
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

async function idle(activity: { busy: number }): Promise<void> {
  for (let i = 0; i < 100 && activity.busy !== 0; i++) await turn();
}

describe("actors/runtime/spawnRole activity counter", () => {
  it("counts queued work and returns to 0 once the actor is idle, throws included", async () => {
    const system = start();
    const activity = { busy: 0 };
    const seen: string[] = [];
    const behaviour: Behaviour = {
      handle: (m) => {
        seen.push(m.type);
        if (m.type === "status") throw new Error("handler throws");
      },
    };
    const fatal: unknown[] = [];
    const actor = spawnRole(system, "role", () => behaviour, { name: "one-for-one", maxRestarts: 10, withinMs: 60_000 }, quiet, Date.now, (e) => fatal.push(e), activity);
    const replied: unknown[] = [];
    const ch = { replyError: (_m: unknown, e: unknown) => replied.push(e), flushNow: () => {} } as unknown as Channel;
    const msg = (type: string): Inbound => ({ type, id: 1, re: 0, from: "x", body: {} }) as unknown as Inbound;

    actor.enqueue(() => seen.push("a"));
    actor.enqueue(() => seen.push("b")); // same actor message as "a"
    expect(activity.busy).toBe(1);
    actor.deliver(msg("ping"), ch); // a new message: envelopes after calls
    actor.enqueue(() => {
      throw new Error("continuation throws");
    });
    actor.deliver(msg("status"), ch);
    expect(activity.busy).toBe(4);
    await idle(activity);
    expect(activity.busy).toBe(0);
    expect(seen).toEqual(["a", "b", "ping", "status"]);
    expect(replied).toHaveLength(1);
    expect(fatal).toEqual([]);

    // And again after the crashes: the actor resumed, the count still balances.
    actor.enqueue(() => seen.push("c"));
    expect(activity.busy).toBe(1);
    await idle(activity);
    expect(activity.busy).toBe(0);
    expect(seen.at(-1)).toBe("c");
    stop(system);
  });

  it("takes off what a stopped actor will never run (past its restart budget, or abandoned)", async () => {
    const system = start();
    const activity = { busy: 0 };
    const fatal: unknown[] = [];
    const actor = spawnRole(system, "role", () => ({ handle: () => {} }), { name: "one-for-one", maxRestarts: 0, withinMs: 60_000 }, quiet, Date.now, (e) => fatal.push(e), activity);
    actor.enqueue(() => {
      throw new Error("fatal");
    });
    await idle(activity);
    expect(fatal).toHaveLength(1);
    expect(activity.busy).toBe(0);
    actor.enqueue(() => {}); // a stopped actor: not counted
    expect(activity.busy).toBe(0);

    const other = spawnRole(system, "other", () => ({ handle: () => {} }), { name: "one-for-one", maxRestarts: 5, withinMs: 60_000 }, quiet, Date.now, () => {}, activity);
    other.enqueue(() => {});
    expect(activity.busy).toBe(1);
    other.abandon();
    expect(activity.busy).toBe(0);
    stop(system);
    await turn();
    expect(activity.busy).toBe(0);
  });
});
