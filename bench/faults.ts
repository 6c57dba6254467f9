// `npm run bench:faults`: every fault scenario of issue 13 against real processes, then a soak,
// and a table of what was measured. FAULTS_ONLY=name,name runs the scenarios whose names contain
// one of those (case-insensitive; "soak" for the soak); FAULTS_SOAK_S=N sets the soak's length
// (default 600 s, 0 leaves it out).
import { allScenarios } from "./faults-scenarios.js";
import { runScenario } from "./faults-run.js";
import type { Report } from "./faults-run.js";
import { runSoak } from "./faults-soak.js";
import type { SoakReport } from "./faults-soak.js";

const only = (process.env.FAULTS_ONLY ?? "")
  .split(",")
  .map((s) => s.trim().toLowerCase())
  .filter((s) => s !== "");
const picked = (name: string): boolean => only.length === 0 || only.some((o) => name.toLowerCase().includes(o));
const soakS = Number(process.env.FAULTS_SOAK_S ?? "600");

const ms = (v: number | undefined, observable: boolean, watchedMs?: number): string => (v !== undefined ? String(v) : !observable ? "n/a" : watchedMs === undefined ? "unseen" : `unseen ${(watchedMs / 1000).toFixed(0)} s`);

const HEADER = ["scenario", "tasks", "completed", "failed", "lost", "twice", "re-exec ok/bad", "detection ms", "recovery ms", "violations"];

function row(r: Report): string[] {
  return [r.name, r.tasks, r.completed, r.failed, r.lost, r.twice, `${r.reJustified}/${r.reUnjustified}`, ms(r.detectionMs, r.detectionObservable, r.watchedMs), ms(r.recoveryMs, r.recoveryObservable), r.violations.length].map(String);
}

function table(rows: string[][]): string {
  const widths = HEADER.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join("  ");
  return [line(HEADER), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

function details(r: Report): string {
  const byRule = new Map<string, string[]>();
  for (const v of r.violations) byRule.set(v.rule, [...(byRule.get(v.rule) ?? []), `${v.key}: ${v.detail}`]);
  const rules = [...byRule].map(([rule, list]) => `    ${rule} ×${list.length}, e.g. ${list[0] ?? ""}`);
  const errs = Object.entries(r.errors).map(([c, n]) => `${c} ×${n}`);
  return [`  ${r.name}:${errs.length > 0 ? ` errors ${errs.join(", ")}` : ""}`, ...rules].join("\n");
}

async function main(): Promise<void> {
  const reports: Report[] = [];
  for (const sc of allScenarios().filter((s) => picked(s.name))) {
    process.stderr.write(`running: ${sc.name}\n`);
    try {
      reports.push(await runScenario(sc));
    } catch (err) {
      process.stderr.write(`  ${sc.name} could not run: ${err instanceof Error ? err.message : String(err)}\n`);
    }
  }
  let soak: SoakReport | undefined;
  if (soakS > 0 && picked("soak")) {
    process.stderr.write(`running: soak, ${soakS} s\n`);
    soak = await runSoak(soakS * 1000);
    reports.push(soak.report);
  }
  process.stdout.write(`${table(reports.map(row))}\n\n`);
  process.stdout.write("detection: fault → the failed node out of selection (suspect, dead or link down) in the status of every node that watches it, polled every 50 ms until the stream drained (partition client | server: the client's own connection to the server closing); unseen N s: not within the N s watched; n/a: no node's status can show it\n");
  process.stdout.write("recovery: fault → the last answer (a result or its error) of a task the fault hit: in flight at the fault, or submitted after it and failed or slower than 5× its run time (200 ms); unseen: one never was answered; n/a: no single fault to time from\n");
  process.stdout.write("re-exec: runs of a key on a second server or incarnation, justified by a failure of the first (its run failed, or its server was killed, stopped, restarted or cut off) or not\n\n");
  const noisy = reports.filter((r) => r.violations.length > 0 || Object.keys(r.errors).length > 0);
  if (noisy.length > 0) process.stdout.write(`details:\n${noisy.map(details).join("\n")}\n\n`);
  if (soak) process.stdout.write(`soak: ${soak.faults.length} faults (${soak.faults.join(", ")})\n${soak.footprint}\n`);
}

await main();
// Children are SIGKILLed on exit (faults-cluster); nothing else should hold the process.
process.exit(0);
