import { Rng } from "../sim/rng.js";
import type { Entropy } from "../transport/index.js";

/**
 * Seeded randomness, one independent stream per (node, incarnation): a restarted node draws new
 * nonces and ticket keys (as a new process would), yet the same seed replays the same run, and a
 * node that draws more does not shift what the others draw.
 */
export interface SeededSource extends Entropy {
  random(): number;
}

/** 32-bit FNV-1a of a node id: its stream number. */
function streamOf(id: string, incarnation: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  return (Math.imul(h, 31) + incarnation) | 0;
}

export function seededSource(seed: number, id: string, incarnation: number): SeededSource {
  const rng = new Rng(seed, streamOf(id, incarnation));
  return {
    random: () => rng.next(),
    bytes(n: number): Uint8Array {
      // A Buffer (a Uint8Array), so callers that hex-encode bytes work as with crypto.randomBytes.
      const out = Buffer.alloc(n);
      for (let i = 0; i < n; i += 4) {
        const w = rng.nextU32();
        out[i] = w & 0xff;
        if (i + 1 < n) out[i + 1] = (w >>> 8) & 0xff;
        if (i + 2 < n) out[i + 2] = (w >>> 16) & 0xff;
        if (i + 3 < n) out[i + 3] = w >>> 24;
      }
      return out;
    },
  };
}
