// A failed request to another server, as the error our own client sees: the
// remote's 404 is our 404 M_NOT_FOUND, its 403 our 403 M_FORBIDDEN, a time-out
// 504 and anything else 502 (as Synapse answers), never the remote's own text.
// Logged once, here.
import { forbidden, MatrixError, notFound } from "../server/errors/matrix-error.ts";
import type { Logger } from "../server/observability/logger.ts";
import { FederationError } from "./transport/federation-client.ts";

export function asClientError(err: unknown, what: string, log: Logger): MatrixError {
  if (!(err instanceof FederationError)) throw err;
  if (err.failure === "http" && err.status === 404) return notFound(`${what} not found`);
  if (err.failure === "http" && err.status === 403) return forbidden(`${err.destination} refused the request for the ${what.toLowerCase()}`);
  log.warn({ destination: err.destination, failure: err.failure, status: err.status, err: err.message }, "remote query failed");
  if (err.failure === "timeout") return new MatrixError(504, "M_UNKNOWN", `Timed out asking ${err.destination} for the ${what.toLowerCase()}`);
  if (err.failure === "blocked") return new MatrixError(502, "M_UNKNOWN", `Cannot contact ${err.destination}: ${(err.cause as Error | undefined)?.message ?? "address refused"}`);
  return new MatrixError(502, "M_UNKNOWN", `Failed to fetch the ${what.toLowerCase()} from ${err.destination}`);
}

