// The fault suite's handler module (`allot start --role app --handlers …`): the applications
// a ledger needs, each appending one JSON line when a run starts and one when it ends to the file
// named by ALLOT_LEDGER, so that runs in several server processes can be audited together.
//
//   ALLOT_LEDGER       the file to append to (no file: nothing is recorded)
//   ALLOT_LEDGER_ID    the server's id, as the client sees it (default: "?")
//   ALLOT_FAIL_FILE    while this file exists, every second run fails with a retryable INTERNAL
//                      error (a gray failure a scenario switches on mid-stream by creating it)
//
// The incarnation is the process: a restarted server is a new pid and start time. Lines are
// written synchronously and whole (O_APPEND), so one from a process killed mid-run is never torn
// into another's. Run with --workers 0: the counters below are per process.
import { appendFileSync, existsSync } from "node:fs";
import { setTimeout as wait } from "node:timers/promises";

const file = process.env.ALLOT_LEDGER;
const server = process.env.ALLOT_LEDGER_ID ?? "?";
const inc = `${process.pid}-${Date.now().toString(36)}`;
const failFile = process.env.ALLOT_FAIL_FILE;
let runs = 0;

function line(ev, task, extra) {
  if (!file) return;
  appendFileSync(file, `${JSON.stringify({ ev, server, inc, taskId: task.taskId, key: task.key, attempt: task.attempt, t: Date.now(), ...extra })}\n`);
}

/** An error the server boundary keeps as it is (an AllotError by name and code): the client retries it. */
function retryable(message) {
  const err = new Error(message);
  err.name = "AllotError";
  err.code = "INTERNAL";
  err.retryable = true;
  return err;
}

/** Waits `ms` (a number or `{ ms }`), recording the run; stops early when the task is aborted. */
export async function sleep(payload, task) {
  const ms = typeof payload === "number" ? payload : Number(payload?.ms ?? 0);
  line("start", task);
  runs++;
  try {
    if (failFile && runs % 2 === 0 && existsSync(failFile)) {
      await wait(Math.min(ms, 20), undefined, { signal: task.signal });
      throw retryable(`${server} fails every second run`);
    }
    await wait(ms, undefined, { signal: task.signal });
    line("end", task, { ok: true });
    return { slept: ms, server };
  } catch (err) {
    line("end", task, { ok: false });
    throw err;
  }
}

