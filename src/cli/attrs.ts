import { ATTR_TABLES } from "../protocol/index.js";
import type { AttrTable } from "../protocol/index.js";
import { setAttrs, unsetAttrs } from "../node/query.js";
import { CliError } from "./errors.js";
import { tlsHelp } from "./tls-flags.js";
import { CREDENTIAL_HELP } from "./credentials.js";
import { ONE_NODE_OPTIONS, oneNode } from "./admin-command.js";
import { parseFlagsAndArgs } from "./flags.js";
import { parseAttrs } from "./start.js";

export const ATTRS_HELP = `allot attrs set --entry URL TABLE ID key=value…
allot attrs unset --entry URL TABLE ID key…

Sets (or removes) attributes of an entry at the node at URL. TABLE is one of:
  server      the app server at URL itself (ID is its id); the change reaches the
              distributors with its next report, sent at once
  client      a client's attributes (matched as soft preferences for its tasks)
  user        a user's preferences (soft; tasks name their user with --user)
  task-type   defaults for tasks of application ID: minPower=N adds power>=N unless the
              task constrains power itself
              these three are set at a tier-2 distributor (or a master) and spread to
              its peers

Values are typed: numbers and true/false become numbers and booleans.

Built-in server fields: power=N sets the server's own computing power (a positive number)
and capacity=N its own capacity (a whole number >= 1; the server then takes that many
tasks at once). The other names a constraint reads as built-ins (id, app, load, free) and
the report's own fields (url, apps, attrs, version, periodMs) are not attributes: setting
or removing one is refused (INVALID), as is removing power or capacity.
  --timeout-ms N  default 5000
${tlsHelp(false)}${CREDENTIAL_HELP}`;

/** An attribute name, as `key=value` takes it. */
const KEY = /^[A-Za-z_][\w.-]*$/;

const OPTIONS = ONE_NODE_OPTIONS;

export async function attrs(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb === undefined || verb === "--help" || verb === "-h") {
    process.stdout.write(ATTRS_HELP);
    return 0;
  }
  if (verb !== "set" && verb !== "unset") throw new CliError(`unknown subcommand ${JSON.stringify(verb)}; expected set or unset`);
  const { values: v, positionals } = parseFlagsAndArgs(rest, OPTIONS);
  if (v.help) {
    process.stdout.write(ATTRS_HELP);
    return 0;
  }
  const { url, options } = oneNode(v);
  const [table, id, ...pairs] = positionals;
  if (table === undefined || !(ATTR_TABLES as readonly string[]).includes(table)) throw new CliError(`TABLE must be one of ${ATTR_TABLES.join(", ")}, got ${JSON.stringify(table ?? "")}`);
  if (id === undefined || id === "") throw new CliError("ID is required");
  if (verb === "unset") {
    if (pairs.length === 0) throw new CliError("at least one key is required");
    for (const k of pairs) if (!KEY.test(k)) throw new CliError(`expected an attribute name (KEY), got ${JSON.stringify(k)}`);
    await unsetAttrs(url, table as AttrTable, id, pairs, options);
    process.stdout.write(`unset ${table} ${id} ${pairs.join(" ")}\n`);
    return 0;
  }
  if (pairs.length === 0) throw new CliError("at least one key=value is required");
  const values = parseAttrs("key=value", pairs);
  await setAttrs(url, table as AttrTable, id, values, options);
  process.stdout.write(`set ${table} ${id} ${pairs.join(" ")}\n`);
  return 0;
}
