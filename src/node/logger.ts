import { pino } from "pino";
import type { Logger } from "pino";

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function isLogLevel(x: string): x is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(x);
}

/** JSON logs to stderr, written asynchronously so a log line never blocks the event loop. */
export function createLogger(level: LogLevel = "info"): Logger {
  return pino({ level, base: null }, pino.destination({ dest: 2, sync: false }));
}
