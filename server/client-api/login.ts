// GET  /_matrix/client/v3/login   https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3login
// POST /_matrix/client/v3/login   https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3login
//   m.login.password (by user ID, or by e-mail address with m.id.thirdparty),
//   and m.login.token with tokens from POST /login/get_token (login-token.ts).
import type { RequestHandler } from "express";
import { canonicalEmail, EMAIL } from "../auth/email-validation.ts";
import { decoyHash, verifyPassword } from "../auth/passwords.ts";
import { issueSession, type SessionPolicy } from "../auth/sessions.ts";
import { hashToken } from "../auth/tokens.ts";
import { badJson, forbidden, MatrixError } from "../errors/matrix-error.ts";
import { requireJsonObject } from "../http/middleware.ts";
import type { RouteTable } from "../http/route-table.ts";
import type { Database } from "../storage/database.ts";
import { getUser } from "../storage/accounts.ts";
import { consumeLoginToken } from "../storage/login-tokens.ts";
import { threepidOwner } from "../storage/threepids.ts";
import { optionalBoolean, optionalString } from "./params.ts";
import { resolveLocalUserId } from "./user-ids.ts";

export interface LoginDeps {
  db: Database;
  serverName: string;
  policy: SessionPolicy;
  rateLimit: RequestHandler;
}

export function registerLogin(table: RouteTable, body: RequestHandler, deps: LoginDeps): void {
  for (const prefix of ["/_matrix/client/v3", "/_matrix/client/r0"]) {
    table.add("GET", `${prefix}/login`, (_req, res) => {
      res.json({ flows: [{ type: "m.login.password" }, { type: "m.login.token", get_login_token: true }] });
    });
    table.add("POST", `${prefix}/login`, deps.rateLimit, body, async (req, res) => {
      const params = requireJsonObject(req);
      const type = optionalString(params, "type");
      let user;
      if (type === "m.login.password") {
        const userId = await identifierUser(deps.db, params, deps.serverName);
        const password = optionalString(params, "password");
        if (password === undefined) throw new MatrixError(400, "M_MISSING_PARAM", "Missing password");
        user = userId === undefined ? undefined : await getUser(deps.db, userId);
        // Verify against a decoy when the user is unknown so response time does not reveal it.
        const valid = await verifyPassword(password, user?.passwordHash ?? (await decoyHash()));
        if (!user || !user.passwordHash || !valid) throw forbidden("Invalid username or password");
      } else if (type === "m.login.token") {
        const token = optionalString(params, "token");
        if (token === undefined) throw new MatrixError(400, "M_MISSING_PARAM", "Missing token");
        const userId = await consumeLoginToken(deps.db, hashToken(token), Date.now());
        user = userId === undefined ? undefined : await getUser(deps.db, userId);
        if (!user) throw forbidden("Invalid login token");
      } else {
        throw new MatrixError(400, "M_UNKNOWN", `Unknown login type ${String(type)}`);
      }
      if (user.deactivated) throw new MatrixError(403, "M_USER_DEACTIVATED", "This account has been deactivated");
      const session = await deps.db.transaction((tx) =>
        issueSession(tx, deps.policy, {
          userId: user.userId,
          deviceId: optionalString(params, "device_id"),
          displayName: optionalString(params, "initial_device_display_name"),
          refreshable: optionalBoolean(params, "refresh_token") ?? false,
          now: Date.now(),
        }),
      );
      res.locals.userId = user.userId;
      res.json({ ...session, home_server: deps.serverName });
    });
  }
}

/**
 * The user being logged in: `identifier` (m.id.user, or m.id.thirdparty with
 * an e-mail address; the deprecated top-level `medium`/`address` too) or the
 * deprecated top-level `user`. An address nobody has is undefined, and then
 * checked against the decoy like an unknown user.
 */
async function identifierUser(db: Database, params: Record<string, unknown>, serverName: string): Promise<string | undefined> {
  const identifier = params.identifier;
  const thirdParty = (medium: unknown, address: unknown) => {
    if (medium !== EMAIL) throw new MatrixError(400, "M_UNKNOWN", `Unsupported third-party medium ${String(medium)}`);
    if (typeof address !== "string") throw badJson("address must be a string");
    return threepidOwner(db, EMAIL, canonicalEmail(address));
  };
  if (identifier === undefined && params.medium !== undefined) return thirdParty(params.medium, params.address);
  if (identifier !== undefined) {
    if (typeof identifier !== "object" || identifier === null || Array.isArray(identifier)) throw badJson("identifier must be an object");
    const id = identifier as Record<string, unknown>;
    if (id.type === "m.id.thirdparty") return thirdParty(id.medium, id.address);
    if (id.type !== "m.id.user") throw new MatrixError(400, "M_UNKNOWN", `Unsupported identifier type ${String(id.type)}`);
    if (typeof id.user !== "string") throw badJson("identifier.user must be a string");
    return resolveLocalUserId(id.user, serverName);
  }
  const user = optionalString(params, "user");
  if (user === undefined) throw new MatrixError(400, "M_MISSING_PARAM", "Missing identifier");
  return resolveLocalUserId(user, serverName);
}
