import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { onTick } from "../../src/transport/ticker.js";
import type { Timers } from "../../src/transport/timers.js";

describe("transport/ticker", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("ticks every callback of a period from one timer, and stops each on cancel", () => {
    const a = vi.fn();
    const b = vi.fn();
    const stopA = onTick(100, a);
    const stopB = onTick(100, b);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(250);
    expect([a.mock.calls.length, b.mock.calls.length]).toEqual([2, 2]);
    stopA();
    vi.advanceTimersByTime(100);
    expect([a.mock.calls.length, b.mock.calls.length]).toEqual([2, 3]);
    stopB();
    expect(vi.getTimerCount()).toBe(0);
    stopB(); // a second cancel is harmless
  });

  it("keeps periods apart, and a callback may cancel itself while the group ticks", () => {
    const seen: string[] = [];
    const stopSelf: Array<() => void> = [];
    stopSelf.push(onTick(50, () => (seen.push("once"), stopSelf[0]?.())));
    const stopOther = onTick(50, () => seen.push("50"));
    const stopSlow = onTick(200, () => seen.push("200"));
    expect(vi.getTimerCount()).toBe(2);
    vi.advanceTimersByTime(200);
    expect(seen.filter((s) => s === "once")).toHaveLength(1);
    expect(seen.filter((s) => s === "50")).toHaveLength(4);
    expect(seen.filter((s) => s === "200")).toHaveLength(1);
    stopOther();
    stopSlow();
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe("transport/ticker per Timers", () => {
  it("keeps groups per Timers object: two clocks never share an interval", () => {
    const made: Array<{ ms: number; fn: () => void; cancelled: boolean }> = [];
    const clock = (): Timers => ({
      now: () => 0,
      after: () => () => {},
      every(ms, fn) {
        const t = { ms, fn, cancelled: false };
        made.push(t);
        return () => void (t.cancelled = true);
      },
      defer: () => {},
    });
    const a = clock();
    const b = clock();
    const seen: string[] = [];
    const stopA1 = onTick(100, () => seen.push("a1"), a);
    const stopA2 = onTick(100, () => seen.push("a2"), a);
    const stopB = onTick(100, () => seen.push("b"), b);
    expect(made).toHaveLength(2);
    made[0]?.fn();
    expect(seen).toEqual(["a1", "a2"]);
    made[1]?.fn();
    expect(seen).toEqual(["a1", "a2", "b"]);
    stopA1();
    expect(made[0]?.cancelled).toBe(false);
    stopA2();
    expect(made[0]?.cancelled).toBe(true);
    stopB();
    expect(made[1]?.cancelled).toBe(true);
  });
});
