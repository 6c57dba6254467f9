import { CliError } from "../../src/cli/errors.js";
import { startConfig } from "../../src/cli/start.js";

/** The usage error `parse` throws for `argv`: fails the test if it throws anything else, or nothing. */
export function usageErrorOf(parse: (argv: string[]) => unknown, argv: string[]): CliError {
  try {
    parse(argv);
  } catch (err) {
    if (err instanceof CliError) return err;
    throw new Error(`expected a CliError, got ${String(err)}`, { cause: err });
  }
  throw new Error(`expected a CliError for ${argv.join(" ")}`);
}

/** The usage error `allot start` gives for `argv`. */
export const startUsageError = (argv: string[]): CliError => usageErrorOf(startConfig, argv);
