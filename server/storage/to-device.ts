// To-device messages waiting for local devices and the transaction IDs of
// the sends (migrations/0012_e2ee.sql), and the message IDs of to-device
// EDUs received from other servers (migrations/0015_e2ee_federation.sql).
import type { JsonObject } from "../protocol/json.ts";
import type { Queryable } from "./database.ts";
import { keyedRead } from "./keyed-read.ts";

/** Transaction IDs are kept this long, then pruned on the device's next send. */
const TXN_RETENTION_MS = 24 * 60 * 60 * 1000;

/** Every device of these users, by user. */
export async function devicesOfUsers(q: Queryable, userIds: readonly string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  if (userIds.length === 0) return out;
  const { rows } = await q.query<{ user_id: string; device_id: string }>(`SELECT user_id, device_id FROM devices WHERE user_id = ANY($1::text[])`, [userIds]);
  for (const r of rows) (out.get(r.user_id) ?? out.set(r.user_id, []).get(r.user_id)!).push(r.device_id);
  return out;
}

/**
 * Records the transaction ID of a send; false when the device already used
 * it for this event type (the request is a retry and sends nothing).
 */
export async function recordToDeviceTxn(q: Queryable, userId: string, deviceId: string, eventType: string, txnId: string, now: number): Promise<boolean> {
  await q.query(`DELETE FROM to_device_txn_ids WHERE user_id = $1 AND device_id = $2 AND created_ts < $3`, [userId, deviceId, now - TXN_RETENTION_MS]);
  const { rowCount } = await q.query(
    `INSERT INTO to_device_txn_ids (user_id, device_id, event_type, txn_id, created_ts) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
    [userId, deviceId, eventType, txnId, now],
  );
  return (rowCount ?? 0) > 0;
}

export interface DeviceAddress {
  userId: string;
  deviceId: string;
}

/** The devices among `targets` that already hold `limit` or more undelivered messages. */
export async function fullInboxes(q: Queryable, targets: readonly DeviceAddress[], limit: number): Promise<DeviceAddress[]> {
  if (targets.length === 0) return [];
  const { rows } = await q.query<{ user_id: string; device_id: string }>(
    `SELECT t.user_id, t.device_id FROM unnest($1::text[], $2::text[]) AS t(user_id, device_id)
      WHERE (SELECT count(*) FROM (SELECT 1 FROM to_device_inbox i WHERE i.user_id = t.user_id AND i.device_id = t.device_id LIMIT $3) c) >= $3`,
    [targets.map((t) => t.userId), targets.map((t) => t.deviceId), limit],
  );
  return rows.map((r) => ({ userId: r.user_id, deviceId: r.device_id }));
}

export interface OutgoingToDevice extends DeviceAddress {
  content: JsonObject;
}

export async function insertToDevice(q: Queryable, position: number, sender: string, type: string, messages: readonly OutgoingToDevice[]): Promise<void> {
  if (messages.length === 0) return;
  await q.query(
    `INSERT INTO to_device_inbox (user_id, device_id, stream_ordering, sender, type, content)
     SELECT u, d, $4, $5, $6, c FROM unnest($1::text[], $2::text[], $3::text[]) AS t(u, d, c)
     ON CONFLICT DO NOTHING`,
    [messages.map((m) => m.userId), messages.map((m) => m.deviceId), messages.map((m) => JSON.stringify(m.content)), position, sender, type],
  );
}

export interface InboxMessage {
  position: number;
  sender: string;
  type: string;
  content: JsonObject;
}

const inboxAfter = keyedRead<{ stream_ordering: number; sender: string; type: string; content: string }>(
  `SELECT k.key_index, m.* FROM unnest($1::text[], $2::text[], $3::bigint[]) WITH ORDINALITY AS k(user_id, device_id, after, key_index)
     CROSS JOIN LATERAL (
       SELECT stream_ordering, sender, type, content FROM to_device_inbox
        WHERE user_id = k.user_id AND device_id = k.device_id AND stream_ordering > k.after AND stream_ordering <= $4
        ORDER BY stream_ordering LIMIT $5) m`,
  3,
);

/** Up to `limit` messages for the device after `after` and up to `upTo`, oldest first. */
export async function toDeviceMessages(q: Queryable, device: DeviceAddress, after: number, upTo: number, limit: number): Promise<InboxMessage[]> {
  const [rows] = await inboxAfter(q, [[device.userId, device.deviceId, after]], [upTo, limit]);
  return rows!.map((r) => ({ position: r.stream_ordering, sender: r.sender, type: r.type, content: JSON.parse(r.content) as JsonObject }));
}

const inboxHasUpTo = keyedRead<Record<string, never>>(
  `SELECT k.key_index FROM unnest($1::text[], $2::text[], $3::bigint[]) WITH ORDINALITY AS k(user_id, device_id, up_to, key_index)
    WHERE EXISTS (SELECT 1 FROM to_device_inbox WHERE user_id = k.user_id AND device_id = k.device_id AND stream_ordering <= k.up_to)`,
  3,
);

/** Deletes the messages a sync token acknowledged (everything up to `upTo`). */
export async function deleteToDeviceUpTo(q: Queryable, device: DeviceAddress, upTo: number): Promise<void> {
  // Every sync acknowledges its token, and almost always nothing is left to
  // delete: a read first (which batches across a fan-out's syncs) spares the
  // write (which cannot).
  const [found] = await inboxHasUpTo(q, [[device.userId, device.deviceId, upTo]]);
  if (found!.length === 0) return;
  await q.query(`DELETE FROM to_device_inbox WHERE user_id = $1 AND device_id = $2 AND stream_ordering <= $3`, [device.userId, device.deviceId, upTo]);
}

/** Message IDs of received m.direct_to_device EDUs are kept this long (a resend comes within minutes or hours). */
const RECEIVED_RETENTION_MS = 24 * 60 * 60 * 1000;

/**
 * Records a received m.direct_to_device EDU (migrations/0015_e2ee_federation.sql);
 * false when (origin, message_id) was already delivered. Prunes expired rows.
 */
export async function recordReceivedToDevice(q: Queryable, origin: string, messageId: string, now: number): Promise<boolean> {
  await q.query(`DELETE FROM federation_to_device_received WHERE received_ts < $1`, [now - RECEIVED_RETENTION_MS]);
  const { rowCount } = await q.query(
    `INSERT INTO federation_to_device_received (origin, message_id, received_ts) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
    [origin, messageId, now],
  );
  return (rowCount ?? 0) > 0;
}
