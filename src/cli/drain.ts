import { drainServer } from "../node/query.js";
import { CliError, parseIntFlag, urls } from "./errors.js";
import { TLS_OPTIONS, tlsFlags, tlsHelp, wssOnly } from "./tls-flags.js";
import { CREDENTIAL_HELP, CREDENTIAL_OPTIONS, credentialFlags } from "./credentials.js";
import { parseFlagsAndArgs } from "./flags.js";

export const DRAIN_HELP = `allot drain --entry URL server ID

Drains app server ID: asked of a tier-2 distributor or a master at URL (which passes it on to
the server), or of the app server itself. The distributors stop choosing the server at once;
it refuses new runs DRAINING (retryable: clients place them elsewhere), lets its running
tasks finish (at most its --drain-timeout-ms), leaves the distributors' tables and exits 0.
This command returns once draining has started; SIGTERM to the server does the same.

An ID the node does not know is an error naming it (exit 1). With authentication on, the
credential must grant the admin role.
  --timeout-ms N  default 5000
${tlsHelp(false)}${CREDENTIAL_HELP}`;

const OPTIONS = {
  entry: { type: "string" },
  "timeout-ms": { type: "string" },
  ...TLS_OPTIONS,
  ...CREDENTIAL_OPTIONS,
  help: { type: "boolean", short: "h" },
} as const;

export async function drain(argv: string[]): Promise<number> {
  const { values: v, positionals } = parseFlagsAndArgs(argv, OPTIONS);
  if (v.help) {
    process.stdout.write(DRAIN_HELP);
    return 0;
  }
  const entry = urls("--entry", v.entry, true);
  if (entry.length !== 1) throw new CliError("takes one node URL", "--entry");
  const [what, id, ...extra] = positionals;
  if (what !== "server") throw new CliError(`expected "server ID", got ${JSON.stringify(what ?? "")}`);
  if (id === undefined || id === "") throw new CliError("ID is required: allot drain --entry URL server ID");
  if (extra.length > 0) throw new CliError(`unexpected ${JSON.stringify(extra[0])} after the server ID`);
  const options = { timeoutMs: parseIntFlag("--timeout-ms", v["timeout-ms"], 5000, 1, 600_000), ...tlsFlags(v, false), ...credentialFlags(v) };
  wssOnly(options.tls, "--entry", v.entry);
  await drainServer(entry[0] as string, id, options);
  process.stdout.write(`draining server ${id}\n`);
  return 0;
}
