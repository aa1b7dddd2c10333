// Push actions: which local users an event notified, and the unread counts
// and notification lists read back from them (migrations/0004_push_actions.sql).
// A row is unread while its stream position is after the user's read-up-to
// position: the later of the unthreaded receipt and the receipt of the row's
// thread ("main" or the thread root), taking m.read and m.read.private alike.
import type { Queryable } from "./database.ts";
import { keyedRead } from "./keyed-read.ts";

export interface PushActionRow {
  eventNid: number;
  userId: string;
  roomId: string;
  streamOrdering: number;
  threadId: string;
  notify: boolean;
  highlight: boolean;
  actions: unknown[];
}

/** Joined members are counted whoever hosts them; only local ones (a `users` row) get push actions. */
const RECIPIENTS_SQL = `
  SELECT count(*)::int AS joined,
         coalesce(array_agg(m.user_id ORDER BY m.user_id) FILTER (WHERE u.user_id IS NOT NULL), '{}') AS local
    FROM room_memberships m LEFT JOIN users u ON u.user_id = m.user_id
   WHERE m.room_id = $1 AND m.membership = 'join'`;

const LOCAL_USERS_SQL = `SELECT user_id FROM users WHERE user_id = ANY($1::text[])`;

const INSERT_SQL = `
  INSERT INTO event_push_actions (event_nid, user_id, room_id, stream_ordering, thread_id, notify, highlight, actions)
  SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::boolean[], $7::boolean[], $8::jsonb[])
  ON CONFLICT (event_nid, user_id) DO NOTHING`;

const DELETE_REDACTED_SQL = `
  DELETE FROM event_push_actions a USING events e
   WHERE e.event_id = $1 AND e.redacted_by IS NOT NULL AND a.event_nid = e.event_nid`;

/** The user's read-up-to positions per (room, thread) for the rooms `rooms` selects; thread '' is the unthreaded receipt. */
function readUpTo(rooms: string): string {
  return `
  read_upto AS (
    SELECT rc.room_id, rc.thread_id, max(e.stream_ordering) AS pos
      FROM receipts rc JOIN events e ON e.event_id = rc.event_id
     WHERE rc.user_id = $1 AND rc.room_id IN (${rooms}) AND rc.receipt_type IN ('m.read', 'm.read.private')
     GROUP BY rc.room_id, rc.thread_id
  )`;
}

// Keyed by (user, room). The unthreaded receipt bounds the index range scan;
// the thread receipts, gathered once per key as a JSON map, then filter what
// is left, so the work is the rows after the unthreaded receipt.
const unreadCountsOf = keyedRead<{ thread_id: string; notifications: number; highlights: number }>(
  `SELECT k.key_index, a.thread_id,
          count(*) FILTER (WHERE a.notify)::int AS notifications,
          count(*) FILTER (WHERE a.notify AND a.highlight)::int AS highlights
     FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(user_id, room_id, key_index)
     CROSS JOIN LATERAL (
       SELECT coalesce(max(p.pos) FILTER (WHERE p.thread_id = ''), 0) AS unthreaded,
              coalesce(jsonb_object_agg(p.thread_id, p.pos) FILTER (WHERE p.thread_id <> ''), '{}') AS threads
         FROM (SELECT rc.thread_id, max(e.stream_ordering) AS pos
                 FROM receipts rc JOIN events e ON e.event_id = rc.event_id
                WHERE rc.user_id = k.user_id AND rc.room_id = k.room_id AND rc.receipt_type IN ('m.read', 'm.read.private')
                GROUP BY rc.thread_id) p) u
     JOIN event_push_actions a ON a.user_id = k.user_id AND a.room_id = k.room_id
      AND a.stream_ordering > u.unthreaded AND a.stream_ordering <= $3
    WHERE a.stream_ordering > coalesce((u.threads ->> a.thread_id)::bigint, 0)
    GROUP BY k.key_index, a.thread_id`,
  2,
);

/** Separate texts with and without the highlight filter, so the partial highlight index can serve the former. */
const notificationsPageSql = (onlyHighlight: boolean): string => `
  WITH page AS (
    SELECT event_nid, room_id, stream_ordering, thread_id, highlight, actions
      FROM event_push_actions
     WHERE user_id = $1 AND notify AND stream_ordering < $2 ${onlyHighlight ? "AND highlight" : ""}
     ORDER BY stream_ordering DESC
     LIMIT $3
  ),
  ${readUpTo("SELECT room_id FROM page")}
  SELECT p.event_nid, p.room_id, p.stream_ordering, p.highlight, p.actions,
         p.stream_ordering <= greatest(coalesce(u.pos, 0), coalesce(t.pos, 0)) AS read
    FROM page p
    LEFT JOIN read_upto u ON u.room_id = p.room_id AND u.thread_id = ''
    LEFT JOIN read_upto t ON t.room_id = p.room_id AND t.thread_id = p.thread_id
   ORDER BY p.stream_ordering DESC`;
const PAGE_ALL_SQL = notificationsPageSql(false);
const PAGE_HIGHLIGHTS_SQL = notificationsPageSql(true);

/** How many members are joined to a room, and which of them are local users. */
export async function pushRecipients(q: Queryable, roomId: string): Promise<{ joined: number; local: string[] }> {
  const { rows } = await q.query<{ joined: number; local: string[] }>(RECIPIENTS_SQL, [roomId]);
  return { joined: rows[0]?.joined ?? 0, local: rows[0]?.local ?? [] };
}

/** The subset of `userIds` that are accounts on this server. */
export async function localUsers(q: Queryable, userIds: readonly string[]): Promise<Set<string>> {
  if (userIds.length === 0) return new Set();
  const { rows } = await q.query<{ user_id: string }>(LOCAL_USERS_SQL, [userIds]);
  return new Set(rows.map((r) => r.user_id));
}

export async function insertPushActions(q: Queryable, rows: readonly PushActionRow[]): Promise<void> {
  if (rows.length === 0) return;
  await q.query(INSERT_SQL, [
    rows.map((r) => r.eventNid),
    rows.map((r) => r.userId),
    rows.map((r) => r.roomId),
    rows.map((r) => r.streamOrdering),
    rows.map((r) => r.threadId),
    rows.map((r) => r.notify),
    rows.map((r) => r.highlight),
    rows.map((r) => JSON.stringify(r.actions)),
  ]);
}

/** A redacted event stops counting as a notification (its content is gone). No-op unless it was redacted. */
export async function deletePushActionsOfRedacted(q: Queryable, eventId: string): Promise<void> {
  await q.query(DELETE_REDACTED_SQL, [eventId]);
}

export interface UnreadCount {
  threadId: string;
  notifications: number;
  highlights: number;
}

/**
 * Unread counts of one user in several rooms with one query, per room and
 * thread ("main" for the main timeline), counting events up to stream
 * position `upTo` (the sync's position, so counts match the timeline).
 * Rooms and threads without unread notifications are absent.
 */
export async function unreadCounts(q: Queryable, userId: string, roomIds: readonly string[], upTo: number): Promise<Map<string, UnreadCount[]>> {
  const out = new Map<string, UnreadCount[]>();
  if (roomIds.length === 0) return out;
  const found = await unreadCountsOf(q, roomIds.map((roomId) => [userId, roomId]), [upTo]);
  roomIds.forEach((roomId, i) => {
    const rows = found[i]!;
    if (rows.length > 0) out.set(roomId, rows.map((r) => ({ threadId: r.thread_id, notifications: r.notifications, highlights: r.highlights })));
  });
  return out;
}

export interface NotificationRow {
  eventNid: number;
  roomId: string;
  streamOrdering: number;
  highlight: boolean;
  actions: unknown[];
  read: boolean;
}

/** A page of a user's notifications strictly before stream position `before`, newest first. */
export async function notificationsPage(
  q: Queryable,
  userId: string,
  options: { before: number; limit: number; onlyHighlight: boolean },
): Promise<NotificationRow[]> {
  const { rows } = await q.query<{ event_nid: number; room_id: string; stream_ordering: number; highlight: boolean; actions: unknown[]; read: boolean }>(
    options.onlyHighlight ? PAGE_HIGHLIGHTS_SQL : PAGE_ALL_SQL,
    [userId, options.before, options.limit],
  );
  return rows.map((r) => ({ eventNid: r.event_nid, roomId: r.room_id, streamOrdering: r.stream_ordering, highlight: r.highlight, actions: r.actions, read: r.read }));
}
