// Preloaded into the soak's node processes (`node --import mem-probe.js`): on SIGUSR2, a full GC
// and then the JS heap and RSS written to ALLOT_MEM_PROBE/PID.json, so the soak can tell live
// heap that grows (a leak) from RSS that grows beside a flat heap (the allocator keeping pages).
import { writeFileSync, renameSync } from "node:fs";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

export interface MemProbe {
  /** Bytes, after a full GC. */
  heapUsed: number;
  rss: number;
  external: number;
}

/** A full GC, without the process having been started with --expose-gc. */
export function fullGc(): void {
  setFlagsFromString("--expose-gc");
  const gc: unknown = runInNewContext("gc");
  if (typeof gc === "function") gc();
}

/** The process's memory just after a full GC. */
export function probe(): MemProbe {
  fullGc();
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, rss: m.rss, external: m.external };
}

const dir = process.env.ALLOT_MEM_PROBE;
if (dir !== undefined && dir !== "") {
  process.on("SIGUSR2", () => {
    const tmp = `${dir}/${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(probe()));
    renameSync(tmp, `${dir}/${process.pid}.json`);
  });
}
