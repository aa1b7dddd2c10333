// Users, profiles, devices and tokens (migrations/0001_accounts.sql).
import type { Queryable } from "./database.ts";
import { keyedRead } from "./keyed-read.ts";

export interface UserRow {
  userId: string;
  passwordHash: string | null;
  isAdmin: boolean;
  isGuest: boolean;
  deactivated: boolean;
  createdTs: number;
}

export interface NewUser {
  userId: string;
  passwordHash: string | null;
  isAdmin: boolean;
  isGuest: boolean;
  displayname: string | null;
  createdTs: number;
}

/** Creates the user and its profile; false when the user ID is taken. */
export async function insertUser(q: Queryable, user: NewUser): Promise<boolean> {
  const inserted = await q.query(
    `INSERT INTO users (user_id, password_hash, is_admin, is_guest, created_ts) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (user_id) DO NOTHING`,
    [user.userId, user.passwordHash, user.isAdmin, user.isGuest, user.createdTs],
  );
  if (inserted.rowCount === 0) return false;
  await q.query(`INSERT INTO profiles (user_id, displayname) VALUES ($1, $2)`, [user.userId, user.displayname]);
  return true;
}

export async function getUser(q: Queryable, userId: string): Promise<UserRow | undefined> {
  const { rows } = await q.query<{ user_id: string; password_hash: string | null; is_admin: boolean; is_guest: boolean; deactivated: boolean; created_ts: number }>(
    `SELECT user_id, password_hash, is_admin, is_guest, deactivated, created_ts FROM users WHERE user_id = $1`,
    [userId],
  );
  const row = rows[0];
  return row && {
    userId: row.user_id,
    passwordHash: row.password_hash,
    isAdmin: row.is_admin,
    isGuest: row.is_guest,
    deactivated: row.deactivated,
    createdTs: row.created_ts,
  };
}

export async function setPasswordHash(q: Queryable, userId: string, passwordHash: string | null): Promise<void> {
  await q.query(`UPDATE users SET password_hash = $2 WHERE user_id = $1`, [userId, passwordHash]);
}

/**
 * Marks the account deactivated. The password hash is kept on purpose: login
 * verifies the password first and only then answers 403 M_USER_DEACTIVATED,
 * so a wrong password still gets the same M_FORBIDDEN as an unknown user and
 * the deactivated state is only revealed to someone who knows the password.
 */
export async function markDeactivated(q: Queryable, userId: string): Promise<void> {
  await q.query(`UPDATE users SET deactivated = TRUE WHERE user_id = $1`, [userId]);
}

export interface DeviceRow {
  deviceId: string;
  displayName: string | null;
  lastSeenTs: number | null;
  lastSeenIp: string | null;
}

/** Creates the device, or keeps the existing one (and its name) when the client reuses a device ID. */
export async function upsertDevice(q: Queryable, userId: string, deviceId: string, displayName: string | null, now: number): Promise<void> {
  await q.query(
    `INSERT INTO devices (user_id, device_id, display_name, created_ts) VALUES ($1, $2, $3, $4)
     ON CONFLICT (user_id, device_id) DO UPDATE SET display_name = COALESCE(EXCLUDED.display_name, devices.display_name)`,
    [userId, deviceId, displayName, now],
  );
}

interface DeviceDbRow {
  device_id: string;
  display_name: string | null;
  last_seen_ts: number | null;
  last_seen_ip: string | null;
}

const deviceRow = (r: DeviceDbRow): DeviceRow => ({ deviceId: r.device_id, displayName: r.display_name, lastSeenTs: r.last_seen_ts, lastSeenIp: r.last_seen_ip });

export async function listDevices(q: Queryable, userId: string): Promise<DeviceRow[]> {
  const { rows } = await q.query<DeviceDbRow>(
    `SELECT device_id, display_name, last_seen_ts, last_seen_ip FROM devices WHERE user_id = $1 ORDER BY device_id`,
    [userId],
  );
  return rows.map(deviceRow);
}

export async function getDevice(q: Queryable, userId: string, deviceId: string): Promise<DeviceRow | undefined> {
  const { rows } = await q.query<DeviceDbRow>(
    `SELECT device_id, display_name, last_seen_ts, last_seen_ip FROM devices WHERE user_id = $1 AND device_id = $2`,
    [userId, deviceId],
  );
  return rows[0] && deviceRow(rows[0]);
}

/** Renames a device; false when the user has no such device. */
export async function setDeviceDisplayName(q: Queryable, userId: string, deviceId: string, displayName: string): Promise<boolean> {
  const { rowCount } = await q.query(`UPDATE devices SET display_name = $3 WHERE user_id = $1 AND device_id = $2`, [userId, deviceId, displayName]);
  return (rowCount ?? 0) > 0;
}

/**
 * Records an authenticated request on the device, unless it was recorded less
 * than `minIntervalMs` ago (the guard holds across server processes; callers
 * also throttle in memory so most requests issue no query at all).
 */
export async function touchDevice(
  q: Queryable,
  userId: string,
  deviceId: string,
  seen: { ts: number; ip: string | null; userAgent: string | null },
  minIntervalMs: number,
): Promise<void> {
  await q.query(
    `UPDATE devices SET last_seen_ts = $3, last_seen_ip = $4, last_seen_user_agent = $5
      WHERE user_id = $1 AND device_id = $2 AND (last_seen_ts IS NULL OR last_seen_ts <= $6)`,
    [userId, deviceId, seen.ts, seen.ip, seen.userAgent, seen.ts - minIntervalMs],
  );
}

/** Deletes devices (their tokens go with them through ON DELETE CASCADE); returns the ids removed. */
export async function deleteDevices(q: Queryable, userId: string, deviceIds: readonly string[]): Promise<string[]> {
  const { rows } = await q.query<{ device_id: string }>(
    `DELETE FROM devices WHERE user_id = $1 AND device_id = ANY($2::text[]) RETURNING device_id`,
    [userId, deviceIds],
  );
  return rows.map((r) => r.device_id);
}

export async function deleteAllDevices(q: Queryable, userId: string): Promise<string[]> {
  const { rows } = await q.query<{ device_id: string }>(`DELETE FROM devices WHERE user_id = $1 RETURNING device_id`, [userId]);
  return rows.map((r) => r.device_id);
}

/** Deletes every device of the user but `keepDeviceId` (password change); returns the ids removed. */
export async function deleteOtherDevices(q: Queryable, userId: string, keepDeviceId: string): Promise<string[]> {
  const { rows } = await q.query<{ device_id: string }>(`DELETE FROM devices WHERE user_id = $1 AND device_id <> $2 RETURNING device_id`, [userId, keepDeviceId]);
  return rows.map((r) => r.device_id);
}

export interface TokenOwner {
  tokenId: number;
  userId: string;
  deviceId: string;
  expiresTs: number | null;
  isAdmin: boolean;
  isGuest: boolean;
  deactivated: boolean;
  suspended: boolean;
  locked: boolean;
  /** The refresh token issued with this access token, if any. */
  refreshTokenId: number | null;
  /**
   * True while the refresh token this pair replaced still exists, i.e. this is
   * the first use of a freshly refreshed pair: the caller then retires it
   * (retireReplacedRefreshTokens).
   */
  replacesRefreshToken: boolean;
}

export async function insertAccessToken(
  q: Queryable,
  token: { hash: Buffer; userId: string; deviceId: string; createdTs: number; expiresTs: number | null; refreshTokenId: number | null },
): Promise<number> {
  const { rows } = await q.query<{ token_id: number }>(
    `INSERT INTO access_tokens (token_hash, user_id, device_id, created_ts, expires_ts, refresh_token_id)
     VALUES ($1, $2, $3, $4, $5, $6) RETURNING token_id`,
    [token.hash, token.userId, token.deviceId, token.createdTs, token.expiresTs, token.refreshTokenId],
  );
  return rows[0]!.token_id;
}

// Keyed by token hash: the long-polls a fan-out answers come back together,
// and their authentication is one statement.
const accessTokensOf = keyedRead<{
  token_id: number;
  user_id: string;
  device_id: string;
  expires_ts: number | null;
  is_admin: boolean;
  is_guest: boolean;
  deactivated: boolean;
  suspended: boolean;
  locked: boolean;
  refresh_token_id: number | null;
  replaces_refresh_token: boolean;
}>(
  // The EXISTS probe only runs for refreshable tokens and goes through the
  // refresh_tokens_device index (a device has at most two live refresh tokens).
  `SELECT k.key_index, t.token_id, t.user_id, t.device_id, t.expires_ts, u.is_admin, u.is_guest, u.deactivated, u.suspended, u.locked, t.refresh_token_id,
          (t.refresh_token_id IS NOT NULL AND EXISTS (
             SELECT 1 FROM refresh_tokens p
              WHERE p.user_id = t.user_id AND p.device_id = t.device_id AND p.next_refresh_token_id = t.refresh_token_id
          )) AS replaces_refresh_token
     FROM unnest($1::bytea[]) WITH ORDINALITY AS k(token_hash, key_index)
     JOIN access_tokens t ON t.token_hash = k.token_hash
     JOIN users u ON u.user_id = t.user_id`,
  1,
);

export async function findAccessToken(q: Queryable, hash: Buffer): Promise<TokenOwner | undefined> {
  const [rows] = await accessTokensOf(q, [[hash]]);
  const r = rows![0];
  return (
    r && {
      tokenId: r.token_id,
      userId: r.user_id,
      deviceId: r.device_id,
      expiresTs: r.expires_ts,
      isAdmin: r.is_admin,
      isGuest: r.is_guest,
      deactivated: r.deactivated,
      suspended: r.suspended,
      locked: r.locked,
      refreshTokenId: r.refresh_token_id,
      replacesRefreshToken: r.replaces_refresh_token,
    }
  );
}

export async function deleteAccessTokensOfDevice(q: Queryable, userId: string, deviceId: string): Promise<void> {
  await q.query(`DELETE FROM access_tokens WHERE user_id = $1 AND device_id = $2`, [userId, deviceId]);
  await q.query(`DELETE FROM refresh_tokens WHERE user_id = $1 AND device_id = $2`, [userId, deviceId]);
}

export async function insertRefreshToken(q: Queryable, token: { hash: Buffer; userId: string; deviceId: string; createdTs: number }): Promise<number> {
  const { rows } = await q.query<{ refresh_token_id: number }>(
    `INSERT INTO refresh_tokens (token_hash, user_id, device_id, created_ts) VALUES ($1, $2, $3, $4) RETURNING refresh_token_id`,
    [token.hash, token.userId, token.deviceId, token.createdTs],
  );
  return rows[0]!.refresh_token_id;
}

export interface RefreshTokenRow {
  refreshTokenId: number;
  userId: string;
  deviceId: string;
  nextRefreshTokenId: number | null;
}

/** Locks the refresh token row for the rest of the transaction, so two concurrent refreshes serialise. */
export async function findRefreshTokenForUpdate(q: Queryable, hash: Buffer): Promise<RefreshTokenRow | undefined> {
  const { rows } = await q.query<{ refresh_token_id: number; user_id: string; device_id: string; next_refresh_token_id: number | null }>(
    `SELECT refresh_token_id, user_id, device_id, next_refresh_token_id FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE`,
    [hash],
  );
  const r = rows[0];
  return r && { refreshTokenId: r.refresh_token_id, userId: r.user_id, deviceId: r.device_id, nextRefreshTokenId: r.next_refresh_token_id };
}

/**
 * Records that `old` was used to issue the refresh token `newId` (Synapse's
 * replace_refresh_token). `old` and its access token stay valid until the new
 * pair is first used, so a client that lost the /refresh response can retry.
 * Two kinds of token die here, each with its access tokens:
 * - the successor `old` had from an earlier, unconfirmed refresh (a retry
 *   supersedes it: only the latest answer counts);
 * - the token `old` itself replaced: refreshing with `old` proves the pair
 *   issued with it arrived, so its predecessor is finished.
 * Call inside the transaction that locked `old` (findRefreshTokenForUpdate).
 */
export async function replaceRefreshToken(q: Queryable, old: RefreshTokenRow, newId: number): Promise<void> {
  await q.query(`UPDATE refresh_tokens SET next_refresh_token_id = $2 WHERE refresh_token_id = $1`, [old.refreshTokenId, newId]);
  await q.query(
    `WITH gone AS (
       DELETE FROM refresh_tokens
        WHERE user_id = $1 AND device_id = $2
          AND (refresh_token_id = $3 OR next_refresh_token_id = $4)
        RETURNING refresh_token_id
     )
     DELETE FROM access_tokens WHERE user_id = $1 AND device_id = $2 AND refresh_token_id IN (SELECT refresh_token_id FROM gone)`,
    [old.userId, old.deviceId, old.nextRefreshTokenId ?? -1, old.refreshTokenId],
  );
}

/**
 * The pair issued with `refreshTokenId` has been used: the refresh token it
 * replaced, and the access tokens issued with that one, stop working.
 */
export async function retireReplacedRefreshTokens(q: Queryable, userId: string, deviceId: string, refreshTokenId: number): Promise<void> {
  await q.query(
    `WITH gone AS (
       DELETE FROM refresh_tokens WHERE user_id = $1 AND device_id = $2 AND next_refresh_token_id = $3
       RETURNING refresh_token_id
     )
     DELETE FROM access_tokens WHERE user_id = $1 AND device_id = $2 AND refresh_token_id IN (SELECT refresh_token_id FROM gone)`,
    [userId, deviceId, refreshTokenId],
  );
}

export async function deleteRefreshToken(q: Queryable, id: number): Promise<void> {
  await q.query(`DELETE FROM refresh_tokens WHERE refresh_token_id = $1`, [id]);
}

export async function deleteAccessToken(q: Queryable, tokenId: number): Promise<{ refreshTokenId: number | null } | undefined> {
  const { rows } = await q.query<{ refresh_token_id: number | null }>(`DELETE FROM access_tokens WHERE token_id = $1 RETURNING refresh_token_id`, [tokenId]);
  return rows[0] && { refreshTokenId: rows[0].refresh_token_id };
}

export async function getProfile(q: Queryable, userId: string): Promise<{ displayname: string | null; avatarUrl: string | null } | undefined> {
  const { rows } = await q.query<{ displayname: string | null; avatar_url: string | null }>(`SELECT displayname, avatar_url FROM profiles WHERE user_id = $1`, [userId]);
  return rows[0] && { displayname: rows[0].displayname, avatarUrl: rows[0].avatar_url };
}

const SET_DISPLAYNAME = `UPDATE profiles SET displayname = $2 WHERE user_id = $1`;
const SET_AVATAR_URL = `UPDATE profiles SET avatar_url = $2 WHERE user_id = $1`;

/** Sets or clears (null) a profile field; false when the user has no profile. The directory index follows by trigger. */
export async function setProfileField(q: Queryable, userId: string, field: "displayname" | "avatar_url", value: string | null): Promise<boolean> {
  const { rowCount } = await q.query(field === "displayname" ? SET_DISPLAYNAME : SET_AVATAR_URL, [userId, value]);
  return (rowCount ?? 0) > 0;
}

export type ModerationFlag = "suspended" | "locked";

/** The flag of a local account, or undefined for an unknown or deactivated one (the admin API's 404). */
export async function getModerationFlag(q: Queryable, userId: string, flag: ModerationFlag): Promise<boolean | undefined> {
  const column = flag === "suspended" ? "suspended" : "locked";
  const { rows } = await q.query<{ value: boolean }>(`SELECT ${column} AS value FROM users WHERE user_id = $1 AND NOT deactivated`, [userId]);
  return rows[0]?.value;
}

export async function setModerationFlag(q: Queryable, userId: string, flag: ModerationFlag, value: boolean): Promise<void> {
  const column = flag === "suspended" ? "suspended" : "locked";
  await q.query(`UPDATE users SET ${column} = $2 WHERE user_id = $1`, [userId, value]);
}

/** Each device's last connection (admin whois). */
export async function listDeviceConnections(q: Queryable, userId: string): Promise<Array<{ deviceId: string; lastSeenTs: number | null; lastSeenIp: string | null; lastSeenUserAgent: string | null }>> {
  const { rows } = await q.query<{ device_id: string; last_seen_ts: number | null; last_seen_ip: string | null; last_seen_user_agent: string | null }>(
    `SELECT device_id, last_seen_ts, last_seen_ip, last_seen_user_agent FROM devices WHERE user_id = $1 ORDER BY device_id`,
    [userId],
  );
  return rows.map((r) => ({ deviceId: r.device_id, lastSeenTs: r.last_seen_ts, lastSeenIp: r.last_seen_ip, lastSeenUserAgent: r.last_seen_user_agent }));
}
