import { readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { NonReader, nilBomb } from "../helpers/attacks.js";
import { killAll, startProc } from "../helpers/proc.js";
import type { NodeProc } from "../helpers/proc.js";
import { RawClient, within } from "../helpers/raw-client.js";

// What one hostile peer costs a real `allot start --role tier2` process, read from /proc: CPU
// time and resident memory of the node alone (the attacker is this process). The bounds are
// generous (the target is under 1 s of CPU and 20 MB); the figures are printed for the record.
const linux = process.platform === "linux";
const TICK_MS = 10; // USER_HZ is 100 on Linux

function cost(pid: number): { cpuMs: number; rssMb: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const cpuMs = (Number(f[11]) + Number(f[12])) * TICK_MS;
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return { cpuMs, rssMb: Number(rss?.[1]) / 1024 };
}

const procs: NodeProc[] = [];
const raws: RawClient[] = [];
afterEach(async () => {
  for (const r of raws.splice(0)) await r.close();
  await killAll(procs.splice(0));
});

async function tier2(extra: string[] = []): Promise<{ p: NodeProc; control: RawClient }> {
  const p = await startProc(["--role", "tier2", "--log-level", "warn", "--log-format", "json", ...extra]);
  procs.push(p);
  const control = await RawClient.open(p.url, "control");
  raws.push(control);
  await control.hello("client");
  return { p, control };
}

describe.runIf(linux)("limits: what one hostile peer costs a tier-2 process", () => {
  it("the 4,000,000-nil wedge frame costs well under a few seconds of CPU and tens of MB, and a few log lines", async () => {
    const { p, control } = await tier2();
    const attacker = await RawClient.open(p.url, "wedger");
    raws.push(attacker);
    await attacker.hello("client");
    const before = cost(p.proc.pid as number);
    const logBefore = p.stderr().length;
    attacker.sendRaw(nilBomb(4_000_000));
    await attacker.waitForError(0, 10_000);
    expect((await within(control.call("status.get", {}), 10_000, "status")).type).toBe("status");
    const after = cost(p.proc.pid as number);
    const cpuMs = after.cpuMs - before.cpuMs;
    const rssMb = after.rssMb - before.rssMb;
    const logBytes = p.stderr().length - logBefore;
    console.log(`wedge frame: ${cpuMs} ms CPU, RSS ${rssMb.toFixed(1)} MB more, ${logBytes} bytes of logs`);
    expect(cpuMs).toBeLessThan(3000);
    expect(rssMb).toBeLessThan(60);
    expect(logBytes).toBeLessThan(4096);
  });

  it("a socket that never reads while asking for 48 MB of status answers is no longer read, costing well under a few seconds of CPU and tens of MB, and its memory goes with it", async () => {
    const { p, control } = await tier2(["--heartbeat-ms", "60000"]);
    expect((await control.call("attrs.set", { table: "task-type", id: "echo", attrs: { blob: "x".repeat(16 * 1024) } })).type).toBe("ack");
    const before = cost(p.proc.pid as number);
    const r = await NonReader.open(p.url);
    r.flood(3000); // 95 KB of status.get
    // Answered after whatever of the flood the node read: it serves others while it holds the rest unread.
    expect((await within(control.call("status.get", {}), 10_000, "status")).type).toBe("status");
    const paused = cost(p.proc.pid as number);
    r.close();
    expect((await within(control.call("status.get", {}), 10_000, "status")).type).toBe("status");
    const after = cost(p.proc.pid as number);
    const cpuMs = after.cpuMs - before.cpuMs;
    console.log(
      `non-reading socket: ${cpuMs} ms CPU; RSS ${(paused.rssMb - before.rssMb).toFixed(1)} MB more while it is held, ${(after.rssMb - before.rssMb).toFixed(1)} MB after it closed; ${r.answers} answers delivered`,
    );
    expect(r.answers).toBeLessThan(3000);
    expect(cpuMs).toBeLessThan(3000);
    expect(paused.rssMb - before.rssMb).toBeLessThan(60);
    expect(after.rssMb - before.rssMb).toBeLessThan(60);
  });
});
