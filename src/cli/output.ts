import { CliError } from "./errors.js";

/** What a command prints to stdout: lines for people (default) or JSON for programs. */
export const OUTPUT_FORMATS = ["text", "json"] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** The flags every command with machine-readable output takes: `-o/--output text|json` and its old spelling `--json`. */
export const OUTPUT_OPTIONS = {
  output: { type: "string", short: "o" },
  json: { type: "boolean" },
} as const;

/**
 * The output format the flags ask for: text unless `-o json` or `--json`. A format other than
 * text or json, or `--json` beside `-o text`, is a usage error.
 */
export function outputFormat(v: { output?: string | undefined; json?: boolean | undefined }): OutputFormat {
  const o = v.output;
  if (o !== undefined && !(OUTPUT_FORMATS as readonly string[]).includes(o)) throw new CliError(`expected text or json, got ${JSON.stringify(o)}`, "--output");
  if (o === "text" && v.json === true) throw new CliError("-o text contradicts --json", "--output");
  return o === "json" || v.json === true ? "json" : "text";
}
