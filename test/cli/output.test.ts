import { describe, expect, it } from "vitest";
import { CliError } from "../../src/cli/errors.js";
import { outputFormat } from "../../src/cli/output.js";
import { simConfig } from "../../src/cli/sim.js";
import { submitConfig } from "../../src/cli/submit.js";
import { runMain } from "../helpers/capture.js";

describe("cli/output", () => {
  describe("outputFormat", () => {
    it("is text unless -o json or --json asks for JSON", () => {
      expect(outputFormat({})).toBe("text");
      expect(outputFormat({ output: "text" })).toBe("text");
      expect(outputFormat({ output: "json" })).toBe("json");
      expect(outputFormat({ json: true })).toBe("json");
      expect(outputFormat({ output: "json", json: true })).toBe("json");
    });

    it("refuses another format, and --json beside -o text, naming --output", () => {
      expect(() => outputFormat({ output: "yaml" })).toThrow(CliError);
      expect(() => outputFormat({ output: "yaml" })).toThrow(/--output: expected text or json, got "yaml"/);
      expect(() => outputFormat({ output: "text", json: true })).toThrow(/--output: -o text contradicts --json/);
    });
  });

  describe("-o json in each command", () => {
    const SUBMIT = ["--entry", "ws://e:1", "--app", "echo"];

    it("submit takes -o json, --output json and --json alike", () => {
      for (const flags of [["-o", "json"], ["--output", "json"], ["--output=json"], ["--json"]]) expect(submitConfig([...SUBMIT, ...flags])).toMatchObject({ json: true });
      expect(submitConfig([...SUBMIT, "-o", "text"])).toMatchObject({ json: false });
    });

    it("sim takes -o json", () => {
      expect(simConfig(["-o", "json"])).toMatchObject({ json: true });
      expect(simConfig([])).toMatchObject({ json: false });
    });

    it("exits 2 on -o yaml, before anything starts", async () => {
      for (const cmd of [["submit", ...SUBMIT], ["demo"], ["sim"]]) {
        const r = await runMain([...cmd, "-o", "yaml"]);
        expect(r.code).toBe(2);
        expect(r.err).toContain(`allot ${cmd[0] as string}: --output: expected text or json`);
      }
    });

    it("demo -o json prints one JSON summary and no banner", async () => {
      const r = await runMain(["demo", "--tasks", "12", "--concurrency", "4", "-o", "json"]);
      expect(r.code).toBe(0);
      const lines = r.out.trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(JSON.parse(lines[0] as string)).toMatchObject({ completed: 12, failed: 0 });
      expect(r.err).not.toContain("cluster up");
    });
  });
});
