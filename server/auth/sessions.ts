// Issuing a login session: the device plus its access token, and a refresh
// token when the client asked for one (then the access token expires).
import type { Queryable } from "../storage/database.ts";
import { deleteAccessTokensOfDevice, insertAccessToken, insertRefreshToken, upsertDevice } from "../storage/accounts.ts";
import { hashToken, newAccessToken, newDeviceId, newRefreshToken } from "./tokens.ts";

export interface SessionPolicy {
  refreshableAccessTokenLifetimeMs: number;
}

export interface IssuedSession {
  user_id: string;
  device_id: string;
  access_token: string;
  refresh_token?: string;
  expires_in_ms?: number;
}

export async function issueSession(
  q: Queryable,
  policy: SessionPolicy,
  request: { userId: string; deviceId?: string | undefined; displayName?: string | undefined; refreshable: boolean; now: number },
): Promise<IssuedSession> {
  const deviceId = request.deviceId ?? newDeviceId();
  await upsertDevice(q, request.userId, deviceId, request.displayName ?? null, request.now);
  // Spec (POST /login): a reused device_id invalidates the tokens previously assigned to it.
  if (request.deviceId !== undefined) await deleteAccessTokensOfDevice(q, request.userId, deviceId);
  return issueTokens(q, policy, { userId: request.userId, deviceId, refreshable: request.refreshable, now: request.now });
}

export async function issueTokens(
  q: Queryable,
  policy: SessionPolicy,
  request: { userId: string; deviceId: string; refreshable: boolean; now: number },
): Promise<IssuedSession> {
  const accessToken = newAccessToken();
  let refreshToken: string | undefined;
  let refreshTokenId: number | null = null;
  if (request.refreshable) {
    refreshToken = newRefreshToken();
    refreshTokenId = await insertRefreshToken(q, { hash: hashToken(refreshToken), userId: request.userId, deviceId: request.deviceId, createdTs: request.now });
  }
  const lifetime = request.refreshable ? policy.refreshableAccessTokenLifetimeMs : undefined;
  await insertAccessToken(q, {
    hash: hashToken(accessToken),
    userId: request.userId,
    deviceId: request.deviceId,
    createdTs: request.now,
    expiresTs: lifetime === undefined ? null : request.now + lifetime,
    refreshTokenId,
  });
  return {
    user_id: request.userId,
    device_id: request.deviceId,
    access_token: accessToken,
    ...(refreshToken !== undefined && lifetime !== undefined ? { refresh_token: refreshToken, expires_in_ms: lifetime } : {}),
  };
}
