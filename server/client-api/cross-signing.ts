// POST /_matrix/client/v3/keys/device_signing/upload  https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3keysdevice_signingupload
// POST /_matrix/client/v3/keys/signatures/upload      https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3keyssignaturesupload
//
// Uploading cross-signing keys needs user-interactive auth (m.login.password)
// only when it would replace a master key the user already has, as the spec
// says; the first upload and a retried identical one do not.
import type { RequestHandler } from "express";
import { requester } from "../auth/authenticate.ts";
import type { CrossSigning } from "../e2ee/cross-signing.ts";
import { requireJsonObject } from "../http/middleware.ts";
import type { RouteTable } from "../http/route-table.ts";
import { limitPasswordAttempts, reauthenticate, type ReauthDeps } from "./password.ts";

export interface CrossSigningRouteDeps extends ReauthDeps {
  crossSigning: CrossSigning;
  auth: RequestHandler;
  /** Throttles m.login.password attempts (the login limiter, keyed by user). */
  rateLimit?: RequestHandler;
  /** Body parser for the bulk E2EE endpoints (limits.max_bulk_json_body_bytes). */
  bulkBody: RequestHandler;
}

export function registerCrossSigning(table: RouteTable, body: RequestHandler, deps: CrossSigningRouteDeps): void {
  const limit = limitPasswordAttempts(deps.rateLimit);
  for (const prefix of ["/_matrix/client/v3", "/_matrix/client/r0"]) {
    table.add("POST", `${prefix}/keys/device_signing/upload`, deps.auth, body, limit, async (req, res) => {
      const me = requester(res.locals);
      const params = requireJsonObject(req);
      const checked = await deps.crossSigning.checkUpload(me.userId, params);
      if (checked.hasMaster && !checked.unchanged) await reauthenticate(deps, me.userId, "POST /keys/device_signing/upload", params.auth);
      await deps.crossSigning.upload(me.userId, checked);
      res.json({});
    });

    table.add("POST", `${prefix}/keys/signatures/upload`, deps.auth, deps.bulkBody, async (req, res) => {
      const me = requester(res.locals);
      res.json({ failures: await deps.crossSigning.uploadSignatures(me.userId, requireJsonObject(req)) });
    });
  }
}
