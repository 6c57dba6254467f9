import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { SilenceDetector, silenceFor, tickFor } from "../../src/transport/silence.js";
import type { Verdict } from "../../src/transport/silence.js";

const PING = 500;
const SILENCE = 1500;
const TICK = tickFor(PING);

/** Drives a detector tick by tick on a hand-moved clock until `until`; returns the first non-ok verdict's time. */
function runUntil(d: SilenceDetector, from: number, until: number, onPing: (t: number) => void = () => {}): { at: number; verdict: Verdict } | undefined {
  for (let t = from; t <= until; t += TICK) {
    const v = d.tick(t);
    if (v === "ping") {
      d.pinged(t);
      onPing(t);
    } else if (v === "silent") return { at: t, verdict: v };
  }
  return undefined;
}

describe("transport/silence", () => {
  describe("SilenceDetector", () => {
    it("declares a peer silent within 2 s of its last frame when it stops answering", () => {
      const d = new SilenceDetector({ pingMs: PING, silenceMs: SILENCE, tickMs: TICK }, 0);
      d.lastHeard = 1000; // its last frame
      const r = runUntil(d, 1000, 10_000);
      expect(r?.verdict).toBe("silent");
      expect((r?.at ?? Infinity) - 1000).toBeGreaterThanOrEqual(SILENCE);
      expect((r?.at ?? Infinity) - 1000).toBeLessThan(2000);
    });

    it("never pings a link that keeps receiving frames, and never declares it silent", () => {
      const d = new SilenceDetector({ pingMs: PING, silenceMs: SILENCE, tickMs: TICK }, 0);
      for (let t = 0; t < 60_000; t += TICK) {
        d.lastHeard = t - 50; // traffic flows: a frame every tick
        expect(d.tick(t)).toBe("ok");
      }
    });

    it("keeps an idle link whose pings are answered within the threshold", () => {
      const d = new SilenceDetector({ pingMs: PING, silenceMs: SILENCE, tickMs: TICK }, 0);
      let pongAt: number | undefined;
      let pings = 0;
      for (let t = 0; t < 60_000; t += TICK) {
        if (pongAt !== undefined && t >= pongAt) {
          d.lastHeard = pongAt;
          d.answered();
          pongAt = undefined;
        }
        const v = d.tick(t);
        expect(v).not.toBe("silent");
        if (v === "ping") {
          d.pinged(t);
          pings++;
          pongAt = t + 900; // a slow peer: its pong takes 900 ms
        }
      }
      expect(pings).toBeGreaterThan(10);
    });

    it("gives no verdict on a tick that came late (this process stalled), so frames that waited are read first", () => {
      const d = new SilenceDetector({ pingMs: PING, silenceMs: SILENCE, tickMs: TICK }, 0);
      expect(d.tick(600)).toBe("ping");
      d.pinged(600);
      // A 3 s stall: the next tick is late; the peer's pong sits unread in the socket.
      expect(d.tick(3600)).toBe("ok");
      d.lastHeard = 3601;
      d.answered();
      expect(d.tick(3700)).toBe("ok");
    });

    it("does not blame the peer while it is not read (backpressure), nor on a clock jump before its ping had time", () => {
      const d = new SilenceDetector({ pingMs: PING, silenceMs: SILENCE, tickMs: TICK }, 0);
      for (let t = 0; t < 5000; t += TICK) expect(d.tick(t, true)).toBe("ok");
      // The clock jumps a minute: the peer is pinged, not declared silent at once.
      const j = 65_000;
      expect(d.tick(j)).toBe("ping");
      d.pinged(j);
      expect(d.tick(j + TICK)).toBe("ok");
    });

    it("declares silence no sooner than silenceMs after the last frame, and no later than silenceMs + 2 ticks (property)", () => {
      fc.assert(
        fc.property(fc.integer({ min: 20, max: 2000 }), fc.integer({ min: 2, max: 6 }), fc.integer({ min: 0, max: 10_000 }), (ping, k, last) => {
          const silence = ping * k;
          const tick = tickFor(ping);
          const d = new SilenceDetector({ pingMs: ping, silenceMs: silence, tickMs: tick }, 0);
          let at: number | undefined;
          for (let t = 0; t <= last + silence * 3 && at === undefined; t += tick) {
            if (t <= last) d.lastHeard = t;
            const v = d.tick(t);
            if (v === "ping") d.pinged(t);
            if (v === "silent") at = t;
          }
          const lastFrame = Math.floor(last / tick) * tick;
          expect(at).toBeDefined();
          expect((at as number) - lastFrame).toBeGreaterThanOrEqual(silence);
          expect((at as number) - lastFrame).toBeLessThanOrEqual(silence + 2 * tick);
        }),
      );
    });
  });

  describe("silenceFor", () => {
    it("defaults to three ping intervals and refuses a threshold that leaves a ping no time", () => {
      expect(silenceFor(500)).toBe(1500);
      expect(silenceFor(500, 800)).toBe(800);
      expect(() => silenceFor(500, 500)).toThrow(RangeError);
      expect(() => silenceFor(500, 1.5)).toThrow(RangeError);
    });
  });
});
