import { afterEach, describe, expect, it } from "vitest";
import { startNode } from "../../src/index.js";
import type { RunningNode } from "../../src/index.js";
import { killAll, startProc, whenLogged } from "../helpers/proc.js";
import type { NodeProc } from "../helpers/proc.js";

const procs: NodeProc[] = [];
const nodes: RunningNode[] = [];
afterEach(async () => {
  for (const n of nodes.splice(0)) await n.stop();
  await killAll(procs.splice(0));
});

/** A tier-2 in its own process, with an app server joined to it so that it logs at info. */
async function tier2WithApp(extra: string[]): Promise<NodeProc> {
  const t2 = await startProc(["--role", "tier2", "--listen", "127.0.0.1:0", ...extra]);
  procs.push(t2);
  nodes.push(await startNode({ role: "app", id: "app-logs", logLevel: "silent", apps: ["echo"], capacity: 2, power: 1, join: [t2.url] }));
  await whenLogged([t2], () => t2.stderr().includes("server joined"), "the tier-2 logging the app server joining");
  return t2;
}

function isJson(line: string): boolean {
  try {
    return typeof JSON.parse(line) === "object";
  } catch {
    return false;
  }
}

describe("allot start --log-format", () => {
  it("writes human lines to stderr with --log-format pretty, and still exactly one ready line to stdout", async () => {
    const t2 = await tier2WithApp(["--log-format", "pretty"]);
    expect(t2.role).toBe("tier2");
    const lines = t2.stderr().trimEnd().split("\n");
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) expect(isJson(l), l).toBe(false);
    expect(lines.some((l) => /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: tier2-\w+ server joined /.test(l))).toBe(true);
    expect(t2.stdout()).toMatch(/^ready tier2 \S+ ws:\/\/127\.0\.0\.1:\d+\n$/);
  });

  it("writes pino JSON lines without the flag, stderr being a pipe and not a terminal", async () => {
    const t2 = await tier2WithApp([]);
    const lines = t2.stderr().trimEnd().split("\n");
    for (const l of lines) expect(isJson(l), l).toBe(true);
    expect(lines.map((l) => JSON.parse(l) as { msg: string })).toContainEqual(expect.objectContaining({ msg: "server joined", role: "tier2" }));
    expect(t2.stdout()).toMatch(/^ready tier2 \S+ \S+\n$/);
  });

  it("exits 2 on --log-format yaml", async () => {
    await expect(startProc(["--role", "tier2", "--log-format", "yaml"])).rejects.toThrow(/exited with 2[\s\S]*--log-format: expected json or pretty or auto, got "yaml"/);
  });
});
