import { describe, expect, it } from "vitest";
import { isRejected } from "../../src/protocol/index.js";
import { FrameError, MAX_FRAME_ENVELOPES, PROTOCOL_VERSION, decodeFrame, encodeFrame, frameArrayLength } from "../../src/transport/codec.js";
import type { WireEnvelope } from "../../src/transport/codec.js";

/** A msgpack array32 header claiming `n` elements, followed by `n` nils (the wedge frame of issue 12 at n = 4,000,000). */
function nilBomb(n: number): Uint8Array {
  const b = Buffer.alloc(5 + n, 0xc0);
  b[0] = 0xdd;
  b.writeUInt32BE(n, 1);
  return b;
}

describe("transport/codec frame limits", () => {
  describe("frameArrayLength", () => {
    it("reads the element count of fixarray, array16 and array32 headers, and undefined for anything else", () => {
      expect(frameArrayLength(Uint8Array.from([0x93]))).toBe(3);
      expect(frameArrayLength(Uint8Array.from([0xdc, 0x01, 0x00]))).toBe(256);
      expect(frameArrayLength(Uint8Array.from([0xdd, 0x00, 0x3d, 0x09, 0x00]))).toBe(4_000_000);
      expect(frameArrayLength(Uint8Array.from([0xdd, 0xff, 0xff, 0xff, 0xff]))).toBe(0xffffffff);
      expect(frameArrayLength(Uint8Array.from([0xdc, 0x01]))).toBeUndefined();
      expect(frameArrayLength(Uint8Array.from([0xc0]))).toBeUndefined();
      expect(frameArrayLength(new Uint8Array(0))).toBeUndefined();
    });
  });

  describe("decodeFrame", () => {
    it("throws one FrameError for the 4,000,000-nil wedge frame instead of yielding an item per element", () => {
      expect(() => decodeFrame(nilBomb(4_000_000))).toThrow(FrameError);
      expect(() => decodeFrame(nilBomb(4_000_000))).toThrow(/4000000 envelopes exceeds the 256-envelope limit/);
    });

    it(`accepts ${MAX_FRAME_ENVELOPES} envelopes and refuses ${MAX_FRAME_ENVELOPES + 1} as a whole frame`, () => {
      const at = decodeFrame(nilBomb(MAX_FRAME_ENVELOPES));
      expect(at).toHaveLength(MAX_FRAME_ENVELOPES);
      expect(at.every(isRejected)).toBe(true);
      expect(() => decodeFrame(nilBomb(MAX_FRAME_ENVELOPES + 1))).toThrow(FrameError);
    });
  });

  describe("encodeFrame", () => {
    it(`refuses to build a frame of more than ${MAX_FRAME_ENVELOPES} envelopes`, () => {
      const env: WireEnvelope = [PROTOCOL_VERSION, "ping", 1, 0, "n", {}];
      expect(decodeFrame(encodeFrame(new Array<WireEnvelope>(MAX_FRAME_ENVELOPES).fill(env)))).toHaveLength(MAX_FRAME_ENVELOPES);
      expect(() => encodeFrame(new Array<WireEnvelope>(MAX_FRAME_ENVELOPES + 1).fill(env))).toThrow(RangeError);
    });
  });
});
