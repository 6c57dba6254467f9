import { describe, expect, it } from "vitest";
import { FRAME_KINDS, createFrameGenerator, hex } from "../../bench/fuzz-frames.js";
import { decodeFrame } from "../../src/transport/codec.js";

const limits = { maxFrameBytes: 64 * 1024, maxNilElements: 1000, bigNilShare: 0.01, now: () => 1_800_000_000_000 };

describe("fuzz-frames", () => {
  describe("createFrameGenerator", () => {
    it("gives the same frames for the same seed and clock, so a failure reproduces from its seed", () => {
      const a = createFrameGenerator(42, limits);
      const b = createFrameGenerator(42, limits);
      for (let i = 0; i < 2000; i++) expect(hex(b.next().bytes)).toBe(hex(a.next().bytes));
    });

    it("makes every kind, each frame within the size cap unless it is meant to be oversize", () => {
      const gen = createFrameGenerator(7, limits);
      for (const kind of FRAME_KINDS) {
        for (let i = 0; i < 300; i++) {
          const f = gen.next(kind);
          expect(f.kind).toBe(kind);
          if (kind === "oversize") expect(f.bytes.length).toBeGreaterThan(limits.maxFrameBytes);
          else expect(f.bytes.length).toBeLessThanOrEqual(limits.maxFrameBytes);
        }
      }
    });

    it("makes valid frames that decode into messages of every type", () => {
      const gen = createFrameGenerator(3, limits);
      const types = new Set<string>();
      for (let i = 0; i < 3000; i++) for (const m of decodeFrame(gen.next("valid").bytes)) if (!("error" in m)) types.add(m.type);
      expect(types.size).toBe(23);
    });
  });
});
