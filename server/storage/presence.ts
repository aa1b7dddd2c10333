// Presence rows and the "who shares a room with whom" questions presence asks
// (migrations/0005_profiles_presence.sql).
import type { Queryable } from "./database.ts";
import { keyedRead } from "./keyed-read.ts";

export type PresenceState = "online" | "unavailable" | "offline";

export interface PresenceRow {
  userId: string;
  state: PresenceState;
  statusMsg: string | null;
  lastActiveTs: number;
  lastSyncTs: number;
  streamOrdering: number;
}

interface PresenceDbRow {
  user_id: string;
  state: PresenceState;
  status_msg: string | null;
  last_active_ts: number;
  last_sync_ts: number;
  stream_ordering: number;
}

const COLUMNS = `p.user_id, p.state, p.status_msg, p.last_active_ts, p.last_sync_ts, p.stream_ordering`;

const toRow = (r: PresenceDbRow): PresenceRow => ({
  userId: r.user_id,
  state: r.state,
  statusMsg: r.status_msg,
  lastActiveTs: r.last_active_ts,
  lastSyncTs: r.last_sync_ts,
  streamOrdering: r.stream_ordering,
});

// Keyed by user: every sync request reads its user's presence first.
const presenceOf = keyedRead<PresenceDbRow>(
  `SELECT k.key_index, ${COLUMNS} FROM unnest($1::text[]) WITH ORDINALITY AS k(user_id, key_index) JOIN presence p ON p.user_id = k.user_id`,
  1,
);

export async function getPresence(q: Queryable, userId: string): Promise<PresenceRow | undefined> {
  const [rows] = await presenceOf(q, [[userId]]);
  return rows![0] && toRow(rows![0]);
}

const PUT_PRESENCE = `
  INSERT INTO presence (user_id, state, status_msg, last_active_ts, last_sync_ts, stream_ordering) VALUES ($1, $2, $3, $4, $5, $6)
  ON CONFLICT (user_id) DO UPDATE SET state = EXCLUDED.state, status_msg = EXCLUDED.status_msg, last_active_ts = EXCLUDED.last_active_ts,
    last_sync_ts = EXCLUDED.last_sync_ts, stream_ordering = EXCLUDED.stream_ordering`;

/** Writes a visible change at `row.streamOrdering`. */
export async function putPresence(q: Queryable, row: PresenceRow): Promise<void> {
  await q.query(PUT_PRESENCE, [row.userId, row.state, row.statusMsg, row.lastActiveTs, row.lastSyncTs, row.streamOrdering]);
}

const TOUCH_PRESENCE = `
  UPDATE presence SET last_sync_ts = GREATEST(last_sync_ts, $2),
                      last_active_ts = CASE WHEN $3 THEN GREATEST(last_active_ts, $2) ELSE last_active_ts END
   WHERE user_id = $1`;

/** Refreshes the timestamps without a stream position: nobody needs waking for it. */
export async function touchPresence(q: Queryable, userId: string, now: number, active: boolean): Promise<void> {
  await q.query(TOUCH_PRESENCE, [userId, now, active]);
}

const ROOMS_OF = `SELECT room_id FROM room_memberships WHERE user_id = $1 AND membership = 'join'`;

export async function joinedRoomIds(q: Queryable, userId: string): Promise<string[]> {
  const { rows } = await q.query<{ room_id: string }>(ROOMS_OF, [userId]);
  return rows.map((r) => r.room_id);
}

const SHARES_ROOM = `
  SELECT EXISTS (
    SELECT 1 FROM room_memberships a
      JOIN room_memberships b ON b.room_id = a.room_id AND b.user_id = $2 AND b.membership = 'join'
     WHERE a.user_id = $1 AND a.membership = 'join'
  ) AS shares`;

/** Whether the two users are joined to at least one common room. */
export async function sharesRoom(q: Queryable, a: string, b: string): Promise<boolean> {
  const { rows } = await q.query<{ shares: boolean }>(SHARES_ROOM, [a, b]);
  return rows[0]!.shares;
}

// Everyone joined to a room the viewer is joined to (initial sync: the
// viewer's rooms' member lists, as an initial sync reads them anyway).
const PRESENCE_OF_ROOMMATES = `
  SELECT ${COLUMNS} FROM presence p
   WHERE p.stream_ordering <= $2
     AND p.user_id IN (
       SELECT o.user_id FROM room_memberships me
         JOIN room_memberships o ON o.room_id = me.room_id AND o.membership = 'join'
        WHERE me.user_id = $1 AND me.membership = 'join'
       UNION SELECT $1)`;

/** Presence of the viewer and everyone sharing a room with them, for an initial sync. */
export async function presenceOfRoommates(q: Queryable, viewerId: string, upTo: number): Promise<PresenceRow[]> {
  const { rows } = await q.query<PresenceDbRow>(PRESENCE_OF_ROOMMATES, [viewerId, upTo]);
  return rows.map(toRow);
}

// Presence changed in (since, upTo] of users who are the viewer or share a
// room with them, keyed by (viewer, since): the server's few recent changes,
// each checked by index. OFFSET 0 keeps the EXISTS a per-row check: without
// it PostgreSQL may turn it into a hash of all the viewer's roommates, built
// for every viewer, so one message to a 1,000-member room read a million
// membership rows.
const presenceChanged = keyedRead<PresenceDbRow>(
  `SELECT k.key_index, ${COLUMNS}
     FROM unnest($1::text[], $2::bigint[]) WITH ORDINALITY AS k(viewer, since, key_index)
     JOIN presence p ON p.stream_ordering > k.since AND p.stream_ordering <= $3
    WHERE p.user_id = k.viewer OR EXISTS (
       SELECT 1 FROM room_memberships a
         JOIN room_memberships b ON b.room_id = a.room_id AND b.user_id = k.viewer AND b.membership = 'join'
        WHERE a.user_id = p.user_id AND a.membership = 'join' OFFSET 0)`,
  2,
);

export async function presenceChangedSince(q: Queryable, viewerId: string, since: number, upTo: number): Promise<PresenceRow[]> {
  const [rows] = await presenceChanged(q, [[viewerId, since]], [upTo]);
  return rows!.map(toRow);
}

// Users the viewer newly shares a room with since the token, keyed by
// (viewer, since): all members of rooms the viewer joined since, and members
// who joined the viewer's rooms since (room_memberships_room_stream keeps the
// second part a range scan).
const presenceOfNew = keyedRead<PresenceDbRow>(
  `SELECT k.key_index, n.*
     FROM unnest($1::text[], $2::bigint[]) WITH ORDINALITY AS k(viewer, since, key_index)
     CROSS JOIN LATERAL (
       SELECT ${COLUMNS} FROM presence p
        WHERE p.stream_ordering <= $3
          AND p.user_id IN (
            SELECT o.user_id FROM room_memberships me
              JOIN room_memberships o ON o.room_id = me.room_id AND o.membership = 'join'
             WHERE me.user_id = k.viewer AND me.membership = 'join' AND me.stream_ordering > k.since
            UNION
            SELECT o.user_id FROM room_memberships me
              JOIN room_memberships o ON o.room_id = me.room_id AND o.stream_ordering > k.since AND o.membership = 'join'
             WHERE me.user_id = k.viewer AND me.membership = 'join')) n`,
  2,
);

export async function presenceOfNewRoommates(q: Queryable, viewerId: string, since: number, upTo: number): Promise<PresenceRow[]> {
  const [rows] = await presenceOfNew(q, [[viewerId, since]], [upTo]);
  return rows!.map(toRow);
}
