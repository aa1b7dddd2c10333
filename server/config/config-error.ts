// A problem the operator must fix in the configuration or environment. main.ts
// prints it as one line and exits with `exitCode`, never with a stack trace.
export class ConfigError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 2) {
    super(message);
    this.name = "ConfigError";
    this.exitCode = exitCode;
  }
}

/** A service the server depends on (PostgreSQL, Redis) cannot be used. */
export const UNAVAILABLE_EXIT_CODE = 3;
