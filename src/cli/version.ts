import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { PROTOCOL_VERSION } from "../protocol/index.js";
import { parseFlags } from "./flags.js";
import { OUTPUT_OPTIONS, outputFormat } from "./output.js";

export const VERSION_HELP = `allot version [-o text|json]     (also allot --version, allot -V)

Prints the package version and the wire protocol version: "allot 0.1.0 (protocol 1)". Nodes
speaking different protocol versions refuse each other (VERSION_MISMATCH).

  -o json, --json   print {"name","version","protocol"}
`;

/** What `allot version -o json` prints. */
export interface VersionInfo {
  name: string;
  version: string;
  protocol: number;
}

function readManifest(file: string): { name: string; version: string } | undefined {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
  const m: unknown = JSON.parse(text);
  if (typeof m !== "object" || m === null || !("name" in m) || !("version" in m)) return undefined;
  return typeof m.name === "string" && typeof m.version === "string" ? { name: m.name, version: m.version } : undefined;
}

/**
 * The name and version in the package.json nearest above `dir` that has both, as Node finds a
 * package's own manifest: the repository's from src/cli (vitest) and dist/src/cli, an installed
 * package's from node_modules/allot/dist/src/cli. A manifest without them (a folder's
 * `{"type":"module"}`) is passed over.
 */
export function findManifest(dir: string): { name: string; version: string; file: string } {
  for (let at = dir; ; at = dirname(at)) {
    const file = join(at, "package.json");
    const m = readManifest(file);
    if (m) return { ...m, file };
    if (dirname(at) === at) throw new Error(`no package.json with a name and version above ${dir}`);
  }
}

/** This package's version and the protocol version it speaks. */
export function versionInfo(): VersionInfo {
  const { name, version } = findManifest(dirname(fileURLToPath(import.meta.url)));
  return { name, version, protocol: PROTOCOL_VERSION };
}

/** `allot 0.1.0 (protocol 1)`: the command is `allot` whatever the package is published as. */
export function formatVersion(v: VersionInfo): string {
  return `allot ${v.version} (protocol ${v.protocol})`;
}

export async function version(argv: string[]): Promise<number> {
  const { values: v } = parseFlags(argv, { ...OUTPUT_OPTIONS, help: { type: "boolean", short: "h" } });
  if (v.help) {
    process.stdout.write(VERSION_HELP);
    return 0;
  }
  const json = outputFormat(v) === "json";
  const info = versionInfo();
  process.stdout.write(json ? `${JSON.stringify(info)}\n` : `${formatVersion(info)}\n`);
  return 0;
}
