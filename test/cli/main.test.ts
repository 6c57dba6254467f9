import { describe, expect, it } from "vitest";
import { runMain } from "../helpers/capture.js";

const COMMANDS = ["start", "submit", "demo", "status", "top", "explain", "attrs", "drain", "sim", "keys", "version", "help"];

describe("cli/main", () => {
  describe("main", () => {
    it("prints the same top-level help for allot, allot help and allot --help", async () => {
      const help = await runMain([]);
      expect(help.code).toBe(0);
      for (const argv of [["help"], ["--help"], ["-h"]]) expect(await runMain(argv)).toEqual(help);
    });

    it("lists every command on one line of its own", async () => {
      const { out } = await runMain([]);
      const commandLines = out.split("\n").filter((l) => /^ {2}allot \w/.test(l));
      expect(commandLines.map((l) => /^ {2}allot (\w+)/.exec(l)?.[1])).toEqual(COMMANDS);
      expect(out).toMatch(/^ {2}allot demo \[--topology tiered\|master-slave\]/m);
      expect(out).toMatch(/^ {2}allot attrs set\|unset /m);
      expect(out).toMatch(/^ {2}allot version .*--version, -V/m);
    });

    it("names every subcommand of keys and attrs on their lines, as each command's unknown-subcommand error lists them", async () => {
      const { out } = await runMain([]);
      for (const [cmd, verbs] of [["keys", ["init", "issue", "token"]], ["attrs", ["set", "unset"]]] as const) {
        const err = (await runMain([cmd, "bogus"])).err;
        for (const v of verbs) expect(err, `allot ${cmd} bogus`).toContain(v);
        expect(out).toMatch(new RegExp(`^ {2}allot ${cmd} ${verbs.join("\\|")} `, "m"));
      }
    });

    it("lists every role allot start runs, tier1 and tier2 also as distributor --tier N", async () => {
      const { out } = await runMain([]);
      for (const role of ["vip", "tier1", "tier2", "app", "master", "slave"]) expect(out).toMatch(new RegExp(`^ {4}${role} `, "m"));
      expect(out).toMatch(/^ {4}tier1 +\(or distributor --tier 1\)/m);
      expect(out).toMatch(/^ {4}tier2 +\(or distributor --tier 2\)/m);
    });

    it("has help for every command it lists, from allot help COMMAND and COMMAND --help alike", async () => {
      const top = (await runMain([])).out;
      for (const cmd of COMMANDS.filter((c) => c !== "help")) {
        const viaHelp = await runMain(["help", cmd]);
        expect(viaHelp.code).toBe(0);
        expect(viaHelp.out).not.toBe(top);
        expect(viaHelp.out.startsWith(`allot ${cmd}`)).toBe(true);
        expect((await runMain([cmd, "--help"])).out).toBe(viaHelp.out);
      }
    });

    it("exits 2 on an unknown command, and on help for one", async () => {
      expect(await runMain(["bogus"])).toMatchObject({ code: 2, out: "" });
      const r = await runMain(["help", "bogus"]);
      expect(r).toMatchObject({ code: 2, out: "" });
      expect(r.err).toContain('allot help: unknown command "bogus"');
    });
  });
});
