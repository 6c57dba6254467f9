import { parseArgs } from "node:util";
import type { ParseArgsConfig } from "node:util";
import { CliError } from "./errors.js";

type Options = NonNullable<ParseArgsConfig["options"]>;

/** parseArgs, strict, with its errors turned into CliErrors that name the flag. */
export function parseFlags<O extends Options>(argv: string[], options: O): ReturnType<typeof parseArgs<{ args: string[]; options: O; strict: true; allowPositionals: false }>> {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false });
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    const flag = /'(-{1,2}[\w-]+)/.exec(msg)?.[1];
    throw new CliError(msg.replace(/\. To specify.*$/, ""), flag);
  }
}
