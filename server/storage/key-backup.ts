// Server-side key backups: versions and the backed-up session keys
// (migrations/0012_e2ee.sql).
import type { JsonObject } from "../protocol/json.ts";
import type { Queryable } from "./database.ts";

export interface BackupVersionRow {
  version: number;
  algorithm: string;
  authData: JsonObject;
  etag: number;
  count: number;
  deleted: boolean;
}

interface VersionDbRow {
  version: number;
  algorithm: string;
  auth_data: string;
  etag: number;
  key_count: number;
  deleted: boolean;
}

const COLUMNS = `version, algorithm, auth_data, etag, key_count, deleted`;
const versionRow = (r: VersionDbRow): BackupVersionRow => ({
  version: r.version,
  algorithm: r.algorithm,
  authData: JSON.parse(r.auth_data) as JsonObject,
  etag: r.etag,
  count: r.key_count,
  deleted: r.deleted,
});

/** The current backup: the newest version not deleted. */
export async function currentBackupVersion(q: Queryable, userId: string): Promise<BackupVersionRow | undefined> {
  const { rows } = await q.query<VersionDbRow>(
    `SELECT ${COLUMNS} FROM e2e_room_keys_versions WHERE user_id = $1 AND NOT deleted ORDER BY version DESC LIMIT 1`,
    [userId],
  );
  return rows[0] && versionRow(rows[0]);
}

/** One version, deleted or not; `forUpdate` locks it for the rest of the transaction. */
export async function getBackupVersion(q: Queryable, userId: string, version: number, forUpdate = false): Promise<BackupVersionRow | undefined> {
  const { rows } = await q.query<VersionDbRow>(
    `SELECT ${COLUMNS} FROM e2e_room_keys_versions WHERE user_id = $1 AND version = $2 ${forUpdate ? "FOR UPDATE" : ""}`,
    [userId, version],
  );
  return rows[0] && versionRow(rows[0]);
}

/** Creates the next version (numbers are never reused); serialised per user by a row lock on the account. */
export async function createBackupVersion(q: Queryable, userId: string, algorithm: string, authData: JsonObject): Promise<number> {
  await q.query(`SELECT 1 FROM users WHERE user_id = $1 FOR UPDATE`, [userId]);
  const { rows } = await q.query<{ version: number }>(
    `INSERT INTO e2e_room_keys_versions (user_id, version, algorithm, auth_data)
     SELECT $1, COALESCE(max(version), 0) + 1, $2, $3 FROM e2e_room_keys_versions WHERE user_id = $1
     RETURNING version`,
    [userId, algorithm, JSON.stringify(authData)],
  );
  return rows[0]!.version;
}

export async function updateBackupAuthData(q: Queryable, userId: string, version: number, authData: JsonObject): Promise<void> {
  await q.query(`UPDATE e2e_room_keys_versions SET auth_data = $3 WHERE user_id = $1 AND version = $2`, [userId, version, JSON.stringify(authData)]);
}

/** Marks the version deleted and drops its keys. */
export async function deleteBackupVersion(q: Queryable, userId: string, version: number): Promise<void> {
  await q.query(`DELETE FROM e2e_room_keys WHERE user_id = $1 AND version = $2`, [userId, version]);
  await q.query(`UPDATE e2e_room_keys_versions SET deleted = TRUE, key_count = 0, etag = etag + 1 WHERE user_id = $1 AND version = $2`, [userId, version]);
}

/** Records a change of the version's keys: a new etag and the new count. */
export async function bumpBackupVersion(q: Queryable, userId: string, version: number, countDelta: number): Promise<{ etag: number; count: number }> {
  const { rows } = await q.query<{ etag: number; key_count: number }>(
    `UPDATE e2e_room_keys_versions SET etag = etag + 1, key_count = key_count + $3 WHERE user_id = $1 AND version = $2 RETURNING etag, key_count`,
    [userId, version, countDelta],
  );
  return { etag: rows[0]!.etag, count: rows[0]!.key_count };
}

export interface BackedUpKey {
  roomId: string;
  sessionId: string;
  firstMessageIndex: number;
  forwardedCount: number;
  isVerified: boolean;
  sessionData: JsonObject;
}

interface KeyDbRow {
  room_id: string;
  session_id: string;
  first_message_index: number;
  forwarded_count: number;
  is_verified: boolean;
  session_data: string;
}

const keyRow = (r: KeyDbRow): BackedUpKey => ({
  roomId: r.room_id,
  sessionId: r.session_id,
  firstMessageIndex: r.first_message_index,
  forwardedCount: r.forwarded_count,
  isVerified: r.is_verified,
  sessionData: JSON.parse(r.session_data) as JsonObject,
});

/** Keys of the version: all, one room's, or one session's. */
export async function backedUpKeys(q: Queryable, userId: string, version: number, roomId?: string, sessionId?: string): Promise<BackedUpKey[]> {
  const { rows } = await q.query<KeyDbRow>(
    `SELECT room_id, session_id, first_message_index, forwarded_count, is_verified, session_data FROM e2e_room_keys
      WHERE user_id = $1 AND version = $2 AND ($3::text IS NULL OR room_id = $3) AND ($4::text IS NULL OR session_id = $4)
      ORDER BY room_id, session_id`,
    [userId, version, roomId ?? null, sessionId ?? null],
  );
  return rows.map(keyRow);
}

/** The stored keys for these (room, session) pairs. */
export async function backedUpKeysFor(q: Queryable, userId: string, version: number, ids: ReadonlyArray<{ roomId: string; sessionId: string }>): Promise<BackedUpKey[]> {
  if (ids.length === 0) return [];
  const { rows } = await q.query<KeyDbRow>(
    `SELECT room_id, session_id, first_message_index, forwarded_count, is_verified, session_data FROM e2e_room_keys
      WHERE user_id = $1 AND version = $2 AND (room_id, session_id) IN (SELECT * FROM unnest($3::text[], $4::text[]))`,
    [userId, version, ids.map((i) => i.roomId), ids.map((i) => i.sessionId)],
  );
  return rows.map(keyRow);
}

/** Writes keys (inserting or replacing); the caller has decided which replace what. */
export async function putBackedUpKeys(q: Queryable, userId: string, version: number, keys: readonly BackedUpKey[]): Promise<void> {
  if (keys.length === 0) return;
  await q.query(
    `INSERT INTO e2e_room_keys (user_id, version, room_id, session_id, first_message_index, forwarded_count, is_verified, session_data)
     SELECT $1, $2, * FROM unnest($3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::boolean[], $8::text[])
     ON CONFLICT (user_id, version, room_id, session_id) DO UPDATE SET
       first_message_index = EXCLUDED.first_message_index, forwarded_count = EXCLUDED.forwarded_count,
       is_verified = EXCLUDED.is_verified, session_data = EXCLUDED.session_data`,
    [
      userId,
      version,
      keys.map((k) => k.roomId),
      keys.map((k) => k.sessionId),
      keys.map((k) => k.firstMessageIndex),
      keys.map((k) => k.forwardedCount),
      keys.map((k) => k.isVerified),
      keys.map((k) => JSON.stringify(k.sessionData)),
    ],
  );
}

/** Deletes keys of the version (all, one room's or one session's); returns how many. */
export async function deleteBackedUpKeys(q: Queryable, userId: string, version: number, roomId?: string, sessionId?: string): Promise<number> {
  const { rowCount } = await q.query(
    `DELETE FROM e2e_room_keys WHERE user_id = $1 AND version = $2 AND ($3::text IS NULL OR room_id = $3) AND ($4::text IS NULL OR session_id = $4)`,
    [userId, version, roomId ?? null, sessionId ?? null],
  );
  return rowCount ?? 0;
}
