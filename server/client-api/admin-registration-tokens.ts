// POST   /_synapse/admin/v1/registration_tokens/new
// GET    /_synapse/admin/v1/registration_tokens
// GET    /_synapse/admin/v1/registration_tokens/{token}
// PUT    /_synapse/admin/v1/registration_tokens/{token}
// DELETE /_synapse/admin/v1/registration_tokens/{token}
// Synapse's admin API for registration tokens, so operators' tooling carries
// over: https://element-hq.github.io/synapse/latest/usage/administration/admin_api/registration_tokens.html
import type { Request, RequestHandler } from "express";
import { requester } from "../auth/authenticate.ts";
import { generateToken, isWellFormedToken, MAX_TOKEN_LENGTH } from "../auth/registration-tokens.ts";
import { forbidden, invalidParam, notFound } from "../errors/matrix-error.ts";
import { requireJsonObject } from "../http/middleware.ts";
import type { RouteTable } from "../http/route-table.ts";
import type { Database } from "../storage/database.ts";
import {
  deleteRegistrationToken,
  getRegistrationToken,
  insertRegistrationToken,
  listRegistrationTokens,
  releaseExpiredReservations,
  updateRegistrationToken,
  type RegistrationToken,
} from "../storage/registration-tokens.ts";

export interface AdminRegistrationTokensDeps {
  db: Database;
  auth: RequestHandler;
}

const DEFAULT_LENGTH = 16;

function toJson(t: RegistrationToken): Record<string, unknown> {
  return { token: t.token, uses_allowed: t.usesAllowed, pending: t.pending, completed: t.completed, expiry_time: t.expiryTime };
}

/** `uses_allowed`: a non-negative integer or null (unlimited). */
function usesAllowedField(value: unknown): number | null {
  if (value === null) return null;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw invalidParam("uses_allowed must be a non-negative integer or null");
  }
  return value;
}

/** `expiry_time`: a future time in ms since the epoch, or null (never). */
function expiryTimeField(value: unknown, now: number): number | null {
  if (value === null) return null;
  if (typeof value !== "number" || !Number.isSafeInteger(value)) throw invalidParam("expiry_time must be an integer or null");
  if (value < now) throw invalidParam("expiry_time must not be in the past");
  return value;
}

export function registerAdminRegistrationTokens(table: RouteTable, body: RequestHandler, deps: AdminRegistrationTokensDeps): void {
  const { db } = deps;
  const base = "/_synapse/admin/v1/registration_tokens";
  const adminOnly: RequestHandler = (_req, res, next) => {
    if (!requester(res.locals).isAdmin) throw forbidden("You are not a server admin");
    next();
  };
  const tokenParam = (req: Request) => String(req.params.token);

  table.add("GET", base, deps.auth, adminOnly, async (req, res) => {
    const raw = req.query.valid;
    let valid: boolean | undefined;
    if (raw !== undefined) {
      if (raw !== "true" && raw !== "false") throw invalidParam("valid must be true or false");
      valid = raw === "true";
    }
    const now = Date.now();
    await releaseExpiredReservations(db, now);
    res.json({ registration_tokens: (await listRegistrationTokens(db, valid, now)).map(toJson) });
  });

  // Registered before /:token so "new" is never read as a token (GET /new is a lookup of a token named "new").
  table.add("POST", `${base}/new`, deps.auth, adminOnly, body, async (req, res) => {
    const params = requireJsonObject(req);
    const now = Date.now();
    let token: string;
    if (params.token !== undefined) {
      if (typeof params.token !== "string" || !isWellFormedToken(params.token)) {
        throw invalidParam(`token must be 1-${MAX_TOKEN_LENGTH} characters of A-Z, a-z, 0-9, '.', '_', '~' and '-'`);
      }
      token = params.token;
    } else {
      const length = params.length ?? DEFAULT_LENGTH;
      if (typeof length !== "number" || !Number.isInteger(length) || length < 1 || length > MAX_TOKEN_LENGTH) {
        throw invalidParam(`length must be an integer from 1 to ${MAX_TOKEN_LENGTH}`);
      }
      token = generateToken(length);
    }
    const usesAllowed = params.uses_allowed === undefined ? null : usesAllowedField(params.uses_allowed);
    const expiryTime = params.expiry_time === undefined ? null : expiryTimeField(params.expiry_time, now);
    const created = await insertRegistrationToken(db, { token, usesAllowed, expiryTime });
    if (!created) throw invalidParam(`Token already exists: ${token}`);
    res.json(toJson(created));
  });

  table.add("GET", `${base}/:token`, deps.auth, adminOnly, async (req, res) => {
    await releaseExpiredReservations(db, Date.now());
    const found = await getRegistrationToken(db, tokenParam(req));
    if (!found) throw notFound(`No such registration token: ${tokenParam(req)}`);
    res.json(toJson(found));
  });

  table.add("PUT", `${base}/:token`, deps.auth, adminOnly, body, async (req, res) => {
    const params = requireJsonObject(req);
    const now = Date.now();
    const changes: { usesAllowed?: number | null; expiryTime?: number | null } = {};
    if (params.uses_allowed !== undefined) changes.usesAllowed = usesAllowedField(params.uses_allowed);
    if (params.expiry_time !== undefined) changes.expiryTime = expiryTimeField(params.expiry_time, now);
    await releaseExpiredReservations(db, now);
    const updated = await updateRegistrationToken(db, tokenParam(req), changes);
    if (!updated) throw notFound(`No such registration token: ${tokenParam(req)}`);
    res.json(toJson(updated));
  });

  table.add("DELETE", `${base}/:token`, deps.auth, adminOnly, async (req, res) => {
    if (!(await deleteRegistrationToken(db, tokenParam(req)))) throw notFound(`No such registration token: ${tokenParam(req)}`);
    res.json({});
  });
}
