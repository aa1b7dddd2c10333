// Device-list changes and the "who shares a room with whom" questions behind
// /sync device_lists and /keys/changes (migrations/0012_e2ee.sql). Sharing a
// room means both users' current membership is join, as the spec says.
// These tables keep only the latest position per user (and memberships only
// the current one), so the questions are "since", never "between": a change
// after the end of a range is reported with it, and again in the next range,
// rather than lost when a newer change overwrites its position.
import type { Queryable } from "./database.ts";
import { keyedRead } from "./keyed-read.ts";

/** Records that these users' device lists changed at `position`. */
export async function markDeviceListsChanged(q: Queryable, userIds: readonly string[], position: number): Promise<void> {
  if (userIds.length === 0) return;
  await q.query(
    `INSERT INTO device_list_changes (user_id, stream_ordering) SELECT u, $2 FROM unnest($1::text[]) AS u
     ON CONFLICT (user_id) DO UPDATE SET stream_ordering = EXCLUDED.stream_ordering`,
    [[...new Set(userIds)], position],
  );
}

/** Records that `signer` signed these users' master keys at `position` (seen by the signer only). */
export async function markUserSignaturesChanged(q: Queryable, signer: string, targetUserIds: readonly string[], position: number): Promise<void> {
  if (targetUserIds.length === 0) return;
  await q.query(
    `INSERT INTO e2e_user_signature_changes (signer_user_id, target_user_id, stream_ordering) SELECT $1, u, $3 FROM unnest($2::text[]) AS u
     ON CONFLICT (signer_user_id, target_user_id) DO UPDATE SET stream_ordering = EXCLUDED.stream_ordering`,
    [signer, [...new Set(targetUserIds)], position],
  );
}

// OFFSET 0: a per-row check by index, never a hash of all the viewer's
// roommates (see PRESENCE_CHANGED in presence.ts).
const SHARES_A_ROOM = (viewer: string, other: string) => `EXISTS (
  SELECT 1 FROM room_memberships a JOIN room_memberships b ON b.room_id = a.room_id
   WHERE a.user_id = ${viewer} AND a.membership = 'join' AND b.user_id = ${other} AND b.membership = 'join' OFFSET 0)`;

/**
 * Users whose devices `viewer` should query again after `since`: those
 * sharing a room whose device lists changed (the viewer included), the targets of the viewer's own signatures on others' keys,
 * and those the viewer newly shares a room with (they joined, or the viewer
 * did). A membership event that keeps `join` (a profile change) also counts:
 * asking again is harmless, missing a change is not.
 */
const changedFor = keyedRead<{ user_id: string }>(
  `SELECT k.key_index, x.user_id FROM unnest($1::text[], $2::bigint[]) WITH ORDINALITY AS k(viewer, since, key_index)
     CROSS JOIN LATERAL (
       SELECT c.user_id FROM device_list_changes c
         WHERE c.stream_ordering > k.since AND (c.user_id = k.viewer OR ${SHARES_A_ROOM("k.viewer", "c.user_id")})
        UNION
        SELECT target_user_id FROM e2e_user_signature_changes WHERE signer_user_id = k.viewer AND stream_ordering > k.since
        UNION
        -- Members who joined one of the viewer's rooms (each room's recent changes, through room_memberships_room_stream).
        SELECT o.user_id FROM room_memberships mine JOIN room_memberships o ON o.room_id = mine.room_id AND o.stream_ordering > k.since
         WHERE mine.user_id = k.viewer AND mine.membership = 'join' AND o.membership = 'join' AND o.user_id <> k.viewer
        UNION
        -- Everyone in a room the viewer joined.
        SELECT o.user_id FROM room_memberships mine JOIN room_memberships o ON o.room_id = mine.room_id
         WHERE mine.user_id = k.viewer AND mine.membership = 'join' AND mine.stream_ordering > k.since
           AND o.membership = 'join' AND o.user_id <> k.viewer) x`,
  2,
);

export async function deviceListsChangedFor(q: Queryable, viewer: string, since: number): Promise<string[]> {
  const [rows] = await changedFor(q, [[viewer, since]]);
  return rows!.map((r) => r.user_id).sort();
}

/**
 * Users who stopped sharing any room with `viewer` after `since`: members
 * who left one of the viewer's rooms, and the members of rooms the viewer
 * left, unless another room is still shared.
 */
const leftFor = keyedRead<{ user_id: string }>(
  `SELECT k.key_index, x.user_id FROM unnest($1::text[], $2::bigint[]) WITH ORDINALITY AS k(viewer, since, key_index)
     CROSS JOIN LATERAL (
       SELECT user_id FROM (
          -- Members who left one of the viewer's rooms.
          SELECT o.user_id FROM room_memberships mine JOIN room_memberships o ON o.room_id = mine.room_id AND o.stream_ordering > k.since
           WHERE mine.user_id = k.viewer AND mine.membership = 'join' AND o.membership IN ('leave', 'ban')
          UNION
          -- The members of rooms the viewer left.
          SELECT o.user_id FROM room_memberships mine JOIN room_memberships o ON o.room_id = mine.room_id
           WHERE mine.user_id = k.viewer AND mine.membership IN ('leave', 'ban') AND mine.stream_ordering > k.since
        ) gone
        WHERE user_id <> k.viewer AND NOT ${SHARES_A_ROOM("k.viewer", "gone.user_id")}) x`,
  2,
);

export async function deviceListsLeftFor(q: Queryable, viewer: string, since: number): Promise<string[]> {
  const [rows] = await leftFor(q, [[viewer, since]]);
  return rows!.map((r) => r.user_id).sort();
}

/**
 * Takes `count` consecutive stream_ids of the user's m.device_list_update
 * sequence (one per changed device); returns the first and the one before
 * it (0 for none). The row lock orders concurrent changes of one user.
 */
export async function allocateDeviceListStreamIds(q: Queryable, userId: string, count: number): Promise<{ previous: number; first: number }> {
  const { rows } = await q.query<{ stream_id: number }>(
    `INSERT INTO e2e_device_list_stream_ids (user_id, stream_id) VALUES ($1, $2)
     ON CONFLICT (user_id) DO UPDATE SET stream_id = e2e_device_list_stream_ids.stream_id + EXCLUDED.stream_id
     RETURNING stream_id`,
    [userId, count],
  );
  const last = rows[0]!.stream_id;
  return { previous: last - count, first: last - count + 1 };
}

/** The stream_id of the user's latest device-list update (0 before any). */
export async function deviceListStreamId(q: Queryable, userId: string): Promise<number> {
  const { rows } = await q.query<{ stream_id: number }>(`SELECT stream_id FROM e2e_device_list_stream_ids WHERE user_id = $1`, [userId]);
  return rows[0]?.stream_id ?? 0;
}
