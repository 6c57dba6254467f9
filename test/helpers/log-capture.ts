import { Writable } from "node:stream";
import { pino } from "pino";

/** A logger at `level` whose JSON lines land in `lines`, in the order the nodes of this process wrote them. */
export function captureLog(level: pino.LevelWithSilent): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split("\n")) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level }, sink), lines };
}
