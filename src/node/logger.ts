import { pino } from "pino";
import type { DestinationStream, Logger } from "pino";
import { prettyFactory } from "pino-pretty";

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function isLogLevel(x: string): x is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(x);
}

/** How logs are written: pino JSON lines, human lines, or pretty at a terminal and JSON elsewhere. */
export const LOG_FORMATS = ["json", "pretty", "auto"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export function isLogFormat(x: string): x is LogFormat {
  return (LOG_FORMATS as readonly string[]).includes(x);
}

/** The format a logger writes: `auto` is pretty iff stderr is a terminal (a person reads it), JSON for a pipe or a file. */
export function resolveLogFormat(format: LogFormat, stderrIsTTY: boolean): "json" | "pretty" {
  return format === "auto" ? (stderrIsTTY ? "pretty" : "json") : format;
}

/**
 * Logs to stderr. JSON is written asynchronously, so a log line never blocks the event loop
 * (pino flushes it synchronously after a fatal line). Pretty lines are for a person at a
 * terminal: coloured when stderr is one (and NO_COLOR is unset), and each written before the
 * call returns, so a fatal line logged just before the process exits is not lost.
 */
export function createLogger(level: LogLevel = "info", format: LogFormat = "auto"): Logger {
  const tty = process.stderr.isTTY === true;
  if (resolveLogFormat(format, tty) === "json") return pino({ level, base: null }, pino.destination({ dest: 2, sync: false }));
  return pino({ level, base: null }, prettyStream(tty && process.env.NO_COLOR === undefined));
}

/** One human line per record on fd 2: time, level, the node, the message, then the other fields. */
function prettyStream(colorize: boolean): DestinationStream {
  const out = pino.destination({ dest: 2, sync: true });
  const format = prettyFactory({ colorize, singleLine: true, translateTime: "SYS:HH:MM:ss.l", ignore: "node,role", messageFormat: "{if node}{node} {end}{msg}" });
  return { write: (line: string) => void out.write(format(line)) };
}

/** Exits with `code` once the logger's lines are written out, or after 1 s at the latest. */
export function exitWhenFlushed(logger: Logger, code: number): void {
  setTimeout(() => process.exit(code), 1000).unref();
  logger.flush(() => process.exit(code));
}
