// GET/POST /_synapse/admin/v1/register — shared-secret registration, the way
// Synapse's register_new_matrix_user works, so operators' tooling carries over.
// The MAC is HMAC-SHA1 over nonce, username, password and admin flag (and
// user_type when given), NUL-separated, keyed with registration_shared_secret.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { RequestHandler } from "express";
import type { Redis } from "ioredis";
import { hashPassword } from "../auth/passwords.ts";
import { issueSession, type SessionPolicy } from "../auth/sessions.ts";
import { badJson, forbidden, MatrixError } from "../errors/matrix-error.ts";
import { requireJsonObject } from "../http/middleware.ts";
import type { RouteTable } from "../http/route-table.ts";
import type { Database } from "../storage/database.ts";
import { insertUser } from "../storage/accounts.ts";
import { optionalBoolean, optionalString, requiredString } from "./params.ts";
import { checkNewLocalpart } from "./user-ids.ts";

export interface AdminRegisterDeps {
  db: Database;
  redis: Redis;
  serverName: string;
  sharedSecret: string | undefined;
  policy: SessionPolicy;
}

const NONCE_TTL_SECONDS = 60;

export function registerAdminRegistration(table: RouteTable, body: RequestHandler, deps: AdminRegisterDeps): void {
  const path = "/_synapse/admin/v1/register";
  const requireSecret = (): string => {
    if (!deps.sharedSecret) throw new MatrixError(400, "M_UNKNOWN", "Shared secret registration is not enabled");
    return deps.sharedSecret;
  };

  table.add("GET", path, async (_req, res) => {
    requireSecret();
    const nonce = randomBytes(20).toString("hex");
    await deps.redis.set(`admin-register-nonce:${nonce}`, "1", "EX", NONCE_TTL_SECONDS);
    res.json({ nonce });
  });

  table.add("POST", path, body, async (req, res) => {
    const secret = requireSecret();
    const params = requireJsonObject(req);
    const nonce = requiredString(params, "nonce");
    const username = requiredString(params, "username");
    const password = requiredString(params, "password");
    const admin = optionalBoolean(params, "admin") ?? false;
    const userType = optionalString(params, "user_type");
    const mac = requiredString(params, "mac");
    // Single use: the nonce is deleted as it is checked.
    if ((await deps.redis.getdel(`admin-register-nonce:${nonce}`)) === null) throw badJson("unrecognised nonce");

    const hmac = createHmac("sha1", secret);
    hmac.update(nonce).update("\x00").update(username).update("\x00").update(password).update("\x00").update(admin ? "admin" : "notadmin");
    if (userType !== undefined) hmac.update("\x00").update(userType);
    const expected = hmac.digest();
    const given = /^[0-9a-f]+$/i.test(mac) ? Buffer.from(mac, "hex") : Buffer.alloc(0);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw forbidden("HMAC incorrect");

    const userId = checkNewLocalpart(username.toLowerCase(), deps.serverName);
    const passwordHash = await hashPassword(password);
    const now = Date.now();
    const session = await deps.db.transaction(async (tx) => {
      const created = await insertUser(tx, { userId, passwordHash, isAdmin: admin, isGuest: false, displayname: optionalString(params, "displayname") ?? username, createdTs: now });
      if (!created) throw new MatrixError(400, "M_USER_IN_USE", "User ID already taken.");
      return issueSession(tx, deps.policy, { userId, refreshable: false, now });
    });
    res.json({ ...session, home_server: deps.serverName });
  });
}
