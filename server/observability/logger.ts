// The root pino logger. Children carry reqId, userId, roomId, origin or job.
// Secrets never reach a log line: request bodies and query strings are not
// logged at all, and these paths are censored as a second line of defence.
import { pino, type Logger } from "pino";

export type { Logger };

export const REDACTED_PATHS = [
  "authorization",
  "req.headers.authorization",
  "headers.authorization",
  "access_token",
  "refresh_token",
  "password",
  "new_password",
  "token",
  "*.access_token",
  "*.refresh_token",
  "*.password",
  "*.new_password",
  "*.token",
  "*.signing_key",
  "*.private_key",
  "*.registration_shared_secret",
  "*.mac",
  "auth.password",
  "body",
  "*.body",
];

export interface LoggerOptions {
  level: string;
  format: "auto" | "json" | "pretty";
  /** Where JSON lines go; stdout unless a test captures them. */
  destination?: NodeJS.WritableStream;
}

export function createLogger(options: LoggerOptions): Logger {
  const pretty = options.format === "pretty" || (options.format === "auto" && process.stdout.isTTY === true && !options.destination);
  const base = {
    level: options.level,
    base: { service: "myelin", pid: process.pid },
    redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (pretty) {
    return pino({ ...base, transport: { target: "pino-pretty", options: { colorize: true, translateTime: "SYS:HH:MM:ss.l" } } });
  }
  return options.destination ? pino(base, options.destination) : pino(base);
}
