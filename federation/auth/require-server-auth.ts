// Authenticates inbound federation requests by their X-Matrix signature.
// https://spec.matrix.org/v1.19/server-server-api/#request-authentication
//
// The JSON body is parsed first (the signature covers it), then the
// Authorization header, the destination (must be us when present), the
// origin's key (from the keyring, valid now) and the signature over
// {method, uri, origin, destination, content}. Success sets
// res.locals.origin and adds it to the request's child logger; any failure is
// 401 M_UNAUTHORIZED. A per-origin rate limit runs after authentication, so
// an unauthenticated sender cannot spend another server's budget.
import type { RequestHandler } from "express";
import { MatrixError } from "../../server/errors/matrix-error.ts";
import { jsonBody } from "../../server/http/json-body.ts";
import { isValidServerName } from "../../server/protocol/identifiers.ts";
import type { JsonValue } from "../../server/protocol/json.ts";
import { ProtocolError } from "../../server/protocol/errors.ts";
import { verifyJsonSignature } from "../../server/protocol/signing.ts";
import { parseXMatrix, signedRequestObject, type XMatrixAuth } from "../../server/protocol/x-matrix.ts";
import type { Keyring } from "../keys/keyring.ts";

export interface ServerAuthDeps {
  serverName: string;
  keyring: Pick<Keyring, "verifyKeysFor">;
  maxBodyBytes: number;
  /** Runs once the origin is known (res.locals.origin), e.g. a per-origin rate limiter. */
  perOrigin?: RequestHandler;
  /** Told of every authenticated origin (the sender ends a destination's backoff). */
  onOrigin?: (origin: string) => void;
  now?: () => number;
}

const unauthorized = (message: string) => new MatrixError(401, "M_UNAUTHORIZED", message);

function headerOf(values: string[] | undefined): XMatrixAuth {
  const candidates = (values ?? []).filter((v) => /^x-matrix[ \t]/i.test(v));
  if (candidates.length === 0) throw unauthorized("Missing X-Matrix Authorization header");
  try {
    return parseXMatrix(candidates[0]!);
  } catch (err) {
    if (err instanceof ProtocolError) throw unauthorized(`Malformed Authorization header: ${err.message}`);
    throw err;
  }
}

/** The handlers to put in front of every authenticated federation route. */
export function requireServerAuth(deps: ServerAuthDeps): RequestHandler[] {
  const now = deps.now ?? Date.now;
  const verify: RequestHandler = async (req, res, next) => {
    const auth = headerOf(req.headersDistinct.authorization);
    if (!isValidServerName(auth.origin)) throw unauthorized("origin is not a valid server name");
    if (auth.destination !== undefined && auth.destination !== deps.serverName) {
      throw unauthorized(`This request is for ${auth.destination}, not this server`);
    }
    const keys = await deps.keyring.verifyKeysFor(auth.origin, [auth.key], now());
    const publicKey = keys.get(auth.key);
    if (!publicKey) throw unauthorized(`No valid key ${auth.key} is known for ${auth.origin}`);
    const body = req.body as JsonValue | undefined;
    const signed = {
      ...signedRequestObject({ method: req.method, uri: req.originalUrl, origin: auth.origin, destination: deps.serverName, ...(body === undefined ? {} : { content: body }) }),
      signatures: { [auth.origin]: { [auth.key]: auth.sig } },
    };
    if (!verifyJsonSignature(signed, auth.origin, auth.key, publicKey)) throw unauthorized("Invalid signature");
    res.locals.origin = auth.origin;
    deps.onOrigin?.(auth.origin);
    res.locals.log = res.locals.log.child({ origin: auth.origin });
    next();
  };
  return [jsonBody({ maxBytes: deps.maxBodyBytes, allowNul: true }), verify, ...(deps.perOrigin ? [deps.perOrigin] : [])];
}

/** The authenticated origin of a request behind requireServerAuth (a route without it is a bug, hence 500). */
export function originOf(locals: { origin?: string | undefined }): string {
  if (locals.origin === undefined) throw new Error("federation route without requireServerAuth");
  return locals.origin;
}
