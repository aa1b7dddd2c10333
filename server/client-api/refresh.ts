// POST /_matrix/client/v3/refresh   https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3refresh
//
// Rotation, as Synapse does it (refresh_tokens.next_refresh_token_id links a
// used refresh token R0 to the R1 issued for it):
// - /refresh with R0 issues R1 + A1 and records R0 → R1. R0 and A0 keep
//   working, so a client whose connection dropped before it read the answer
//   can simply retry with R0; the retry replaces R1/A1 by R2/A2.
// - The first request authenticated with A1 (server/auth/authenticate.ts), or
//   a /refresh with R1, deletes R0 and A0: from then on R0 is unknown and is
//   answered 401 M_UNKNOWN_TOKEN, as the spec asks for a used token. (Synapse
//   answers a used token 403 M_FORBIDDEN and lets A0 live until it expires.)
// - Deleting the device deletes its refresh tokens (ON DELETE CASCADE).
import type { RequestHandler } from "express";
import { issueTokens, type SessionPolicy } from "../auth/sessions.ts";
import { hashToken } from "../auth/tokens.ts";
import { MatrixError, missingParam } from "../errors/matrix-error.ts";
import { requireJsonObject } from "../http/middleware.ts";
import type { RouteTable } from "../http/route-table.ts";
import type { Database } from "../storage/database.ts";
import { findRefreshTokenForUpdate, replaceRefreshToken } from "../storage/accounts.ts";
import { optionalString } from "./params.ts";

export interface RefreshDeps {
  db: Database;
  policy: SessionPolicy;
}

export function registerRefresh(table: RouteTable, body: RequestHandler, deps: RefreshDeps): void {
  for (const prefix of ["/_matrix/client/v3", "/_matrix/client/r0"]) {
    table.add("POST", `${prefix}/refresh`, body, async (req, res) => {
      const params = requireJsonObject(req);
      const refreshToken = optionalString(params, "refresh_token");
      if (refreshToken === undefined) throw missingParam("Missing refresh_token");
      const issued = await deps.db.transaction(async (tx) => {
        // The row lock serialises concurrent refreshes with the same token.
        const old = await findRefreshTokenForUpdate(tx, hashToken(refreshToken));
        if (!old) throw new MatrixError(401, "M_UNKNOWN_TOKEN", "Unknown or already used refresh token");
        const session = await issueTokens(tx, deps.policy, { userId: old.userId, deviceId: old.deviceId, refreshable: true, now: Date.now() });
        // issueTokens returns only what the client sees; its new row is found by hash (unique index).
        const next = await findRefreshTokenForUpdate(tx, hashToken(session.refresh_token!));
        await replaceRefreshToken(tx, old, next!.refreshTokenId);
        return { session, userId: old.userId };
      });
      res.locals.userId = issued.userId;
      res.json({ access_token: issued.session.access_token, refresh_token: issued.session.refresh_token, expires_in_ms: issued.session.expires_in_ms });
    });
  }
}
