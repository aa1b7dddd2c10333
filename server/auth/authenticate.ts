// Access-token authentication for client-API routes. Tokens come only from the
// Authorization header: the spec removed query-string tokens (MSC4127).
import type { RequestHandler } from "express";
import { MatrixError, missingToken, unknownToken } from "../errors/matrix-error.ts";
import type { BoundedCache } from "../lib/bounded-cache.ts";
import type { Logger } from "../observability/logger.ts";
import type { Database } from "../storage/database.ts";
import { findAccessToken, retireReplacedRefreshTokens, touchDevice } from "../storage/accounts.ts";
import { hashToken } from "./tokens.ts";

export interface Requester {
  userId: string;
  deviceId: string;
  tokenId: number;
  isAdmin: boolean;
  isGuest: boolean;
  /** Suspended by an admin: may read but not send (refuseSuspended). */
  isSuspended: boolean;
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

/** devices.last_seen_* is written at most this often per device ("may be a few minutes out of date"). */
export const LAST_SEEN_INTERVAL_MS = 60_000;

/**
 * `lastWritten`: user\0device → when this process last wrote last_seen. It
 * is bounded (caches.device_last_seen): a device dropped from it only costs
 * one early write, which the SQL guard in touchDevice also covers for the
 * other processes.
 */
export function requireAuth(db: Database, lastWritten: BoundedCache<string, number>, clock: () => number = Date.now): RequestHandler {
  const recordSeen = (owner: { userId: string; deviceId: string }, seen: { ts: number; ip: string | null; userAgent: string | null }, log: Logger) => {
    const key = `${owner.userId}\0${owner.deviceId}`;
    const previous = lastWritten.get(key);
    if (previous !== undefined && seen.ts - previous < LAST_SEEN_INTERVAL_MS) return;
    lastWritten.set(key, seen.ts);
    // Not awaited: bookkeeping must not slow the request down. A failure is
    // logged and forgotten (the next write comes a minute later).
    touchDevice(db, owner.userId, owner.deviceId, seen, LAST_SEEN_INTERVAL_MS).catch((err: unknown) => {
      log.warn({ err }, "could not record device last_seen");
    });
  };

  return async (req, res, next) => {
    const token = bearerToken(req.get("authorization"));
    if (!token) throw missingToken();
    const now = clock();
    const me = await resolveAccessToken(db, token, now, LOGOUT_ROUTE.test(String(res.locals.route ?? "")));
    recordSeen(me, { ts: now, ip: clientAddress(req.socket.remoteAddress), userAgent: req.get("user-agent") ?? null }, res.locals.log);
    res.locals.requester = me;
    res.locals.userId = me.userId;
    res.locals.log = res.locals.log.child({ userId: me.userId, deviceId: me.deviceId });
    next();
  };
}

/**
 * The requester an access token stands for, or the spec's 401 error. Shared
 * by HTTP routes and the WebSocket stream, which authenticates the same way.
 */
export async function resolveAccessToken(db: Database, token: string, now: number, allowLocked = false): Promise<Requester> {
  const owner = await findAccessToken(db, hashToken(token));
  if (!owner || owner.deactivated) throw unknownToken();
  // A locked account keeps its tokens but may only log out (spec "Account locking").
  if (owner.locked && !allowLocked) throw new MatrixError(401, "M_USER_LOCKED", "This account has been locked", { soft_logout: true });
  // An expired refreshable token is a soft logout: the client refreshes and carries on.
  if (owner.expiresTs !== null && owner.expiresTs <= now) throw unknownToken(true);
  // First use of a refreshed pair: the refresh token it replaced (kept so a
  // lost /refresh answer could be retried) stops working now, as the spec
  // ("Refreshing access tokens") and Synapse have it; we drop the old access
  // token with it rather than let it live out its few minutes.
  if (owner.replacesRefreshToken && owner.refreshTokenId !== null) {
    await retireReplacedRefreshTokens(db, owner.userId, owner.deviceId, owner.refreshTokenId);
  }
  return {
    userId: owner.userId,
    deviceId: owner.deviceId,
    tokenId: owner.tokenId,
    isAdmin: owner.isAdmin,
    isGuest: owner.isGuest,
    isSuspended: owner.suspended,
  };
}

/** The routes a locked user may still call. */
const LOGOUT_ROUTE = /^\/_matrix\/client\/(v3|r0)\/logout(\/all)?$/;

/**
 * Behind requireAuth on the endpoints a suspended user may not use: sending
 * events, joining, knocking, inviting, creating or upgrading rooms, changing
 * the profile. Reads, leaving and redacting one's own events stay open.
 */
export const refuseSuspended: RequestHandler = (_req, res, next) => {
  if (requester(res.locals).isSuspended) throw userSuspended();
  next();
};

export const userSuspended = (): MatrixError => new MatrixError(403, "M_USER_SUSPENDED", "This account has been suspended");

/** The peer address, with IPv4-mapped IPv6 (::ffff:1.2.3.4) shown as plain IPv4. */
function clientAddress(address: string | undefined): string | null {
  if (address === undefined) return null;
  return /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(address) ? address.slice(7) : address;
}

/** The authenticated requester; only valid behind requireAuth. */
export function requester(locals: { requester?: Requester }): Requester {
  if (!locals.requester) throw missingToken();
  return locals.requester;
}
