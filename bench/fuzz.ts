// `npm run fuzz`: a million hostile frames (FUZZ_FRAMES) against a tier-2, an app server, a master
// and a slave running in a child process, before and after the handshake. After every batch each
// target must answer a ping on the fuzzed socket and a `status.get` on a clean one, its status
// unchanged. Prints frames/s, crashes (the child dying, or a target not answering), the slowest
// status answer, and the child's RSS before and after. FUZZ_SEED reproduces a run.
import { fork } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { fileURLToPath } from "node:url";
import { FuzzFailure, FuzzSession, Prober, statusShape } from "./fuzz-driver.js";
import type { Phase } from "./fuzz-driver.js";
import { FRAME_KINDS, createFrameGenerator, hex } from "./fuzz-frames.js";
import type { Frame, FrameKind } from "./fuzz-frames.js";
import type { TargetMessage } from "./fuzz-target.js";

const TOTAL = Number(process.env.FUZZ_FRAMES ?? 1_000_000);
const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const BATCH = Number(process.env.FUZZ_BATCH ?? 250);
const MAX_FRAME = 128 * 1024;
/** A target that has not answered in this long has stopped answering: a crash. */
const WAIT_MS = 10_000;
const TARGET_SCRIPT = fileURLToPath(new URL("./fuzz-target.js", import.meta.url));
const PHASES: readonly Phase[] = ["before", "after"];

interface Target {
  child: ChildProcess;
  urls: Record<string, string>;
  /** Rejects when the child exits. */
  exited: Promise<never>;
  rss(): Promise<{ rss: number; heapUsed: number; external: number }>;
}

function startTarget(): Promise<Target> {
  const child = fork(TARGET_SCRIPT, [String(MAX_FRAME)], { execArgv: ["--expose-gc", ...(process.env.FUZZ_TARGET_NODE_OPTIONS ?? "").split(" ").filter(Boolean)], stdio: ["ignore", "ignore", "inherit", "ipc"] });
  const exited = new Promise<never>((_, reject) => child.once("exit", (code, signal) => reject(new FuzzFailure(`the target process exited (${code ?? signal})`))));
  exited.catch(() => {});
  const rss = (): Promise<{ rss: number; heapUsed: number; external: number }> =>
    new Promise((resolve) => {
      const on = (m: TargetMessage): void => {
        if (m.type !== "rss") return;
        child.off("message", on);
        resolve(m);
      };
      child.on("message", on);
      child.send({ type: "rss" });
    });
  return new Promise((resolve, reject) => {
    child.once("message", (m: TargetMessage) => {
      if (m.type === "ready") resolve({ child, urls: m.targets, exited, rss });
    });
    exited.catch(reject);
  });
}

const COST_FRAMES = 400;

/** Wall time per frame of each kind on one target: which shapes cost a node most (a ranking, not a pass/fail). */
async function costByKind(url: string): Promise<Array<[FrameKind, number]>> {
  const out: Array<[FrameKind, number]> = [];
  for (const [i, kind] of FRAME_KINDS.entries()) {
    if (kind === "oversize") continue;
    const gen = createFrameGenerator(SEED + 1000 + i, { maxFrameBytes: MAX_FRAME, maxNilElements: 1000, bigNilShare: 0.01 });
    const frames = Array.from({ length: COST_FRAMES }, () => gen.next(kind));
    const session = new FuzzSession({ url, phase: "after", timeoutMs: WAIT_MS });
    await session.batch([]); // the hello, outside the timing
    const t0 = performance.now();
    await session.batch(frames);
    out.push([kind, ((performance.now() - t0) * 1000) / COST_FRAMES]);
    session.close();
  }
  return out.sort((a, b) => b[1] - a[1]);
}

interface Crash {
  target: string;
  phase: Phase;
  seed: number;
  batch: number;
  what: string;
  file: string;
}

const mb = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MB`;

async function main(): Promise<void> {
  console.log(`fuzz: ${TOTAL} frames, batches of ${BATCH}, seed ${SEED} (FUZZ_SEED=${SEED} reproduces it), targets' maxFrameBytes ${MAX_FRAME}`);
  let target = await startTarget();
  const names = Object.keys(target.urls);
  const rssBefore = await target.rss();
  const perLoop = Math.ceil(TOTAL / names.length);
  const crashes: Crash[] = [];
  const statusChanges: string[] = [];
  const replacing = new Map<Target, Promise<Target>>();
  const answers = new Map<string, number>();
  let sent = 0;
  let slowest = { ms: 0, target: "" };
  let rssPeak = rssBefore.rss;
  const costs = await costByKind(target.urls.tier2 as string);
  const warmAt = Math.min(TOTAL, Math.max(10_000, Math.floor(TOTAL / 20)));
  let rssWarm: number | undefined;
  const started = performance.now();

  // One loop per target, all at once, so that generating frames here overlaps the child's work.
  // Each alternates the two phases batch by batch; a crash restarts the child and carries on.
  const loop = async (name: string, index: number): Promise<void> => {
    const gens = PHASES.map((_, p) => createFrameGenerator(SEED + index * 2 + p, { maxFrameBytes: MAX_FRAME, maxNilElements: 1000, bigNilShare: 0.01 }));
    let mine = 0;
    for (let batch = 0; mine < perLoop; ) {
      const t = target;
      const url = t.urls[name] as string;
      const prober = await Prober.open(url, WAIT_MS);
      const sessions = PHASES.map((phase) => new FuzzSession({ url, phase, timeoutMs: WAIT_MS }));
      const baseline = statusShape(await prober.status());
      try {
        for (; mine < perLoop; batch++) {
          const p = batch % 2;
          const session = sessions[p] as FuzzSession;
          const frames: Frame[] = Array.from({ length: Math.min(BATCH, perLoop - mine) }, () => (gens[p] as ReturnType<typeof createFrameGenerator>).next());
          try {
            const before = session.framesSent;
            await Promise.race([session.batch(frames), t.exited]);
            const t0 = performance.now();
            const st = await Promise.race([prober.status(), t.exited]);
            const ms = performance.now() - t0;
            if (ms > slowest.ms) slowest = { ms, target: name };
            const shape = statusShape(st);
            if (!isDeepStrictEqual(shape, baseline)) statusChanges.push(`${name} ${PHASES[p]} batch ${batch}: ${JSON.stringify(shape)}`);
            mine += session.framesSent - before;
            sent += session.framesSent - before;
          } catch (err) {
            if (!(err instanceof FuzzFailure)) throw err;
            // The other loops see the same death: only the first to see it counts it and restarts.
            const pending = replacing.get(t);
            if (pending) {
              await pending;
              break;
            }
            const file = join(tmpdir(), `allot-fuzz-${SEED}-${name}-${PHASES[p]}-${batch}.hex`);
            writeFileSync(file, frames.map((f) => `${f.kind} ${hex(f.bytes)}`).join("\n") + "\n");
            crashes.push({ target: name, phase: PHASES[p] as Phase, seed: SEED + index * 2 + p, batch, what: err.message, file });
            console.log(`CRASH ${name} ${PHASES[p]} batch ${batch}: ${err.message}; the batch's frames are in ${file}`);
            batch++;
            t.child.kill("SIGKILL");
            const next = startTarget().then((n) => (target = n));
            replacing.set(t, next);
            await next;
            break;
          }
          if (rssWarm === undefined && sent >= warmAt) {
            rssWarm = 0;
            rssWarm = (await target.rss()).rss;
          }
          if (batch % 200 === 199 && index === 0) rssPeak = Math.max(rssPeak, (await target.rss()).rss);
        }
      } finally {
        for (const s of sessions) {
          for (const [k, v] of s.answers) answers.set(k, (answers.get(k) ?? 0) + v);
          s.answers.clear();
          s.close();
        }
        prober.close();
      }
    }
  };
  await Promise.all(names.map((n, i) => loop(n, i)));
  const seconds = (performance.now() - started) / 1000;
  // Parked runs time out and the sockets' state goes; then the heap is collected before measuring.
  await new Promise((r) => setTimeout(r, 1500));
  const rssAfter = await target.rss();
  rssPeak = Math.max(rssPeak, rssAfter.rss);
  target.child.disconnect();

  const top = [...answers].sort((a, b) => b[1] - a[1]);
  console.log(`frames sent: ${sent} in ${seconds.toFixed(1)} s, ${Math.round(sent / seconds)} frames/s, 4 targets x 2 phases`);
  console.log(`crashes: ${crashes.length}`);
  for (const c of crashes) console.log(`  ${c.target} ${c.phase} (generator seed ${c.seed}) batch ${c.batch}: ${c.what} (frames: ${c.file})`);
  console.log(`status changes: ${statusChanges.length}`);
  for (const s of statusChanges.slice(0, 10)) console.log(`  ${s}`);
  console.log(`slowest status.get answer after a batch: ${slowest.ms.toFixed(1)} ms (${slowest.target})`);
  console.log(`target process RSS: before ${mb(rssBefore.rss)}, after the first ${warmAt} frames ${mb(rssWarm ?? 0)}, after ${mb(rssAfter.rss)} (heap ${mb(rssBefore.heapUsed)} -> ${mb(rssAfter.heapUsed)}, external ${mb(rssBefore.external)} -> ${mb(rssAfter.external)}), peak sampled ${mb(rssPeak)}`);
  console.log(`cost by kind (tier-2, after hello, ${COST_FRAMES} frames each, until the ping after them is answered): ${costs.map(([k, us]) => `${k} ${us.toFixed(0)} µs`).join(", ")}`);
  console.log(`answers on the fuzzed sockets: ${top.map(([k, v]) => `${k} ${v}`).join(", ")}`);
  console.log(JSON.stringify({ fuzzFrames: sent, fuzzFramesPerSec: Math.round(sent / seconds), fuzzCrashes: crashes.length, fuzzStatusChanges: statusChanges.length, fuzzSlowestAnswerMs: Math.round(slowest.ms * 10) / 10, fuzzRssBeforeMb: Math.round(rssBefore.rss / 1048576), fuzzRssWarmMb: Math.round((rssWarm ?? 0) / 1048576), fuzzRssAfterMb: Math.round(rssAfter.rss / 1048576) }));
  if (crashes.length > 0) process.exitCode = 1;
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
