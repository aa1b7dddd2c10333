// POST /_matrix/client/v3/register             https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3register
// GET  /_matrix/client/v3/register/available   https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3registeravailable
import { randomBytes } from "node:crypto";
import type { RequestHandler } from "express";
import { hashPassword } from "../auth/passwords.ts";
import { EMAIL, threepidCreds, type EmailValidation } from "../auth/email-validation.ts";
import { checkRegistrationTokenStage, completeRegistrationToken } from "../auth/registration-tokens.ts";
import { issueSession, type SessionPolicy } from "../auth/sessions.ts";
import type { Uia } from "../auth/uia.ts";
import { forbidden, MatrixError } from "../errors/matrix-error.ts";
import { requireJsonObject } from "../http/middleware.ts";
import type { RouteTable } from "../http/route-table.ts";
import { isJsonObject } from "../protocol/json.ts";
import type { Database } from "../storage/database.ts";
import { getUser, insertUser } from "../storage/accounts.ts";
import { insertThreepid } from "../storage/threepids.ts";
import { optionalBoolean, optionalString } from "./params.ts";
import { checkNewLocalpart } from "./user-ids.ts";

export interface RegisterDeps {
  db: Database;
  uia: Uia;
  serverName: string;
  policy: SessionPolicy;
  registration: { enabled: boolean; require_token: boolean };
  rateLimit: RequestHandler;
  /** With a mail server: the m.login.email.identity flow, which binds the address to the new account. */
  validation?: EmailValidation;
}

/** Synapse's limit: longer passwords only cost hashing time. */
const MAX_PASSWORD_LENGTH = 512;

export function registerRegistration(table: RouteTable, body: RequestHandler, deps: RegisterDeps): void {
  // With a mail server, registering with an address is offered beside the plain flow.
  const flows = deps.registration.require_token ? [{ stages: ["m.login.registration_token"] }] : [{ stages: ["m.login.dummy"] }];
  if (deps.validation && !deps.registration.require_token) flows.push({ stages: ["m.login.email.identity"] });
  const validation = deps.validation;

  for (const prefix of ["/_matrix/client/v3", "/_matrix/client/r0"]) {
    table.add("GET", `${prefix}/register/available`, deps.rateLimit, async (req, res) => {
      const username = typeof req.query.username === "string" ? req.query.username : undefined;
      if (!username) throw new MatrixError(400, "M_MISSING_PARAM", "Missing username");
      const userId = checkNewLocalpart(username, deps.serverName);
      if (await getUser(deps.db, userId)) throw new MatrixError(400, "M_USER_IN_USE", "User ID already taken.");
      res.json({ available: true });
    });

    table.add("POST", `${prefix}/register`, deps.rateLimit, body, async (req, res) => {
      const params = requireJsonObject(req);
      const kind = typeof req.query.kind === "string" ? req.query.kind : "user";
      if (kind !== "user") throw forbidden("Guest access is disabled");
      if (!deps.registration.enabled) throw forbidden("Registration has been disabled");

      const username = optionalString(params, "username");
      const password = optionalString(params, "password");
      if (password !== undefined && password.length > MAX_PASSWORD_LENGTH) throw new MatrixError(400, "M_WEAK_PASSWORD", "Password too long");
      const refreshable = optionalBoolean(params, "refresh_token") ?? false;
      const inhibitLogin = optionalBoolean(params, "inhibit_login") ?? false;
      const deviceId = optionalString(params, "device_id");
      const displayName = optionalString(params, "initial_device_display_name");

      // The username is checked before UIA so the client learns of a taken name first (as Synapse does).
      let userId: string | undefined;
      if (username !== undefined) {
        userId = checkNewLocalpart(username.toLowerCase(), deps.serverName);
        if (await getUser(deps.db, userId)) throw new MatrixError(400, "M_USER_IN_USE", "User ID already taken.");
      }

      // The e-mail stage is a flow of its own, so it completes in the request that registers.
      let emailCreds: { sessionId: string; clientSecret: string } | undefined;
      await deps.uia.authenticate(
        {
          flows,
          operation: "register",
          stages: {
            "m.login.dummy": async () => undefined,
            "m.login.registration_token": (auth) => checkRegistrationTokenStage(deps.db, auth),
            ...(validation
              ? {
                  "m.login.email.identity": async (auth: Record<string, unknown>) => {
                    emailCreds = threepidCreds(auth);
                    await validation.check(emailCreds, "registration");
                  },
                }
              : {}),
          },
        },
        params.auth,
      );

      // The session whose token reservation this registration completes.
      const uiaSession = isJsonObject(params.auth) && typeof params.auth.session === "string" ? params.auth.session : undefined;
      const passwordHash = password === undefined ? null : await hashPassword(password);
      const now = Date.now();
      const result = await deps.db.transaction(async (tx) => {
        const id = userId ?? (await generateUserId(tx, deps.serverName));
        const created = await insertUser(tx, { userId: id, passwordHash, isAdmin: false, isGuest: false, displayname: localpartOf(id), createdTs: now });
        if (!created) throw new MatrixError(400, "M_USER_IN_USE", "User ID already taken.");
        if (deps.registration.require_token) await completeRegistrationToken(tx, uiaSession);
        if (emailCreds && validation) {
          const proven = await validation.consume(emailCreds, "registration", tx);
          // Taken meanwhile by another account: the whole registration rolls back.
          if (!(await insertThreepid(tx, { userId: id, medium: EMAIL, address: proven.address, validatedTs: proven.validatedTs, addedTs: now }))) {
            throw new MatrixError(400, "M_THREEPID_IN_USE", "This email address is already in use");
          }
        }
        if (inhibitLogin) return { user_id: id };
        return issueSession(tx, deps.policy, { userId: id, deviceId, displayName, refreshable, now });
      });
      res.locals.userId = result.user_id;
      res.json({ ...result, home_server: deps.serverName });
    });
  }
}

function localpartOf(userId: string): string {
  return userId.slice(1, userId.indexOf(":"));
}

async function generateUserId(tx: Parameters<typeof getUser>[0], serverName: string): Promise<string> {
  for (;;) {
    const candidate = `@u${randomBytes(6).toString("hex")}:${serverName}`;
    if (!(await getUser(tx, candidate))) return candidate;
  }
}
