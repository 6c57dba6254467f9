#!/usr/bin/env node
import { main } from "../dist/src/cli/main.js";
let settled = false;
main(process.argv.slice(2)).then((code) => {
  settled = true;
  process.exitCode = code;
});
// A command still at work when nothing is left to wait for would otherwise exit 0 in silence.
process.on("beforeExit", () => {
  if (settled) return;
  process.stderr.write("allot: internal error: the command stopped with its work unfinished (nothing left to wait for)\n");
  process.exitCode = 70;
});
