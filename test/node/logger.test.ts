import { spawn } from "node:child_process";
import { once } from "node:events";
import { describe, expect, it } from "vitest";
import { LOG_FORMATS, isLogFormat, resolveLogFormat } from "../../src/node/logger.js";
import type { LogFormat } from "../../src/node/logger.js";

const LOGGER_JS = new URL("../../dist/src/node/logger.js", import.meta.url).href;

/**
 * A process that logs `lines` info lines and then a fatal one, and exits 70 the way a node whose
 * actor ran out of restarts does; stderr is a pipe.
 */
async function fatalExit(format: LogFormat, lines: number): Promise<{ code: number | null; stderr: string }> {
  const script = `
    import { createLogger, exitWhenFlushed } from ${JSON.stringify(LOGGER_JS)};
    const log = createLogger("info", ${JSON.stringify(format)}).child({ node: "tier2-t", role: "tier2" });
    for (let i = 0; i < ${lines}; i++) log.info({ i }, "filler");
    log.fatal({ err: "boom" }, "restart budget exhausted; exiting");
    exitWhenFlushed(log, 70);
  `;
  const proc = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  proc.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const [code] = (await once(proc, "close")) as [number | null];
  return { code, stderr };
}

describe("node/logger", () => {
  describe("resolveLogFormat", () => {
    it("is pretty for auto at a terminal and JSON for auto on a pipe or a file", () => {
      expect(resolveLogFormat("auto", true)).toBe("pretty");
      expect(resolveLogFormat("auto", false)).toBe("json");
    });

    it("keeps json and pretty whatever stderr is", () => {
      for (const tty of [true, false]) {
        expect(resolveLogFormat("json", tty)).toBe("json");
        expect(resolveLogFormat("pretty", tty)).toBe("pretty");
      }
    });
  });

  describe("isLogFormat", () => {
    it("knows json, pretty and auto only", () => {
      expect(LOG_FORMATS.every(isLogFormat)).toBe(true);
      expect(isLogFormat("yaml")).toBe(false);
    });
  });

  describe("exitWhenFlushed", () => {
    it.each<LogFormat>(["json", "pretty"])("loses no line, the fatal one last, when the process exits right after it (%s)", async (format) => {
      const { code, stderr } = await fatalExit(format, 1000);
      expect(code).toBe(70);
      const lines = stderr.trimEnd().split("\n");
      const fatal = format === "json" ? (lines.at(-1) as string) : ([...lines].reverse().find((l) => l.includes("FATAL")) as string);
      expect(lines.filter((l) => l.includes("filler"))).toHaveLength(1000);
      if (format === "json") expect(JSON.parse(fatal)).toMatchObject({ level: 60, node: "tier2-t", msg: "restart budget exhausted; exiting" });
      else {
        expect(fatal).toMatch(/FATAL: tier2-t restart budget exhausted; exiting/);
        // No colour on a pipe.
        expect(stderr).not.toContain("\u001b[");
      }
    });
  });
});
