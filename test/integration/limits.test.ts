import { Writable } from "node:stream";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode, startNode } from "../../src/index.js";
import type { RunningNode } from "../../src/index.js";
import { RawClient, eventually, within } from "../helpers/raw-client.js";
import { trackNodes } from "../helpers/nodes.js";

const track = trackNodes();
const raws: RawClient[] = [];
afterEach(async () => {
  for (const r of raws.splice(0)) await r.close();
});

async function raw(url: string, node = "raw"): Promise<RawClient> {
  const r = await RawClient.open(url, node);
  raws.push(r);
  return r;
}

/** A logger whose JSON lines land in `lines`. */
function capture(): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split("\n")) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level: "warn" }, sink), lines };
}

/** A msgpack array32 header claiming `n` elements, then `n` nils: `dd 00 3d 09 00` + 4,000,000 × `c0` at n = 4e6. */
function nilBomb(n: number): Uint8Array {
  const b = Buffer.alloc(5 + n, 0xc0);
  b[0] = 0xdd;
  b.writeUInt32BE(n, 1);
  return b;
}

async function statusOf(r: RawClient): Promise<string> {
  const m = await r.call("status.get", {}, 10_000);
  return m.type;
}

describe("limits", () => {
  describe("frame cost", () => {
    it("answers the 4,000,000-nil wedge frame with one BAD_FRAME and still answers a valid request", async () => {
      const tier2: RunningNode = await track(startNode({ role: "tier2", id: "t2-wedge", logLevel: "silent" }));
      const r = await raw(tier2.url);
      await r.hello("client");
      const since = r.mark();
      r.sendRaw(nilBomb(4_000_000));
      expect(await within(statusOf(r), 10_000, "status after the wedge")).toBe("status");
      const errors = r.received.slice(since).filter((m) => m.type === "error");
      expect(errors).toHaveLength(1);
      expect(errors[0]?.type === "error" && errors[0].body.code).toBe(ErrorCode.BAD_FRAME);
      expect(r.closed).toBeUndefined();
    });

    it("logs a flood of bad envelopes from one peer at most a few lines a second, with a count of the rest", async () => {
      const { logger, lines } = capture();
      const tier2 = await track(startNode({ role: "tier2", id: "t2-flood", logger }));
      const r = await raw(tier2.url, "flooder");
      await r.hello("client");
      const started = Date.now();
      // 40 frames of 256 invalid envelopes each (10,240 rejections) and 3 wedge frames.
      for (let i = 0; i < 40; i++) r.sendRaw(nilBomb(256));
      for (let i = 0; i < 3; i++) r.sendRaw(nilBomb(4_000_000));
      expect(await within(statusOf(r), 20_000, "status after the flood")).toBe("status");
      const seconds = (Date.now() - started) / 1000;
      const about = lines.filter((l) => l.peer === "flooder");
      // 5 lines per second-long window (generous: two windows more than the time taken).
      expect(about.length).toBeLessThanOrEqual(5 * (Math.ceil(seconds) + 2));
      expect(about.length).toBeGreaterThan(0);
      // What was dropped is counted on the next line that gets through (one tiny bad frame at a time, to reach the next window).
      const counted = (): number => about.length && lines.filter((l) => l.peer === "flooder" && typeof l.suppressed === "number").reduce((n, l) => n + (l.suppressed as number), 0);
      await eventually(() => (r.sendRaw(nilBomb(1)), counted() > 0), 15_000, "a line with the suppressed count");
      const more = counted();
      expect(more).toBeGreaterThan(10_000);
    });
  });
});
