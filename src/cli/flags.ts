import { parseArgs } from "node:util";
import type { ParseArgsConfig } from "node:util";
import { CliError } from "./errors.js";

type Options = NonNullable<ParseArgsConfig["options"]>;

function wrap<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    const flag = /'(-{1,2}[\w-]+)/.exec(msg)?.[1];
    throw new CliError(msg.replace(/\. To specify.*$/, ""), flag);
  }
}

/** parseArgs, strict, with its errors turned into CliErrors that name the flag. */
export function parseFlags<O extends Options>(argv: string[], options: O): ReturnType<typeof parseArgs<{ args: string[]; options: O; strict: true; allowPositionals: false }>> {
  return wrap(() => parseArgs({ args: argv, options, strict: true, allowPositionals: false }));
}

/** The same, for commands that also take positional arguments. */
export function parseFlagsAndArgs<O extends Options>(argv: string[], options: O): ReturnType<typeof parseArgs<{ args: string[]; options: O; strict: true; allowPositionals: true }>> {
  return wrap(() => parseArgs({ args: argv, options, strict: true, allowPositionals: true }));
}
