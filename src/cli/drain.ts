import { drainServer } from "../node/query.js";
import { CliError } from "./errors.js";
import { tlsHelp } from "./tls-flags.js";
import { CREDENTIAL_HELP } from "./credentials.js";
import { ONE_NODE_OPTIONS, oneNode } from "./admin-command.js";
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

const OPTIONS = ONE_NODE_OPTIONS;

export async function drain(argv: string[]): Promise<number> {
  const { values: v, positionals } = parseFlagsAndArgs(argv, OPTIONS);
  if (v.help) {
    process.stdout.write(DRAIN_HELP);
    return 0;
  }
  const { url, options } = oneNode(v);
  const [what, id, ...extra] = positionals;
  if (what !== "server") throw new CliError(`expected "server ID", got ${JSON.stringify(what ?? "")}`);
  if (id === undefined || id === "") throw new CliError("ID is required: allot drain --entry URL server ID");
  if (extra.length > 0) throw new CliError(`unexpected ${JSON.stringify(extra[0])} after the server ID`);
  await drainServer(url, id, options);
  process.stdout.write(`draining server ${id}\n`);
  return 0;
}
