import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DelayQueue, EventHeap, IndexedMinHeap } from "../../src/sim/events.js";

type HeapOp = { kind: "push"; time: number } | { kind: "pop" };

const heapOp: fc.Arbitrary<HeapOp> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("push" as const), time: fc.oneof(fc.integer({ min: 0, max: 20 }), fc.double({ min: 0, max: 1e6, noNaN: true })) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("pop" as const) }) },
);

describe("sim/events", () => {
  it("EventHeap pops in time order, equal times in the order pushed (property, against a sorted list)", () => {
    fc.assert(
      fc.property(fc.array(heapOp, { maxLength: 300 }), fc.integer({ min: 1, max: 8 }), (ops, capacity) => {
        const heap = new EventHeap(capacity); // small capacities make it grow
        const model: Array<{ time: number; value: number }> = [];
        let value = 0;
        for (const op of ops) {
          if (op.kind === "push") {
            heap.push(op.time, value);
            // Stable insertion after every equal or earlier time.
            let at = model.length;
            while (at > 0 && (model[at - 1] as { time: number }).time > op.time) at--;
            model.splice(at, 0, { time: op.time, value });
            value++;
          } else {
            const want = model.shift();
            expect(heap.peekTime()).toBe(want?.time ?? Infinity);
            expect(heap.pop()).toBe(want?.value ?? -1);
          }
          expect(heap.size).toBe(model.length);
        }
        // Draining gives the rest, sorted.
        let last = -Infinity;
        while (heap.size > 0) {
          const t = heap.peekTime();
          expect(t).toBeGreaterThanOrEqual(last);
          last = t;
          expect(heap.pop()).toBe((model.shift() as { value: number }).value);
        }
        expect(heap.pop()).toBe(-1);
      }),
      { numRuns: 300 },
    );
  });

  it("DelayQueue is first in, first out across growth and wrap-around (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.nat(1000), fc.constant(-1)), { maxLength: 300 }), (ops) => {
        const q = new DelayQueue(3, 2);
        const model: number[] = [];
        let t = 0;
        for (const x of ops) {
          if (x >= 0) {
            q.push(t++, x, x + 1, 2 * x);
            model.push(x);
          } else if (model.length > 0) {
            const want = model.shift() as number;
            expect([q.field(0), q.field(1), q.field(2)]).toEqual([want, want + 1, 2 * want]);
            q.shift();
          }
          expect(q.size).toBe(model.length);
        }
        if (model.length > 0) expect(q.field(0)).toBe(model[0]);
        else expect(q.peekTime()).toBe(Infinity);
      }),
    );
  });

  it("IndexedMinHeap always has the smallest key on top, ties to the lower item (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 10 }), { minLength: 1, maxLength: 40 }),
        fc.array(fc.tuple(fc.nat(39), fc.integer({ min: 0, max: 10 })), { maxLength: 200 }),
        (initial, changes) => {
          const keys = [...initial];
          const heap = new IndexedMinHeap(keys);
          const check = (): void => {
            let best = 0;
            for (let i = 1; i < keys.length; i++) if ((keys[i] as number) < (keys[best] as number)) best = i;
            expect(heap.min()).toBe(best);
          };
          check();
          for (const [item, key] of changes) {
            const i = item % keys.length;
            keys[i] = key;
            heap.set(i, key);
            expect(heap.key(i)).toBe(key);
            check();
          }
        },
      ),
    );
  });
});
