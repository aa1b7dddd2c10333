// Cross-cutting HTTP middleware: request id + request log, CORS, the body
// object check, the 404/405 fallback and the one error handler.
import { randomUUID } from "node:crypto";
import type { ErrorRequestHandler, NextFunction, Request, RequestHandler, Response } from "express";
import { invalidParam, MatrixError, notJson, unknownError, unrecognized } from "../errors/matrix-error.ts";
import type { Logger } from "../observability/logger.ts";
import type { Metrics } from "../observability/metrics.ts";
import { closeAfterResponse } from "./connection-close.ts";
import type { RouteTable } from "./route-table.ts";

const SAFE_REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** Assigns the request id, the child logger, and logs + measures every request once it finishes. */
export function requestLogging(log: Logger, metrics: Metrics): RequestHandler {
  return (req, res, next) => {
    const incoming = req.get("x-request-id");
    const reqId = incoming && SAFE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
    res.locals.reqId = reqId;
    res.locals.log = log.child({ reqId });
    res.setHeader("X-Request-Id", reqId);
    const started = process.hrtime.bigint();
    res.on("finish", () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const route = res.locals.route ?? "unmatched";
      const labels = { method: req.method, route, status: String(res.statusCode) };
      metrics.httpRequests.inc(labels);
      metrics.httpDuration.observe(labels, seconds);
      // The path is logged without its query string: clients may still put an
      // access_token there (deprecated but seen in the wild).
      res.locals.log.info(
        {
          method: req.method,
          route,
          path: req.path,
          status: res.statusCode,
          durationMs: Math.round(seconds * 1e6) / 1e3,
          userId: res.locals.userId,
        },
        "request",
      );
    });
    next();
  };
}

/** CORS exactly as the client-server spec asks ("Web Browser Clients"). */
export function clientCors(): RequestHandler {
  return (req, res, next) => {
    res.setHeader("Access-Control-Allow-Origin", "*");
    res.setHeader("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS");
    res.setHeader("Access-Control-Allow-Headers", "X-Requested-With, Content-Type, Authorization");
    if (req.method === "OPTIONS") {
      res.locals.route = "OPTIONS *";
      res.status(204).end();
      return;
    }
    next();
  };
}

/** The body as a JSON object, or the spec's error when it is missing or not an object. */
export function requireJsonObject(req: Request): Record<string, unknown> {
  const body: unknown = req.body;
  if (body === undefined) throw notJson("Request body must be a JSON object");
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new MatrixError(400, "M_BAD_JSON", "Request body must be a JSON object");
  }
  return body as Record<string, unknown>;
}

/** The final handler: a known path with another method is 405, anything else 404. */
export function unrecognizedRequest(table: RouteTable): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const methods = table.methodsFor(req.path);
    if (methods.length > 0) {
      res.setHeader("Allow", [...methods, "OPTIONS"].join(", "));
      next(unrecognized(405, `${req.method} is not supported on this endpoint`));
      return;
    }
    next(unrecognized(404));
  };
}

/**
 * Express decodes path parameters when a route matches and throws a URIError
 * (status 400) for bad percent-encoding (`%zz`) or bytes that are not UTF-8
 * (`%c0%af`). A path that matches no route never gets that far: it is a 404.
 */
function isParamDecodeError(err: unknown): boolean {
  return err instanceof URIError && (err as URIError & { status?: number }).status === 400;
}

/**
 * Turns errors into Matrix error responses. MatrixErrors are the client's doing
 * and are not logged as errors; anything else is a bug: logged once here with
 * its stack and answered 500 M_UNKNOWN without internals.
 */
export function errorHandler(): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    let error: MatrixError;
    if (err instanceof MatrixError) {
      error = err;
    } else {
      error = isParamDecodeError(err) ? invalidParam("Path parameter is not valid percent-encoded UTF-8") : unknownError();
      if (error.status === 500) res.locals.log.error({ err }, "unhandled error");
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    // Refused before the body was all received (too large, or refused before
    // reading it): keeping the connection would mean reading the rest first.
    if (!req.complete) closeAfterResponse(res);
    res.status(error.status).json(error.toJSON());
  };
}
