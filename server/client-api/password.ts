// POST /_matrix/client/v3/account/password     https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3accountpassword
// POST /_matrix/client/v3/account/deactivate   https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3accountdeactivate
//
// Both take an access token and re-authentication through UIA with
// m.login.password (the stage is shared with the device API, devices.ts).
// Without an access token, /account/password is the password reset by e-mail:
// UIA with m.login.email.identity, for the account the validated address
// belongs to (when a mail server is configured; otherwise M_MISSING_TOKEN).
import type { RequestHandler } from "express";
import { bearerToken, requester } from "../auth/authenticate.ts";
import { EMAIL, threepidCreds, type EmailValidation } from "../auth/email-validation.ts";
import { decoyHash, hashPassword, verifyPassword } from "../auth/passwords.ts";
import type { StageHandler, Uia } from "../auth/uia.ts";
import { badJson, forbidden, MatrixError, missingParam } from "../errors/matrix-error.ts";
import { requireJsonObject } from "../http/middleware.ts";
import type { RouteTable } from "../http/route-table.ts";
import type { Database } from "../storage/database.ts";
import { deleteAllDevices, deleteOtherDevices, getUser, markDeactivated, setPasswordHash } from "../storage/accounts.ts";
import { deleteThreepidsOfUser, threepidOwner } from "../storage/threepids.ts";
import { optionalBoolean, optionalString } from "./params.ts";
import { resolveLocalUserId } from "./user-ids.ts";

/** What the m.login.password re-authentication needs. */
export interface ReauthDeps {
  db: Database;
  uia: Uia;
  serverName: string;
}

export interface PasswordDeps extends ReauthDeps {
  auth: RequestHandler;
  /** Throttles m.login.password attempts (the login limiter, keyed by user). */
  rateLimit?: RequestHandler;
  /** Told which devices lost their sessions (sockets close, device lists change). */
  onDevicesRemoved?: (userId: string, deviceIds: string[]) => void | Promise<void>;
  /** Called once an account is deactivated; the rooms layer makes the user leave every room. */
  onDeactivated?: (userId: string) => Promise<void> | void;
  /** E-mail validation, when a mail server is configured: enables the reset without an access token. */
  validation?: EmailValidation;
  /** Asks identity servers to forget the deactivated user's bindings (threepid.ts unbindAllThreepids). */
  unbindAll?: (userId: string, idServer: string | undefined) => Promise<"success" | "no-support">;
}

/** Synapse's limit: longer passwords only cost hashing time. */
const MAX_PASSWORD_LENGTH = 512;

/**
 * The m.login.password stage for an authenticated user proving it again.
 * The identifier must name the requester: naming anyone else is refused
 * before any password is checked, so a session cannot be used to guess other
 * users' passwords (Synapse checks the password first, then answers 403).
 * Failures are MatrixErrors, which uia.ts returns inside the 401 UIA body so
 * the client can retry in the same session.
 */
export function passwordStage(db: Database, serverName: string, userId: string): StageHandler {
  return async (auth) => {
    const claimed = authUser(auth, serverName);
    if (claimed !== userId) throw forbidden("The identifier does not match the logged-in user");
    const password = optionalString(auth, "password");
    if (password === undefined) throw missingParam("Missing password");
    const user = await getUser(db, userId);
    const valid = await verifyPassword(password, user?.passwordHash ?? (await decoyHash()));
    if (!user?.passwordHash || !valid) throw forbidden("Invalid password");
  };
}

/** The user an auth dict names: `identifier` (m.id.user) or the deprecated top-level `user`. */
function authUser(auth: Record<string, unknown>, serverName: string): string {
  const identifier = auth.identifier;
  if (identifier !== undefined && identifier !== null) {
    if (typeof identifier !== "object" || Array.isArray(identifier)) throw badJson("identifier must be an object");
    const id = identifier as Record<string, unknown>;
    if (id.type !== "m.id.user") throw new MatrixError(400, "M_UNKNOWN", `Unsupported identifier type ${String(id.type)}`);
    if (typeof id.user !== "string") throw badJson("identifier.user must be a string");
    return resolveLocalUserId(id.user, serverName);
  }
  const user = optionalString(auth, "user");
  if (user === undefined) throw missingParam("Missing identifier");
  return resolveLocalUserId(user, serverName);
}

/**
 * Runs UIA with the single flow [m.login.password] for `userId`. `operation`
 * binds the session to one request (uia.ts), so include what is authorised.
 */
export function reauthenticate(deps: ReauthDeps, userId: string, operation: string, auth: unknown): Promise<void> {
  return deps.uia.authenticate(
    {
      flows: [{ stages: ["m.login.password"] }],
      operation: `${operation} by ${userId}`,
      stages: { "m.login.password": passwordStage(deps.db, deps.serverName, userId) },
    },
    auth,
  );
}

/**
 * Applies `limiter` to requests that carry an m.login.password attempt, so a
 * stolen access token cannot be used to guess the password quickly (Synapse
 * rate-limits failed UIA attempts with rc_login). Runs after the body parser.
 */
export function limitPasswordAttempts(limiter: RequestHandler | undefined): RequestHandler {
  return (req, res, next) => {
    const auth = (req.body as { auth?: unknown } | undefined)?.auth;
    const type = auth !== null && typeof auth === "object" ? (auth as { type?: unknown }).type : undefined;
    if (limiter && type === "m.login.password") return limiter(req, res, next);
    next();
  };
}

export function registerPassword(table: RouteTable, body: RequestHandler, deps: PasswordDeps): void {
  const limit = limitPasswordAttempts(deps.rateLimit);

  for (const prefix of ["/_matrix/client/v3", "/_matrix/client/r0"]) {
    // The requesting device keeps its session (the spec says the server SHOULD
    // NOT revoke the token used); with logout_devices (default true) every other
    // device is deleted, its tokens with it, as Synapse does.
    const authUnlessReset: RequestHandler = (req, res, next) => {
      if (deps.validation && bearerToken(req.get("authorization")) === undefined) return next();
      return deps.auth(req, res, next);
    };
    table.add("POST", `${prefix}/account/password`, authUnlessReset, body, limit, async (req, res) => {
      const params = requireJsonObject(req);
      // Checked before UIA so the client does not prove itself for nothing.
      const newPassword = optionalString(params, "new_password");
      if (newPassword === undefined) throw missingParam("Missing new_password");
      if (newPassword.length === 0) throw new MatrixError(400, "M_WEAK_PASSWORD", "Password must not be empty");
      if (newPassword.length > MAX_PASSWORD_LENGTH) throw new MatrixError(400, "M_WEAK_PASSWORD", "Password too long");
      const logoutDevices = optionalBoolean(params, "logout_devices") ?? true;
      if (!res.locals.requester && deps.validation) {
        await resetByEmail(deps, deps.validation, params.auth, newPassword, logoutDevices);
        res.json({});
        return;
      }
      const me = requester(res.locals);

      await reauthenticate(deps, me.userId, "POST /account/password", params.auth);

      const passwordHash = await hashPassword(newPassword);
      const removed = await deps.db.transaction(async (tx) => {
        await setPasswordHash(tx, me.userId, passwordHash);
        return logoutDevices ? deleteOtherDevices(tx, me.userId, me.deviceId) : [];
      });
      if (removed.length > 0) await deps.onDevicesRemoved?.(me.userId, removed);
      res.json({});
    });

    // Deactivation deletes every device (the requester's too, so its token dies)
    // and marks the account; the user ID is never reissued. Its e-mail
    // addresses are released, and identity servers it bound them to are asked
    // to forget them (id_server_unbind_result "no-support" when one did not). `erase` is
    // accepted but not acted on yet: serving redacted copies needs the rooms layer.
    table.add("POST", `${prefix}/account/deactivate`, deps.auth, body, limit, async (req, res) => {
      const me = requester(res.locals);
      const params = requireJsonObject(req);
      optionalBoolean(params, "erase");
      const idServer = optionalString(params, "id_server");

      await reauthenticate(deps, me.userId, "POST /account/deactivate", params.auth);
      const unbound = (await deps.unbindAll?.(me.userId, idServer)) ?? "success";

      const removed = await deps.db.transaction(async (tx) => {
        await markDeactivated(tx, me.userId);
        await deleteThreepidsOfUser(tx, me.userId);
        return deleteAllDevices(tx, me.userId);
      });
      if (removed.length > 0) await deps.onDevicesRemoved?.(me.userId, removed);
      await deps.onDeactivated?.(me.userId);
      res.json({ id_server_unbind_result: unbound });
    });
  }
}

/**
 * The password reset by e-mail: UIA with m.login.email.identity for a
 * password_reset session, whose address names the account. With
 * logout_devices (default true) every device is logged out, since nobody who
 * forgot the password should stay signed in elsewhere unknowingly.
 */
async function resetByEmail(deps: PasswordDeps, validation: EmailValidation, auth: unknown, newPassword: string, logoutDevices: boolean): Promise<void> {
  let creds: { sessionId: string; clientSecret: string } | undefined;
  await deps.uia.authenticate(
    {
      flows: [{ stages: ["m.login.email.identity"] }],
      operation: "POST /account/password by email",
      stages: {
        "m.login.email.identity": async (dict) => {
          creds = threepidCreds(dict);
          await validation.check(creds, "password_reset");
        },
      },
    },
    auth,
  );
  if (!creds) throw new MatrixError(401, "M_THREEPID_AUTH_FAILED", "No validated email session found");
  const passwordHash = await hashPassword(newPassword);
  const found = creds;
  const result = await deps.db.transaction(async (tx) => {
    const { address } = await validation.consume(found, "password_reset", tx);
    const userId = await threepidOwner(tx, EMAIL, address);
    if (userId === undefined) throw new MatrixError(400, "M_THREEPID_NOT_FOUND", "Email not known to this server");
    await setPasswordHash(tx, userId, passwordHash);
    return { userId, removed: logoutDevices ? await deleteAllDevices(tx, userId) : [] };
  });
  if (result.removed.length > 0) await deps.onDevicesRemoved?.(result.userId, result.removed);
}
