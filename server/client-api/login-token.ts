// POST /_matrix/client/v1/login/get_token  https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv1loginget_token
// Issues a short-lived token another device can redeem with m.login.token
// (e.g. to sign in by QR code). Re-authentication through UIA first, since
// the token is as good as the account's password for two minutes.
import type { RequestHandler } from "express";
import { requester } from "../auth/authenticate.ts";
import { hashToken, newAccessToken } from "../auth/tokens.ts";
import type { Uia } from "../auth/uia.ts";
import type { RouteTable } from "../http/route-table.ts";
import type { Database } from "../storage/database.ts";
import { insertLoginToken } from "../storage/login-tokens.ts";
import { passwordStage } from "./password.ts";

/** Synapse's default lifetime for these tokens. */
export const LOGIN_TOKEN_LIFETIME_MS = 120_000;

export interface LoginTokenDeps {
  db: Database;
  uia: Uia;
  serverName: string;
  auth: RequestHandler;
  rateLimit: RequestHandler;
}

export function registerLoginToken(table: RouteTable, body: RequestHandler, deps: LoginTokenDeps): void {
  table.add("POST", "/_matrix/client/v1/login/get_token", deps.auth, deps.rateLimit, body, async (req, res) => {
    const me = requester(res.locals);
    const params = (req.body ?? {}) as Record<string, unknown>;
    await deps.uia.authenticate(
      {
        flows: [{ stages: ["m.login.password"] }],
        operation: `get_login_token:${me.userId}`,
        stages: { "m.login.password": passwordStage(deps.db, deps.serverName, me.userId) },
      },
      params.auth,
    );
    const token = newAccessToken().replace(/^myat_/, "mylt_");
    await insertLoginToken(deps.db, hashToken(token), me.userId, Date.now() + LOGIN_TOKEN_LIFETIME_MS);
    res.json({ login_token: token, expires_in_ms: LOGIN_TOKEN_LIFETIME_MS });
  });
}
