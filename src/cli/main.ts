import { AllotError } from "../protocol/index.js";
import { DEMO_HELP, demo } from "./demo.js";
import { CliError } from "./errors.js";
import { START_HELP, start } from "./start.js";
import { STATUS_HELP, status } from "./status.js";
import { TOP_HELP, top } from "./top.js";
import { ATTRS_HELP, attrs } from "./attrs.js";
import { SIM_HELP, sim } from "./sim.js";
import { SUBMIT_HELP, submit } from "./submit.js";
import { EXPLAIN_HELP, explain } from "./explain.js";
import { VERSION_HELP, version } from "./version.js";
import { KEYS_HELP, keys } from "./keys.js";
import { DRAIN_HELP, drain } from "./drain.js";

const HELP = `allot — allots computing tasks across a fleet of servers

Usage:
  allot start --role ROLE …                      start one node, ROLE one of (allot start --help):
    vip                                          a front over a distributor set (--to URL,…)
    tier1   (or distributor --tier 1)            sends tasks to tier-2 distributors (--to URL,…)
    tier2   (or distributor --tier 2)            the allocator: picks an app server for each task
    app                                          an application server (--join URL,… --apps A,…)
    master                                       the allocator of the master/slave design
    slave                                        runs clients' tasks on servers a master picks
  allot submit --entry URL --app NAME …          submit tasks (allot submit --help)
  allot demo [--topology tiered|master-slave] …  a whole cluster in one process, with a summary
  allot status --entry URL[,URL…] [-o json]      what a node (or each of a set) knows
  allot top --entry URL[,URL…] [--once]          a live view of a set: load, tasks/s, errors
  allot explain --entry URL --app NAME …         a dry run of one placement: why this server
  allot attrs set|unset --entry URL TABLE ID …   change or remove attributes at run time
  allot drain --entry URL server ID              drain an app server: it finishes its tasks, leaves, exits
  allot sim [--servers N] [--load L,…] …         simulate the policies with stale views
  allot keys init|issue|token …                  a cluster key, the credentials it signs, admin tokens
  allot version [-o json]                        package and protocol versions (also --version, -V)
  allot help [COMMAND]                           this, or a command's help (also COMMAND --help)

Logs go to stderr: human lines at a terminal, JSON otherwise (--log-format json|pretty).
A usage error exits 2 and names the flag.
`;

const COMMANDS: Record<string, { run(argv: string[]): Promise<number>; help: string }> = {
  start: { run: start, help: START_HELP },
  submit: { run: submit, help: SUBMIT_HELP },
  demo: { run: demo, help: DEMO_HELP },
  status: { run: status, help: STATUS_HELP },
  top: { run: top, help: TOP_HELP },
  explain: { run: explain, help: EXPLAIN_HELP },
  attrs: { run: attrs, help: ATTRS_HELP },
  drain: { run: drain, help: DRAIN_HELP },
  sim: { run: sim, help: SIM_HELP },
  version: { run: version, help: VERSION_HELP },
  keys: { run: keys, help: KEYS_HELP },
};

/** Flags that stand for a command, as most CLIs spell them. */
const ALIASES: Record<string, string> = { "--version": "version", "-V": "version" };

/** Runs the CLI; resolves with the exit code (0 ok, 1 failed tasks or runtime error, 2 usage). */
export async function main(argv: string[]): Promise<number> {
  const [given, ...rest] = argv;
  const name = given === undefined ? undefined : (ALIASES[given] ?? given);
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    const asked = name === "help" ? rest[0] : undefined;
    const topic = asked === undefined ? undefined : COMMANDS[ALIASES[asked] ?? asked];
    if (asked !== undefined && !topic) {
      process.stderr.write(`allot help: unknown command ${JSON.stringify(asked)}\n\n${HELP}`);
      return 2;
    }
    process.stdout.write(topic ? topic.help : HELP);
    return 0;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    process.stderr.write(`allot: unknown command ${JSON.stringify(name)}\n\n${HELP}`);
    return 2;
  }
  try {
    return await cmd.run(rest);
  } catch (err) {
    if (err instanceof CliError) {
      process.stderr.write(`allot ${name}: ${err.message}\n(see allot ${name} --help)\n`);
      return 2;
    }
    if (err instanceof AllotError) {
      process.stderr.write(`allot ${name}: ${err.code}: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}
