import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { PROTOCOL_VERSION } from "../../src/protocol/index.js";
import { VERSION_HELP, findManifest, formatVersion, versionInfo } from "../../src/cli/version.js";
import { runMain } from "../helpers/capture.js";
import { runCli } from "../helpers/proc.js";

const PKG = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { name: string; version: string };
const LINE = `allot ${PKG.version} (protocol ${PROTOCOL_VERSION})`;

describe("cli/version", () => {
  const tmp = mkdtempSync(join(tmpdir(), "allot-version-"));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  describe("findManifest", () => {
    it("finds an installed package's own package.json from its dist/src/cli, not the project's that installed it", () => {
      writeFileSync(join(tmp, "package.json"), JSON.stringify({ name: "consumer", version: "9.9.9" }));
      const cli = join(tmp, "node_modules", "allot", "dist", "src", "cli");
      mkdirSync(cli, { recursive: true });
      writeFileSync(join(tmp, "node_modules", "allot", "package.json"), JSON.stringify({ name: "allot", version: "1.2.3" }));
      // A folder's manifest without a name and version (only a module type) is passed over.
      writeFileSync(join(tmp, "node_modules", "allot", "dist", "package.json"), JSON.stringify({ type: "module" }));
      expect(findManifest(cli)).toMatchObject({ name: "allot", version: "1.2.3", file: join(tmp, "node_modules", "allot", "package.json") });
    });

    it("throws when no package.json above has a version", () => {
      const bare = mkdtempSync(join(tmpdir(), "allot-bare-"));
      try {
        // tmpdir() itself has no package.json on any sane machine; the walk reaches the root.
        expect(() => findManifest(bare)).toThrow(/no package.json/);
      } finally {
        rmSync(bare, { recursive: true, force: true });
      }
    });
  });

  describe("versionInfo", () => {
    it("reads the repository's package.json from src/cli and speaks the protocol version", () => {
      expect(versionInfo()).toEqual({ name: PKG.name, version: PKG.version, protocol: PROTOCOL_VERSION });
      expect(formatVersion(versionInfo())).toBe(LINE);
    });
  });

  describe("allot version", () => {
    it.each([["version"], ["--version"], ["-V"]])("allot %s prints the package and protocol versions", async (cmd) => {
      expect(await runMain([cmd])).toEqual({ code: 0, out: `${LINE}\n`, err: "" });
    });

    it("prints JSON for -o json and --json", async () => {
      for (const flag of ["-o", "--json"]) {
        const r = await runMain(["version", ...(flag === "-o" ? ["-o", "json"] : [flag])]);
        expect(r.code).toBe(0);
        expect(JSON.parse(r.out)).toEqual({ name: PKG.name, version: PKG.version, protocol: PROTOCOL_VERSION });
      }
      expect(JSON.parse((await runMain(["--version", "-o", "json"])).out)).toMatchObject({ version: PKG.version });
    });

    it("has help, and refuses a positional or a bad flag with exit 2", async () => {
      expect((await runMain(["version", "--help"])).out).toBe(VERSION_HELP);
      expect((await runMain(["help", "version"])).out).toBe(VERSION_HELP);
      expect((await runMain(["version", "extra"])).code).toBe(2);
      expect((await runMain(["version", "-o", "yaml"])).code).toBe(2);
    });

    it("works from the built bin, reading package.json from dist/src/cli", async () => {
      const r = await runCli(["--version"], 10_000);
      expect(r).toMatchObject({ code: 0, stdout: `${LINE}\n` });
    });
  });
});
