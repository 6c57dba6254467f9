import { setMaxListeners } from "node:events";
import type { TaskSpec } from "../node/config.js";
import { MAX_ID, MAX_LEASE_SLOTS } from "../protocol/index.js";
import { isLogLevel } from "../node/logger.js";
import type { LogFormat, LogLevel } from "../node/logger.js";
import { startNode } from "../node/node.js";
import { CliError, idFlag, logFormatFlag, parseIntFlag, urls } from "./errors.js";
import { TASK_MATCH_HELP, TASK_MATCH_OPTIONS, taskMatchFlags } from "./task-flags.js";
import { parseFlags } from "./flags.js";
import { TLS_OPTIONS, tlsFlags, tlsHelp, wssOnly } from "./tls-flags.js";
import type { TlsConfig } from "../node/config.js";
import { DETECTION_HELP, DETECTION_OPTIONS, detectionFlags } from "./detection-flags.js";
import { CREDENTIAL_HELP, CREDENTIAL_OPTIONS, credentialFlags } from "./credentials.js";
import type { CredentialConfig } from "./credentials.js";
import { OUTPUT_OPTIONS, outputFormat } from "./output.js";
import { formatSummary, progressLine, runLoad } from "./load.js";

export const SUBMIT_HELP = `allot submit --entry URL[,URL…] --app NAME [options]

Submits tasks through an entry (a vip, a tier-1 or a tier-2 distributor, or a master; with
several, the client rotates through them and moves on when one fails), runs each on the server
chosen for it over a direct connection — or, through a master, sends it to the slave the master
picked — and prints the result (one task) or a summary (several).

  --payload JSON        the task's payload (default null)
${TASK_MATCH_HELP}  --id CLIENT           this client's id (default client-xxxxxx): the attributes stored for it
                        at the allocators (allot attrs set … client CLIENT k=v) apply to its
                        tasks
  --key K               idempotency key: a task whose key this client already ran on the
                        server chosen returns the stored result (cached) instead of running
                        again. Keys are per client: give --id too, so that the same command
                        run again is the same client. With --count N the tasks get K-1 … K-N
                        (from one server, or as long as each task lands where it ran; a
                        server keeps its last 10,000 results)
  --count N             tasks to submit (default 1)
  --concurrency C       tasks in flight at once (default 16)
  --timeout-ms N        deadline per task, retries included (default 30000)
  --lease K             run the tasks under a lease of up to K slots (1 to 10000) for their
                        class: one request to a tier-2, then each task straight to a leased
                        server, renewed before it expires; tasks past the K slots, or while
                        the lease is on its way or gone, are placed one by one (not with --key)
  -o json, --json       print one JSON summary:
                        {"completed","failed","cached","byServer","p50Ms","p99Ms",
                        "tasksPerSec"}, plus "bySlave" {SLAVE_ID: N} through a master
  --log-level LEVEL     default warn
  --log-format FORMAT   json, pretty (human lines, coloured at a terminal) or auto (default:
                        pretty when stderr is a terminal, JSON otherwise)
  --max-attempts N      failures (a server or distributor gone or silent) one task may meet
                        before it fails RETRIES_EXHAUSTED (default 10); waiting for a free
                        server does not count
${DETECTION_HELP}${tlsHelp(false)}${CREDENTIAL_HELP}Ctrl-C (SIGINT) cancels the tasks in flight, wherever they are (a server running one is
told to stop: its handler's abort signal fires), prints what had finished, and exits 130; a
second Ctrl-C exits at once.
Exits 1 if any task failed, 2 on a usage error, 130 when interrupted.
`;

/** The exit code after Ctrl-C: 128 + SIGINT, as shells report it. */
export const EXIT_INTERRUPTED = 130;

const OPTIONS = {
  entry: { type: "string" },
  app: { type: "string" },
  payload: { type: "string" },
  ...TASK_MATCH_OPTIONS,
  count: { type: "string" },
  concurrency: { type: "string" },
  lease: { type: "string" },
  "timeout-ms": { type: "string" },
  "max-attempts": { type: "string" },
  ...DETECTION_OPTIONS,
  id: { type: "string" },
  key: { type: "string" },
  ...OUTPUT_OPTIONS,
  "log-level": { type: "string" },
  "log-format": { type: "string" },
  ...TLS_OPTIONS,
  ...CREDENTIAL_OPTIONS,
  help: { type: "boolean", short: "h" },
} as const;

/** What `allot submit` was asked to do. */
export interface SubmitConfig {
  entries: string[];
  spec: TaskSpec;
  count: number;
  concurrency: number;
  json: boolean;
  logLevel: LogLevel;
  logFormat?: LogFormat;
  /** The client node's id: stored client attributes are looked up by it. */
  id?: string;
  /** Idempotency key the tasks' keys derive from (taskKey). */
  key?: string;
  /** TLS for the client's connections (--tls-ca, --tls-cert, --tls-key), checked. */
  tls?: TlsConfig;
  /** The client's credential and the cluster keys it verifies the entry with (absent: none given). */
  auth?: CredentialConfig;
  /** --max-attempts: failures one task may meet (the client's default when absent). */
  maxAttempts?: number;
  /** --heartbeat-ms and --silence-ms: how soon the client finds an entry or a server gone silent. */
  heartbeatMs?: number;
  silenceMs?: number;
}

/** Client ids longer than this would make the task ids built from them (ID-TIME-SEQ) too long for a message. */
const MAX_CLIENT_ID = 128;

/**
 * The idempotency key of task `index` (from 0) of `count` submitted with `--key key`: the key
 * itself for a single task, `key-1` … `key-N` for N, so that the same command gives the same
 * keys every time it runs.
 */
export function taskKey(key: string, index: number, count: number): string {
  return count === 1 ? key : `${key}-${index + 1}`;
}

/** Task `index`'s spec: the shared one, with its own idempotency key when --key was given. */
export function specAt(config: SubmitConfig, index: number): TaskSpec {
  return config.key === undefined ? config.spec : { ...config.spec, key: taskKey(config.key, index, config.count) };
}

/** Turns `allot submit` flags into what to submit, or a CliError naming the bad flag. */
export function submitConfig(argv: string[]): SubmitConfig | "help" {
  const { values: v } = parseFlags(argv, OPTIONS);
  if (v.help) return "help";
  const entries = urls("--entry", v.entry, true);
  if (!v.app) throw new CliError("is required", "--app");
  let payload: unknown = null;
  if (v.payload !== undefined) {
    try {
      payload = JSON.parse(v.payload);
    } catch (err) {
      throw new CliError(`not valid JSON: ${err instanceof Error ? err.message : String(err)}`, "--payload");
    }
  }
  const match = taskMatchFlags(v);
  const count = parseIntFlag("--count", v.count, 1, 1, 100_000_000);
  const concurrency = parseIntFlag("--concurrency", v.concurrency, 16, 1, 100_000);
  const timeoutMs = parseIntFlag("--timeout-ms", v["timeout-ms"], 30_000, 1, 86_400_000);
  const logLevel = v["log-level"] ?? "warn";
  if (!isLogLevel(logLevel)) throw new CliError(`unknown level ${JSON.stringify(logLevel)}`, "--log-level");
  const lease = v.lease === undefined ? undefined : parseIntFlag("--lease", v.lease, 1, 1, MAX_LEASE_SLOTS);
  if (lease !== undefined && v.key !== undefined) throw new CliError("cannot go with --key: a task with a key of its own is placed on its own, where its key went", "--lease");
  const spec: TaskSpec = { app: v.app, payload, ...match, timeoutMs, ...(lease !== undefined ? { lease } : {}) };
  const tls = tlsFlags(v, false);
  wssOnly(tls.tls, "--entry", v.entry);
  // The longest derived key, K-N, must fit in a message too.
  const key = v.key === undefined ? undefined : idFlag("--key", v.key, MAX_ID - (count === 1 ? 0 : `-${count}`.length));
  return {
    entries,
    spec,
    count,
    concurrency,
    json: outputFormat(v) === "json",
    logLevel,
    ...logFormatFlag(v["log-format"]),
    ...(v.id !== undefined ? { id: idFlag("--id", v.id, MAX_CLIENT_ID) } : {}),
    ...(key !== undefined ? { key } : {}),
    ...(v["max-attempts"] !== undefined ? { maxAttempts: parseIntFlag("--max-attempts", v["max-attempts"], 10, 1, 1000) } : {}),
    ...(v["heartbeat-ms"] !== undefined || v["silence-ms"] !== undefined ? detectionFlags(v["heartbeat-ms"], v["silence-ms"]) : {}),
    ...tls,
    ...authOf(credentialFlags(v)),
  };
}

const authOf = (a: CredentialConfig): { auth?: CredentialConfig } => (a.credentials === undefined ? {} : { auth: a });

export async function submit(argv: string[]): Promise<number> {
  const config = submitConfig(argv);
  if (config === "help") {
    process.stdout.write(SUBMIT_HELP);
    return 0;
  }
  const { entries, spec, count, concurrency, json, logLevel } = config;
  const client = await startNode({
    role: "client",
    entries,
    logLevel,
    ...config.auth,
    ...(config.logFormat ? { logFormat: config.logFormat } : {}),
    timeoutMs: spec.timeoutMs ?? 30_000,
    ...(config.maxAttempts !== undefined ? { maxAttempts: config.maxAttempts } : {}),
    ...(config.heartbeatMs !== undefined ? { heartbeatMs: config.heartbeatMs } : {}),
    ...(config.silenceMs !== undefined ? { silenceMs: config.silenceMs } : {}),
    ...(config.id !== undefined ? { id: config.id } : {}),
    ...(config.tls ? { tls: config.tls } : {}),
  });
  // Ctrl-C cancels what is in flight (the servers running it are told, so their handlers' signals
  // fire), then the summary is printed; a second Ctrl-C does not wait.
  const interrupt = new AbortController();
  // Every task in flight listens on this one signal (and stops listening when it ends): Node's
  // default of 10 listeners printed a "possible memory leak" warning at --concurrency 11.
  setMaxListeners(config.concurrency + 8, interrupt.signal);
  const onSigint = (): void => {
    if (interrupt.signal.aborted) process.exit(EXIT_INTERRUPTED);
    process.stderr.write("interrupted: cancelling the tasks in flight\n");
    interrupt.abort(new Error("interrupted (SIGINT)"));
  };
  process.on("SIGINT", onSigint);
  // The command waits for its tasks: this keeps the process up while every timer of the client's
  // own is unreferenced (they never hold a process that embeds the client).
  const hold = setInterval(() => {}, 60_000);
  const signal = interrupt.signal;
  try {
    if (count === 1 && !json) {
      try {
        const r = await client.submit({ ...specAt(config, 0), signal });
        process.stdout.write(`${JSON.stringify({ taskId: r.taskId, serverId: r.serverId, result: r.result, cached: r.cached, attempts: r.attempts })}\n`);
        return 0;
      } catch (err) {
        if (!signal.aborted) throw err;
        process.stderr.write("cancelled: the task was stopped\n");
        return EXIT_INTERRUPTED;
      }
    }
    const progress = json ? undefined : progressLine(count, "submitted");
    const run = await runLoad(client.submit, count, concurrency, (i) => ({ ...specAt(config, i), signal }), progress?.update, false, signal);
    progress?.end();
    for (const e of run.errors) process.stderr.write(`error: ${e}\n`);
    process.stdout.write(json ? `${JSON.stringify(run.summary)}\n` : `${formatSummary(run.summary)}\n`);
    if (signal.aborted) {
      process.stderr.write(`cancelled: ${run.summary.completed} of ${count} tasks had completed\n`);
      return EXIT_INTERRUPTED;
    }
    return run.summary.failed > 0 ? 1 : 0;
  } finally {
    clearInterval(hold);
    process.off("SIGINT", onSigint);
    await client.stop();
  }
}
