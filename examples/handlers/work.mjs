// Handlers of your own for `allot start --role app --handlers examples/handlers/work.mjs`.
// Each named export is the handler of the application of that name; `setup` and `teardown` are
// optional. By default these run on worker threads (--workers N; --workers 0 runs them inline),
// so a CPU-bound handler never holds up the server's heartbeats, reports or other tasks.
//
//   allot start --role app --join ws://127.0.0.1:7002 --handlers examples/handlers/work.mjs --apps primes,lookup,echo
//   allot submit --entry ws://127.0.0.1:7002 --app primes --payload '{"below":200000}'
import { setTimeout as sleep } from "node:timers/promises";

let table;

/** Runs once where these handlers run (in each worker thread), before the first task. */
export function setup() {
  table = new Map([
    ["eu", { currency: "EUR", vat: 0.2 }],
    ["us", { currency: "USD", vat: 0 }],
  ]);
}

/** CPU-bound: counts the primes below `below` (default 100000) by trial division. */
export function primes(payload) {
  const below = Number.isInteger(payload?.below) && payload.below >= 0 && payload.below <= 50_000_000 ? payload.below : 100_000;
  let count = 0;
  for (let n = 2; n < below; n++) {
    let prime = true;
    for (let d = 2; d * d <= n; d++) {
      if (n % d === 0) {
        prime = false;
        break;
      }
    }
    if (prime) count++;
  }
  return { below, count };
}

/**
 * I/O-bound: looks a region up after a simulated 20 ms round trip, and stops early when the task
 * is aborted (its deadline passed, the client cancelled, or the server is stopping). A throw is
 * answered TASK_FAILED with its message.
 */
export async function lookup(payload, task) {
  await sleep(20, undefined, { signal: task.signal });
  const region = typeof payload?.region === "string" ? payload.region : "eu";
  const found = table.get(region);
  if (!found) throw new Error(`no such region: ${region}`);
  return { region, ...found, attempt: task.attempt };
}

export function teardown() {
  table = undefined;
}
