import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const SRC = fileURLToPath(new URL("../../src/", import.meta.url));

/** The project-relative modules a folder of src imports: `cli/x.ts` → ["node", "protocol", …]. */
function importsOf(dir: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const f of readdirSync(`${SRC}${dir}`, { recursive: true, encoding: "utf8" })) {
    if (!f.endsWith(".ts")) continue;
    const text = readFileSync(`${SRC}${dir}/${f}`, "utf8");
    const depth = f.split("/").length - 1;
    const layers = [...text.matchAll(/from "(\.\.?\/[^"]+)"/g)].map((m) => {
      const parts = (m[1] as string).split("/");
      const ups = parts.filter((p) => p === "..").length - depth;
      return ups <= 0 ? dir : (parts[parts.lastIndexOf("..") + 1] as string);
    });
    out.set(`${dir}/${f}`, [...new Set(layers)]);
  }
  return out;
}

function offenders(dir: string, allowed: readonly string[]): string[] {
  return [...importsOf(dir)].flatMap(([file, layers]) => layers.filter((l) => !allowed.includes(l)).map((l) => `${file} imports ${l}`));
}

describe("layout", () => {
  it("the CLI imports node, protocol and the simulator, never role files, policies or the transport", () => {
    expect(offenders("cli", ["cli", "node", "protocol", "sim"])).toEqual([]);
  });
  it("state and policies import only protocol (and each other's pure code)", () => {
    expect(offenders("state", ["state", "protocol"])).toEqual([]);
    expect(offenders("policies", ["policies", "state", "protocol"])).toEqual([]);
  });
  it("the runtime pieces roles share never import a role", () => {
    expect(offenders("actors/runtime", ["actors/runtime", "protocol", "transport", "state", "policies"]).filter((o) => o.includes("roles"))).toEqual([]);
  });
  it("allot/testing builds on node (and the layers under it) and the simulator's Rng; nothing imports testing", () => {
    expect(offenders("testing", ["testing", "node", "actors", "transport", "protocol", "state", "policies", "sim"])).toEqual([]);
    for (const dir of ["cli", "node", "actors", "transport", "state", "policies", "protocol", "sim"]) {
      expect(offenders(dir, ["cli", "node", "actors", "actors/runtime", "actors/roles", "transport", "state", "policies", "protocol", "sim"].concat(dir))).toEqual([]);
    }
  });
  it("only src/node imports prom-client: roles count through the Metrics interface on their context", () => {
    const out: string[] = [];
    for (const f of readdirSync(SRC, { recursive: true, encoding: "utf8" })) {
      if (!f.endsWith(".ts") || f.startsWith("node/")) continue;
      if (/from "prom-client"/.test(readFileSync(`${SRC}${f}`, "utf8"))) out.push(f);
    }
    expect(out).toEqual([]);
  });
  it("protocol imports nothing else of the project", () => {
    expect(offenders("protocol", ["protocol"])).toEqual([]);
  });
});
