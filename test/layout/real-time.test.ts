import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const SRC = fileURLToPath(new URL("../../src/", import.meta.url));
const LAYERS = ["transport", "actors", "node"];

/** Real time and real randomness: outside the allowlist, a node must take them from its Timers and Entropy. */
const REAL = /\b(setTimeout|setInterval|setImmediate|Date\.now|randomBytes|Math\.random|performance\.now)\b/g;

/** Files that legitimately use real time or randomness (path under src → the names allowed, and why). */
const ALLOWED: Record<string, { names: string[]; why: string }> = {
  "transport/timers.ts": { names: ["setTimeout", "setInterval", "setImmediate", "Date.now", "randomBytes"], why: "the seam itself: realTimers and realEntropy" },
  "transport/ws-wire.ts": { names: ["setTimeout"], why: "a real socket's close handshake is cut short after 2 s; never on the memory path" },
  "actors/runtime/handler-worker.ts": { names: ["setTimeout", "Date.now"], why: "a worker thread's deadline: pooled handlers keep real time (test clusters use workers: 0)" },
  "node/logger.ts": { names: ["setTimeout"], why: "the process exits 1 s after a fatal line even if the log never flushes" },
  "node/query.ts": { names: ["randomBytes", "Date.now", "Math.random"], why: "CLI-facing one-shot client (status, attrs): its id, clock and backoff jitter are the caller's" },
  "node/tls.ts": { names: ["Date.now"], why: "certificate validity is checked against the wall clock when TLS files load" },
  "node/cluster.ts": { names: ["Date.now", "setTimeout"], why: "in-process cluster helper for tests and benches: wall-clock start-up polling and credential expiry" },
  "node/node.ts": { names: ["Math.random"], why: "the production default of config.random" },
};

/** The source with comments blanked, so prose that names a timer is not a use of one. */
function code(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`])\/\/.*$/gm, "$1");
}

function uses(): string[] {
  const out: string[] = [];
  for (const layer of LAYERS) {
    for (const f of readdirSync(`${SRC}${layer}`, { recursive: true, encoding: "utf8" })) {
      if (!f.endsWith(".ts")) continue;
      const file = `${layer}/${f}`;
      const allowed = ALLOWED[file]?.names ?? [];
      for (const m of code(readFileSync(`${SRC}${file}`, "utf8")).matchAll(REAL)) {
        if (!allowed.includes(m[1] as string)) out.push(`${file} uses ${m[1]}`);
      }
    }
  }
  return [...new Set(out)];
}

describe("layout: time and randomness", () => {
  it("transport, actors and node take timers, clocks and random bytes from their Timers/Entropy seam, outside the allowlist", () => {
    expect(uses()).toEqual([]);
  });
  it("every allowlisted file still exists and still needs each name it is allowed", () => {
    const stale: string[] = [];
    for (const [file, { names }] of Object.entries(ALLOWED)) {
      const text = code(readFileSync(`${SRC}${file}`, "utf8"));
      for (const n of names) if (!new RegExp(`\\b${n.replace(".", "\\.")}\\b`).test(text)) stale.push(`${file}: ${n}`);
    }
    expect(stale).toEqual([]);
  });
});
