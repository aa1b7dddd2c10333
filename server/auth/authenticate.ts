// Access-token authentication for client-API routes. Tokens come only from the
// Authorization header: the spec removed query-string tokens (MSC4127).
import type { RequestHandler } from "express";
import { missingToken, unknownToken } from "../errors/matrix-error.ts";
import type { Database } from "../storage/database.ts";
import { findAccessToken } from "../storage/accounts.ts";
import { hashToken } from "./tokens.ts";

export interface Requester {
  userId: string;
  deviceId: string;
  tokenId: number;
  isAdmin: boolean;
  isGuest: boolean;
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Locals {
      requester?: Requester;
    }
  }
}

export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

export function requireAuth(db: Database, clock: () => number = Date.now): RequestHandler {
  return async (req, res, next) => {
    const token = bearerToken(req.get("authorization"));
    if (!token) throw missingToken();
    const owner = await findAccessToken(db, hashToken(token));
    if (!owner || owner.deactivated) throw unknownToken();
    // An expired refreshable token is a soft logout: the client refreshes and carries on.
    if (owner.expiresTs !== null && owner.expiresTs <= clock()) throw unknownToken(true);
    res.locals.requester = {
      userId: owner.userId,
      deviceId: owner.deviceId,
      tokenId: owner.tokenId,
      isAdmin: owner.isAdmin,
      isGuest: owner.isGuest,
    };
    res.locals.userId = owner.userId;
    res.locals.log = res.locals.log.child({ userId: owner.userId, deviceId: owner.deviceId });
    next();
  };
}

/** The authenticated requester; only valid behind requireAuth. */
export function requester(locals: { requester?: Requester }): Requester {
  if (!locals.requester) throw missingToken();
  return locals.requester;
}
