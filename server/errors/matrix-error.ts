// The one error type that reaches clients and remote servers. Anything else
// thrown on a request path is a bug and becomes a logged 500 M_UNKNOWN.
import type { Errcode } from "./errcodes.ts";

export class MatrixError extends Error {
  readonly status: number;
  readonly errcode: Errcode;
  /** Extra top-level fields of the error body, e.g. retry_after_ms or soft_logout. */
  readonly extra: Readonly<Record<string, unknown>>;

  constructor(status: number, errcode: Errcode, message: string, extra: Record<string, unknown> = {}) {
    super(message);
    this.name = "MatrixError";
    this.status = status;
    this.errcode = errcode;
    this.extra = extra;
  }

  toJSON(): Record<string, unknown> {
    return { errcode: this.errcode, error: this.message, ...this.extra };
  }
}

export const badJson = (message: string): MatrixError => new MatrixError(400, "M_BAD_JSON", message);
export const notJson = (message = "Content not JSON."): MatrixError => new MatrixError(400, "M_NOT_JSON", message);
export const invalidParam = (message: string): MatrixError => new MatrixError(400, "M_INVALID_PARAM", message);
export const missingParam = (message: string): MatrixError => new MatrixError(400, "M_MISSING_PARAM", message);
export const tooLarge = (message: string): MatrixError => new MatrixError(413, "M_TOO_LARGE", message);
export const forbidden = (message: string): MatrixError => new MatrixError(403, "M_FORBIDDEN", message);
export const notFound = (message: string): MatrixError => new MatrixError(404, "M_NOT_FOUND", message);
export const unrecognized = (status: 404 | 405, message = "Unrecognized request"): MatrixError =>
  new MatrixError(status, "M_UNRECOGNIZED", message);
export const missingToken = (): MatrixError => new MatrixError(401, "M_MISSING_TOKEN", "Missing access token");
export const unknownToken = (softLogout = false): MatrixError =>
  new MatrixError(401, "M_UNKNOWN_TOKEN", "Unrecognised access token", softLogout ? { soft_logout: true } : {});
export const limitExceeded = (retryAfterMs: number): MatrixError =>
  new MatrixError(429, "M_LIMIT_EXCEEDED", "Too many requests", { retry_after_ms: retryAfterMs });
export const unknownError = (message = "Internal server error"): MatrixError => new MatrixError(500, "M_UNKNOWN", message);
