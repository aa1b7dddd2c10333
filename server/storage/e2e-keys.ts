// Device identity keys, one-time keys and fallback keys of local devices
// (migrations/0012_e2ee.sql). JSON values are stored as JSON text.
import type { JsonObject, JsonValue } from "../protocol/json.ts";
import type { Queryable } from "./database.ts";
import { keyedRead } from "./keyed-read.ts";

export interface DeviceKeysRow {
  userId: string;
  deviceId: string;
  keys: JsonObject;
  displayName: string | null;
}

/** The stored device keys of the device, if any. */
export async function getDeviceKeys(q: Queryable, userId: string, deviceId: string): Promise<JsonObject | undefined> {
  const { rows } = await q.query<{ key_json: string }>(`SELECT key_json FROM e2e_device_keys WHERE user_id = $1 AND device_id = $2`, [userId, deviceId]);
  return rows[0] && (JSON.parse(rows[0].key_json) as JsonObject);
}

/** Inserts or replaces the device's keys; false when they were already stored exactly so. */
export async function putDeviceKeys(q: Queryable, userId: string, deviceId: string, keysJson: string, now: number): Promise<boolean> {
  const { rowCount } = await q.query(
    `INSERT INTO e2e_device_keys (user_id, device_id, key_json, uploaded_ts) VALUES ($1, $2, $3, $4)
     ON CONFLICT (user_id, device_id) DO UPDATE SET key_json = EXCLUDED.key_json, uploaded_ts = EXCLUDED.uploaded_ts
       WHERE e2e_device_keys.key_json <> EXCLUDED.key_json`,
    [userId, deviceId, keysJson, now],
  );
  return (rowCount ?? 0) > 0;
}

/**
 * Device keys with the device's display name, for several users at once.
 * `deviceIds` per user: the devices asked for, or empty for all of them.
 */
export async function deviceKeysOfUsers(q: Queryable, wanted: ReadonlyMap<string, readonly string[]>): Promise<DeviceKeysRow[]> {
  const all = [...wanted].filter(([, ids]) => ids.length === 0).map(([u]) => u);
  const pairs = [...wanted].flatMap(([u, ids]) => ids.map((d) => [u, d] as const));
  if (all.length === 0 && pairs.length === 0) return [];
  const { rows } = await q.query<{ user_id: string; device_id: string; key_json: string; display_name: string | null }>(
    `SELECT k.user_id, k.device_id, k.key_json, d.display_name
       FROM e2e_device_keys k JOIN devices d USING (user_id, device_id)
      WHERE k.user_id = ANY($1::text[])
         OR (k.user_id, k.device_id) IN (SELECT * FROM unnest($2::text[], $3::text[]))`,
    [all, pairs.map((p) => p[0]), pairs.map((p) => p[1])],
  );
  return rows.map((r) => ({ userId: r.user_id, deviceId: r.device_id, keys: JSON.parse(r.key_json) as JsonObject, displayName: r.display_name }));
}

export interface OneTimeKey {
  algorithm: string;
  keyId: string;
  /** The key as JSON text, as uploaded. */
  json: string;
}

export interface StoredOneTimeKey extends OneTimeKey {
  claimed: boolean;
}

/** The device's one-time keys (claimed or not) with these key IDs. */
export async function oneTimeKeysById(q: Queryable, userId: string, deviceId: string, ids: readonly OneTimeKey[]): Promise<StoredOneTimeKey[]> {
  if (ids.length === 0) return [];
  const { rows } = await q.query<{ algorithm: string; key_id: string; key_json: string; claimed: boolean }>(
    `SELECT algorithm, key_id, key_json, claimed_ts IS NOT NULL AS claimed FROM e2e_one_time_keys
      WHERE user_id = $1 AND device_id = $2 AND (algorithm, key_id) IN (SELECT * FROM unnest($3::text[], $4::text[]))`,
    [userId, deviceId, ids.map((k) => k.algorithm), ids.map((k) => k.keyId)],
  );
  return rows.map((r) => ({ algorithm: r.algorithm, keyId: r.key_id, json: r.key_json, claimed: r.claimed }));
}

/** Adds one-time keys; keys whose ID is already stored are left as they are. */
export async function insertOneTimeKeys(q: Queryable, userId: string, deviceId: string, keys: readonly OneTimeKey[], now: number): Promise<void> {
  if (keys.length === 0) return;
  await q.query(
    `INSERT INTO e2e_one_time_keys (user_id, device_id, algorithm, key_id, key_json, uploaded_ts)
     SELECT $1, $2, a, k, j, $6 FROM unnest($3::text[], $4::text[], $5::text[]) AS t(a, k, j)
     ON CONFLICT (user_id, device_id, algorithm, key_id) DO NOTHING`,
    [userId, deviceId, keys.map((k) => k.algorithm), keys.map((k) => k.keyId), keys.map((k) => k.json), now],
  );
}

const unclaimedCounts = keyedRead<{ algorithm: string; n: number }>(
  `SELECT k.key_index, o.algorithm, count(*)::int AS n
     FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(user_id, device_id, key_index)
     JOIN e2e_one_time_keys o ON o.user_id = k.user_id AND o.device_id = k.device_id AND o.claimed_ts IS NULL
    GROUP BY k.key_index, o.algorithm`,
  2,
);

/** Unclaimed one-time keys of the device, by algorithm. */
export async function countUnclaimedOneTimeKeys(q: Queryable, userId: string, deviceId: string): Promise<Record<string, number>> {
  const [rows] = await unclaimedCounts(q, [[userId, deviceId]]);
  return Object.fromEntries(rows!.map((r) => [r.algorithm, r.n]));
}

export interface ClaimRequest {
  userId: string;
  deviceId: string;
  algorithm: string;
}

export interface ClaimedKey extends ClaimRequest {
  keyId: string;
  key: JsonValue;
}

/**
 * Claims the oldest unclaimed one-time key of each requested device and
 * algorithm. Concurrent claims skip each other's locked rows, so no key is
 * ever handed out twice.
 */
export async function claimOneTimeKeys(q: Queryable, wanted: readonly ClaimRequest[], now: number): Promise<ClaimedKey[]> {
  if (wanted.length === 0) return [];
  const { rows } = await q.query<{ user_id: string; device_id: string; algorithm: string; key_id: string; key_json: string }>(
    `WITH wanted AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) AS w(user_id, device_id, algorithm)),
          picked AS (
            SELECT k.key_nid FROM wanted w CROSS JOIN LATERAL (
              SELECT key_nid FROM e2e_one_time_keys o
               WHERE o.user_id = w.user_id AND o.device_id = w.device_id AND o.algorithm = w.algorithm AND o.claimed_ts IS NULL
               ORDER BY key_nid LIMIT 1 FOR UPDATE SKIP LOCKED) k)
     UPDATE e2e_one_time_keys SET claimed_ts = $4 WHERE key_nid IN (SELECT key_nid FROM picked)
     RETURNING user_id, device_id, algorithm, key_id, key_json`,
    [wanted.map((w) => w.userId), wanted.map((w) => w.deviceId), wanted.map((w) => w.algorithm), now],
  );
  return rows.map((r) => ({ userId: r.user_id, deviceId: r.device_id, algorithm: r.algorithm, keyId: r.key_id, key: JSON.parse(r.key_json) as JsonValue }));
}

/**
 * Stores the device's fallback key for its algorithm. Uploading the key
 * already stored keeps its `used` mark; another key replaces it as unused.
 */
export async function putFallbackKey(q: Queryable, userId: string, deviceId: string, key: OneTimeKey, now: number): Promise<void> {
  await q.query(
    `INSERT INTO e2e_fallback_keys (user_id, device_id, algorithm, key_id, key_json, uploaded_ts) VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (user_id, device_id, algorithm) DO UPDATE SET key_id = EXCLUDED.key_id, key_json = EXCLUDED.key_json, uploaded_ts = EXCLUDED.uploaded_ts, used = FALSE
       WHERE e2e_fallback_keys.key_id <> EXCLUDED.key_id OR e2e_fallback_keys.key_json <> EXCLUDED.key_json`,
    [userId, deviceId, key.algorithm, key.keyId, key.json, now],
  );
}

/** Hands out the fallback keys of these devices (marking them used). */
export async function claimFallbackKeys(q: Queryable, wanted: readonly ClaimRequest[]): Promise<ClaimedKey[]> {
  if (wanted.length === 0) return [];
  const { rows } = await q.query<{ user_id: string; device_id: string; algorithm: string; key_id: string; key_json: string }>(
    `UPDATE e2e_fallback_keys SET used = TRUE
      WHERE (user_id, device_id, algorithm) IN (SELECT * FROM unnest($1::text[], $2::text[], $3::text[]))
     RETURNING user_id, device_id, algorithm, key_id, key_json`,
    [wanted.map((w) => w.userId), wanted.map((w) => w.deviceId), wanted.map((w) => w.algorithm)],
  );
  return rows.map((r) => ({ userId: r.user_id, deviceId: r.device_id, algorithm: r.algorithm, keyId: r.key_id, key: JSON.parse(r.key_json) as JsonValue }));
}

const unusedFallbacks = keyedRead<{ algorithm: string }>(
  `SELECT k.key_index, f.algorithm
     FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(user_id, device_id, key_index)
     JOIN e2e_fallback_keys f ON f.user_id = k.user_id AND f.device_id = k.device_id AND NOT f.used
    ORDER BY k.key_index, f.algorithm`,
  2,
);

/** Algorithms of the device's fallback keys that were never handed out. */
export async function unusedFallbackKeyTypes(q: Queryable, userId: string, deviceId: string): Promise<string[]> {
  const [rows] = await unusedFallbacks(q, [[userId, deviceId]]);
  return rows!.map((r) => r.algorithm);
}
