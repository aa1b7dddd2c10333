// The cache of remote users' device lists (migrations/0015_e2ee_federation.sql):
// kept for users who share a room with a local user ("tracked"), so their
// keys are answered without asking their server each time.
import type { JsonObject } from "../protocol/json.ts";
import type { Queryable } from "./database.ts";

export interface RemoteDevice {
  deviceId: string;
  keys?: JsonObject;
  displayName?: string;
}

export interface RemoteDeviceList {
  userId: string;
  streamId: number;
  stale: boolean;
  masterKey?: JsonObject;
  selfSigningKey?: JsonObject;
  devices: RemoteDevice[];
}

type ListRow = { user_id: string; stream_id: number; stale: boolean; master_key: string | null; self_signing_key: string | null };
type DeviceRow = { user_id: string; device_id: string; key_json: string | null; display_name: string | null };

const parsed = (text: string | null): JsonObject | undefined => (text === null ? undefined : (JSON.parse(text) as JsonObject));

/** The cached lists of these users, with their devices. */
export async function remoteDeviceLists(q: Queryable, userIds: readonly string[]): Promise<Map<string, RemoteDeviceList>> {
  const out = new Map<string, RemoteDeviceList>();
  if (userIds.length === 0) return out;
  const lists = await q.query<ListRow>(`SELECT user_id, stream_id, stale, master_key, self_signing_key FROM e2e_remote_device_lists WHERE user_id = ANY($1::text[])`, [userIds]);
  if (lists.rows.length === 0) return out;
  const devices = await q.query<DeviceRow>(`SELECT user_id, device_id, key_json, display_name FROM e2e_remote_devices WHERE user_id = ANY($1::text[]) ORDER BY device_id`, [userIds]);
  for (const r of lists.rows) {
    const master = parsed(r.master_key);
    const selfSigning = parsed(r.self_signing_key);
    out.set(r.user_id, { userId: r.user_id, streamId: r.stream_id, stale: r.stale, devices: [], ...(master ? { masterKey: master } : {}), ...(selfSigning ? { selfSigningKey: selfSigning } : {}) });
  }
  for (const r of devices.rows) {
    const keys = parsed(r.key_json);
    out.get(r.user_id)?.devices.push({ deviceId: r.device_id, ...(keys ? { keys } : {}), ...(r.display_name !== null ? { displayName: r.display_name } : {}) });
  }
  return out;
}

/** The cached list's version, locked for an update (undefined: not cached). */
export async function lockRemoteDeviceList(q: Queryable, userId: string): Promise<{ streamId: number; stale: boolean } | undefined> {
  const { rows } = await q.query<{ stream_id: number; stale: boolean }>(`SELECT stream_id, stale FROM e2e_remote_device_lists WHERE user_id = $1 FOR UPDATE`, [userId]);
  return rows[0] && { streamId: rows[0].stream_id, stale: rows[0].stale };
}

const json = (value: JsonObject | undefined): string | null => (value === undefined ? null : JSON.stringify(value));

/** Replaces the cached list with a snapshot (GET /user/devices), no longer stale. */
export async function replaceRemoteDeviceList(q: Queryable, list: Omit<RemoteDeviceList, "stale">, now: number): Promise<void> {
  await q.query(
    `INSERT INTO e2e_remote_device_lists (user_id, stream_id, master_key, self_signing_key, stale, updated_ts) VALUES ($1, $2, $3, $4, FALSE, $5)
     ON CONFLICT (user_id) DO UPDATE SET stream_id = EXCLUDED.stream_id, master_key = EXCLUDED.master_key,
       self_signing_key = EXCLUDED.self_signing_key, stale = FALSE, updated_ts = EXCLUDED.updated_ts`,
    [list.userId, list.streamId, json(list.masterKey), json(list.selfSigningKey), now],
  );
  await q.query(`DELETE FROM e2e_remote_devices WHERE user_id = $1`, [list.userId]);
  if (list.devices.length === 0) return;
  await q.query(
    `INSERT INTO e2e_remote_devices (user_id, device_id, key_json, display_name) SELECT $1, d, k, n FROM unnest($2::text[], $3::text[], $4::text[]) AS t(d, k, n)`,
    [list.userId, list.devices.map((d) => d.deviceId), list.devices.map((d) => json(d.keys)), list.devices.map((d) => d.displayName ?? null)],
  );
}

/** One device's update (m.device_list_update): stored or deleted, and the list's version moved to `streamId`. */
export async function applyRemoteDeviceUpdate(q: Queryable, userId: string, device: RemoteDevice, deleted: boolean, streamId: number, now: number): Promise<void> {
  if (deleted) {
    await q.query(`DELETE FROM e2e_remote_devices WHERE user_id = $1 AND device_id = $2`, [userId, device.deviceId]);
  } else {
    await q.query(
      `INSERT INTO e2e_remote_devices (user_id, device_id, key_json, display_name) VALUES ($1, $2, $3, $4)
       ON CONFLICT (user_id, device_id) DO UPDATE SET key_json = EXCLUDED.key_json, display_name = EXCLUDED.display_name`,
      [userId, device.deviceId, json(device.keys), device.displayName ?? null],
    );
  }
  await q.query(`UPDATE e2e_remote_device_lists SET stream_id = $2, updated_ts = $3 WHERE user_id = $1`, [userId, streamId, now]);
}

/** New cross-signing keys (m.signing_key_update); a key left out stays as it was. */
export async function setRemoteCrossSigningKeys(q: Queryable, userId: string, keys: { master?: JsonObject; selfSigning?: JsonObject }, now: number): Promise<void> {
  await q.query(
    `UPDATE e2e_remote_device_lists SET master_key = COALESCE($2, master_key), self_signing_key = COALESCE($3, self_signing_key), updated_ts = $4 WHERE user_id = $1`,
    [userId, json(keys.master), json(keys.selfSigning), now],
  );
}

export async function markRemoteDeviceListStale(q: Queryable, userId: string): Promise<void> {
  await q.query(`UPDATE e2e_remote_device_lists SET stale = TRUE WHERE user_id = $1`, [userId]);
}

/** Shares a room with a joined user of `serverName` (so that server's changes of `r.user_id` matter to us). */
const SHARES_ROOM_WITH_SERVER = (userColumn: string) => `EXISTS (
  SELECT 1 FROM room_memberships r JOIN room_memberships l ON l.room_id = r.room_id AND l.server_name = $2 AND l.membership = 'join'
   WHERE r.user_id = ${userColumn} AND r.membership = 'join')`;

/** Those of `userIds` who share a room with a local user (`serverName`'s). */
export async function usersSharingRoomWithServer(q: Queryable, userIds: readonly string[], serverName: string): Promise<Set<string>> {
  if (userIds.length === 0) return new Set();
  const { rows } = await q.query<{ user_id: string }>(`SELECT u AS user_id FROM unnest($1::text[]) AS u WHERE ${SHARES_ROOM_WITH_SERVER("u")}`, [userIds, serverName]);
  return new Set(rows.map((r) => r.user_id));
}

/**
 * After a membership change of `changed` in `roomId`: drops the cached lists
 * of those who no longer share a room with a local user (their server stops
 * telling us of changes, so the cache would go stale unnoticed). The
 * candidates are the changed users, and every member of the room when a
 * local user among them is no longer joined to it. Returns the users dropped.
 */
export async function dropUntrackedRemoteDeviceLists(q: Queryable, roomId: string, changed: readonly string[], serverName: string): Promise<string[]> {
  const { rows } = await q.query<{ user_id: string }>(
    `DELETE FROM e2e_remote_device_lists c
      WHERE c.user_id IN (
          SELECT unnest($3::text[])
          UNION
          SELECT o.user_id FROM room_memberships o
           WHERE o.room_id = $1 AND EXISTS (
             SELECT 1 FROM room_memberships me WHERE me.room_id = $1 AND me.user_id = ANY($3::text[]) AND me.server_name = $2 AND me.membership <> 'join'))
        AND NOT ${SHARES_ROOM_WITH_SERVER("c.user_id")}
      RETURNING c.user_id`,
    [roomId, serverName, changed],
  );
  return rows.map((r) => r.user_id);
}

/** Drops one user's cached list (an update arrived for a user no longer tracked). */
export async function dropRemoteDeviceList(q: Queryable, userId: string): Promise<void> {
  await q.query(`DELETE FROM e2e_remote_device_lists WHERE user_id = $1`, [userId]);
}
