// The dehydrated device of each user (MSC3814, migrations/0013_dehydrated_devices.sql).
import type { JsonObject } from "../protocol/json.ts";
import type { Queryable } from "./database.ts";

export interface DehydratedDeviceRow {
  deviceId: string;
  deviceData: JsonObject;
}

export async function getDehydratedDevice(q: Queryable, userId: string): Promise<DehydratedDeviceRow | undefined> {
  const { rows } = await q.query<{ device_id: string; device_data: string }>(`SELECT device_id, device_data FROM dehydrated_devices WHERE user_id = $1`, [userId]);
  return rows[0] && { deviceId: rows[0].device_id, deviceData: JSON.parse(rows[0].device_data) as JsonObject };
}

/**
 * Makes `deviceId` the user's dehydrated device: the previous one, if any, is
 * deleted with everything hanging off it. Answers the replaced device's ID,
 * or "in-use" when the user has another device with this ID (the caller
 * rolls back). Locks the user's row so two uploads serialise.
 */
export async function replaceDehydratedDevice(
  q: Queryable,
  userId: string,
  device: { deviceId: string; deviceData: JsonObject; displayName: string | null },
  now: number,
): Promise<{ replaced?: string } | "in-use"> {
  await q.query(`SELECT 1 FROM users WHERE user_id = $1 FOR UPDATE`, [userId]);
  const previous = await getDehydratedDevice(q, userId);
  if (previous) await q.query(`DELETE FROM devices WHERE user_id = $1 AND device_id = $2`, [userId, previous.deviceId]);
  const { rowCount } = await q.query(`INSERT INTO devices (user_id, device_id, display_name, created_ts) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, [
    userId,
    device.deviceId,
    device.displayName,
    now,
  ]);
  if (rowCount === 0) return "in-use";
  await q.query(`INSERT INTO dehydrated_devices (user_id, device_id, device_data, created_ts) VALUES ($1, $2, $3, $4)`, [
    userId,
    device.deviceId,
    JSON.stringify(device.deviceData),
    now,
  ]);
  return previous ? { replaced: previous.deviceId } : {};
}

/** Deletes the user's dehydrated device (and its keys and inbox); returns its ID, if there was one. */
export async function deleteDehydratedDevice(q: Queryable, userId: string): Promise<string | undefined> {
  const { rows } = await q.query<{ device_id: string }>(
    `DELETE FROM devices d USING dehydrated_devices h WHERE h.user_id = $1 AND d.user_id = h.user_id AND d.device_id = h.device_id RETURNING d.device_id`,
    [userId],
  );
  return rows[0]?.device_id;
}
