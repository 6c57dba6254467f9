import { AllotError } from "../protocol/index.js";
import { DEMO_HELP, demo } from "./demo.js";
import { CliError } from "./errors.js";
import { START_HELP, start } from "./start.js";
import { STATUS_HELP, status } from "./status.js";
import { ATTRS_HELP, attrs } from "./attrs.js";
import { SIM_HELP, sim } from "./sim.js";
import { SUBMIT_HELP, submit } from "./submit.js";

const HELP = `allot — allots computing tasks across a fleet of servers

Usage:
  allot start --role vip|distributor|app …   start one node (allot start --help)
  allot submit --entry URL --app NAME …        submit tasks (allot submit --help)
  allot demo [--tasks N] [--json]              a whole tiered cluster in one process
  allot status --entry URL [--all] [-o json]   what a node knows, as its role sees it
  allot attrs set|unset --entry URL TABLE ID … change or remove attributes at run time
  allot sim [--servers N] [--load L,…] …       simulate the policies with stale views (allot sim --help)
  allot help [COMMAND]
`;

const COMMANDS: Record<string, { run(argv: string[]): Promise<number>; help: string }> = {
  start: { run: start, help: START_HELP },
  submit: { run: submit, help: SUBMIT_HELP },
  demo: { run: demo, help: DEMO_HELP },
  status: { run: status, help: STATUS_HELP },
  attrs: { run: attrs, help: ATTRS_HELP },
  sim: { run: sim, help: SIM_HELP },
};

/** Runs the CLI; resolves with the exit code (0 ok, 1 failed tasks or runtime error, 2 usage). */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    const topic = name === "help" && rest[0] !== undefined ? COMMANDS[rest[0]] : undefined;
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
