import { pino } from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import { startNode } from "../../src/node/node.js";
import type { RunningNode } from "../../src/node/node.js";
import { createMemoryTransport } from "../../src/transport/index.js";
import type { Cancel, Entropy, Timers } from "../../src/transport/index.js";

/** A tiny manual clock: timers fire only when the test advances it, deferrals only when it drains them. */
class ManualTimers implements Timers {
  t = 1_700_000_000_000;
  private seq = 0;
  private readonly due = new Map<number, { at: number; period: number; fn: () => void }>();
  readonly deferred: Array<() => void> = [];
  now(): number {
    return this.t;
  }
  after(ms: number, fn: () => void): Cancel {
    return this.add(ms, 0, fn);
  }
  every(ms: number, fn: () => void): Cancel {
    return this.add(ms, Math.max(1, ms), fn);
  }
  defer(fn: () => void): void {
    this.deferred.push(fn);
  }
  get pending(): number {
    return this.due.size;
  }
  /** Moves the clock forward by `ms`, firing every timer due on the way, in order. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let next: [number, { at: number; period: number; fn: () => void }] | undefined;
      for (const e of this.due) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      const [id, timer] = next;
      this.t = timer.at;
      if (timer.period > 0) timer.at += timer.period;
      else this.due.delete(id);
      timer.fn();
    }
    this.t = end;
  }
  private add(ms: number, period: number, fn: () => void): Cancel {
    const id = ++this.seq;
    this.due.set(id, { at: this.t + Math.max(0, ms), period, fn });
    return () => void this.due.delete(id);
  }
}

/** Deterministic bytes: a counter, so no node draws from the system's randomness. */
function countingEntropy(): Entropy {
  let n = 0;
  return { bytes: (k) => Uint8Array.from({ length: k }, () => n++ & 255) };
}

const silent = pino({ level: "silent" });
const nodes: RunningNode[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const n of nodes.splice(0)) n.kill();
});

async function cluster(heartbeatMs: number) {
  const clock = new ManualTimers();
  const queue: Array<() => void> = [];
  const transport = createMemoryTransport({ deliver: (fn) => queue.push(fn) });
  const activity = { busy: 0 };
  const common = { transport, timers: clock, entropy: countingEntropy(), activity, logger: silent, heartbeatMs, onFatal: (err: unknown) => { throw err; } };
  /** Runs everything that is ready (deliveries, deferrals, actor messages) until nothing is; never the clock. */
  async function settle(): Promise<void> {
    for (let quiet = 0; quiet < 3; ) {
      await new Promise<void>((r) => setImmediate(r)); // nact's own turn, and every microtask
      const work = queue.splice(0).concat(clock.deferred.splice(0));
      for (const f of work) f();
      quiet = work.length === 0 && activity.busy === 0 ? quiet + 1 : 0;
    }
  }
  const tier2 = await startNode({ ...common, role: "tier2", id: "t2", listen: "127.0.0.1:1" });
  nodes.push(tier2);
  const app = await startNode({ ...common, role: "app", id: "a1", listen: "127.0.0.1:2", apps: ["echo"], capacity: 1, power: 1, attrs: {}, join: [tier2.url], workers: 0, report: { event: true, periodicMs: 0 } });
  nodes.push(app);
  return { clock, queue, activity, tier2, app, settle };
}

const alive = (n: RunningNode): number => {
  const s = n.stats()["servers"];
  return Array.isArray(s) ? s.filter((e: { status?: unknown }) => e.status === "alive").length : 0;
};
const framesOut = (n: RunningNode): number => (n.stats()["traffic"] as { framesOut: number }).framesOut;

describe("node on a manual clock", () => {
  it("registers when deliveries are drained and pings only when the clock passes heartbeatMs, with no real timer", async () => {
    const realTimeout = vi.spyOn(globalThis, "setTimeout");
    const realInterval = vi.spyOn(globalThis, "setInterval");
    const c = await cluster(1000);
    expect(alive(c.tier2)).toBe(0);
    await c.settle();
    expect(alive(c.tier2)).toBe(1);
    expect(c.activity.busy).toBe(0);

    const before = framesOut(c.app);
    c.clock.advance(500);
    await c.settle();
    expect(framesOut(c.app)).toBe(before); // idle, but not for heartbeatMs yet
    c.clock.advance(600);
    await c.settle();
    expect(framesOut(c.app)).toBeGreaterThan(before); // the ping
    expect(realTimeout).not.toHaveBeenCalled();
    expect(realInterval).not.toHaveBeenCalled();
  });

  it("kill() cancels every timer the node made and sends nothing more", async () => {
    const c = await cluster(1000);
    await c.settle();
    expect(alive(c.tier2)).toBe(1);
    const withBoth = c.clock.pending;
    c.tier2.kill();
    c.app.kill();
    expect(c.clock.pending).toBe(0);
    expect(withBoth).toBeGreaterThan(0);
    const out = [framesOut(c.app), framesOut(c.tier2)];
    c.clock.advance(60_000);
    await c.settle();
    expect([framesOut(c.app), framesOut(c.tier2)]).toEqual(out);
    expect(c.clock.pending).toBe(0);
    expect(c.activity.busy).toBe(0);
  });

  it("a killed app is seen dead by its live tier-2 (1006, no goodbye), which keeps its own timers", async () => {
    const c = await cluster(1000);
    await c.settle();
    const t2Out = framesOut(c.tier2);
    const appOut = framesOut(c.app);
    c.app.kill();
    await c.settle();
    expect(framesOut(c.app)).toBe(appOut); // no goodbye frame left the killed node
    expect(alive(c.tier2)).toBe(0);
    expect(framesOut(c.tier2)).toBe(t2Out);
    expect(c.clock.pending).toBeGreaterThan(0); // the tier-2's own timers live on
  });
});
