// POST /_matrix/client/v3/user/{userId}/openid/request_token  https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3useruseridopenidrequest_token
//
// A token the user hands to a third party (an integration manager, a widget
// host), which checks it with our federation listener's
// GET /_matrix/federation/v1/openid/userinfo (federation/routes/openid.ts).
import type { RequestHandler } from "express";
import { requester } from "../auth/authenticate.ts";
import { hashToken, newAccessToken } from "../auth/tokens.ts";
import { forbidden } from "../errors/matrix-error.ts";
import type { RouteTable } from "../http/route-table.ts";
import type { Database } from "../storage/database.ts";
import { insertOpenIdToken } from "../storage/openid-tokens.ts";

export function registerOpenId(table: RouteTable, body: RequestHandler, deps: { db: Database; serverName: string; auth: RequestHandler; lifetimeMs: number }): void {
  for (const prefix of ["/_matrix/client/v3", "/_matrix/client/r0"]) {
    table.add("POST", `${prefix}/user/:userId/openid/request_token`, deps.auth, body, async (req, res) => {
      const me = requester(res.locals);
      if (req.params.userId !== me.userId) throw forbidden("You can only ask for an OpenID token for yourself");
      const token = newAccessToken();
      const now = Date.now();
      await insertOpenIdToken(deps.db, hashToken(token), me.userId, now + deps.lifetimeMs, now);
      res.json({ access_token: token, token_type: "Bearer", matrix_server_name: deps.serverName, expires_in: Math.floor(deps.lifetimeMs / 1000) });
    });
  }
}
