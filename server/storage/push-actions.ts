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

// A redacted event's rows go, and a summary that counted them (rotated past
// them, counting from before them) loses them too.
const DELETE_REDACTED_SQL = `
  WITH gone AS (
    DELETE FROM event_push_actions a USING events e
     WHERE e.event_id = $1 AND e.redacted_by IS NOT NULL AND a.event_nid = e.event_nid
    RETURNING a.user_id, a.room_id, a.thread_id, a.stream_ordering, a.notify, a.highlight)
  UPDATE event_push_summary s
     SET notifications = s.notifications - (g.notify)::int, highlights = s.highlights - (g.notify AND g.highlight)::int
    FROM gone g, push_rotation rot
   WHERE s.user_id = g.user_id AND s.room_id = g.room_id AND s.thread_id = g.thread_id
     AND g.stream_ordering <= rot.position AND g.stream_ordering > s.receipt_pos`;

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

// The read-up-to positions of the (user, room) of row `at` (with columns
// user_id and room_id): the unthreaded receipt, and each thread's receipt as
// a JSON map (m.read and m.read.private alike). The sync's counts and the
// rotation read them the same way.
const readUpToOf = (at: string) => `
  SELECT coalesce(max(p.pos) FILTER (WHERE p.thread_id = ''), 0) AS unthreaded,
         coalesce(jsonb_object_agg(p.thread_id, p.pos) FILTER (WHERE p.thread_id <> ''), '{}') AS threads
    FROM (SELECT rc.thread_id, max(e.stream_ordering) AS pos
            FROM receipts rc JOIN events e ON e.event_id = rc.event_id
           WHERE rc.user_id = ${at}.user_id AND rc.room_id = ${at}.room_id AND rc.receipt_type IN ('m.read', 'm.read.private')
           GROUP BY rc.thread_id) p`;

// Unread counts keyed by (user, room), up to the sync's position $3. Per key:
// the read receipts (OFFSET 0 keeps them one step per key: flattened,
// PostgreSQL ran them once per push-action row, 14,651 times for 50
// members); the summaries still valid (rotated no later than the sync's
// position, and the thread's read-up-to position unchanged since), which
// count everything up to the rotation; and the push actions after that,
// counted per thread. A thread whose read position moved since the rotation
// is counted from its rows alone, after the new position. The work per key is
// the rows since the last rotation, not the user's whole unread history.
const unreadCountsOf = keyedRead<{ thread_id: string; notifications: number; highlights: number }>(
  `SELECT r.key_index, x.thread_id, sum(x.n)::int AS notifications, sum(x.h)::int AS highlights
     FROM (
       SELECT k.key_index, k.user_id, k.room_id, u.unthreaded, u.threads, CASE WHEN rot.position <= $3 THEN rot.position END AS rotated
         FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(user_id, room_id, key_index)
         CROSS JOIN push_rotation rot
         CROSS JOIN LATERAL (${readUpToOf("k")}) u
        OFFSET 0) r
     CROSS JOIN LATERAL (
       SELECT coalesce(array_agg(s.thread_id) FILTER (WHERE s.receipt_pos = greatest(r.unthreaded, coalesce((r.threads ->> s.thread_id)::bigint, 0))), '{}') AS done,
              coalesce(bool_or(s.receipt_pos <> greatest(r.unthreaded, coalesce((r.threads ->> s.thread_id)::bigint, 0))), FALSE) AS moved
         FROM event_push_summary s
        WHERE s.user_id = r.user_id AND s.room_id = r.room_id AND r.rotated IS NOT NULL) v
     CROSS JOIN LATERAL (
       SELECT s.thread_id, s.notifications AS n, s.highlights AS h
         FROM event_push_summary s
        WHERE s.user_id = r.user_id AND s.room_id = r.room_id AND s.thread_id = ANY (v.done)
       UNION ALL
       SELECT a.thread_id, count(*) FILTER (WHERE a.notify), count(*) FILTER (WHERE a.notify AND a.highlight)
         FROM event_push_actions a
        WHERE a.user_id = r.user_id AND a.room_id = r.room_id AND a.stream_ordering <= $3
          AND a.stream_ordering > CASE WHEN r.rotated IS NOT NULL AND NOT v.moved THEN greatest(r.rotated, r.unthreaded) ELSE r.unthreaded END
          AND a.stream_ordering > coalesce((r.threads ->> a.thread_id)::bigint, 0)
          AND NOT (a.thread_id = ANY (v.done) AND a.stream_ordering <= r.rotated)
        GROUP BY a.thread_id) x
    GROUP BY r.key_index, x.thread_id
   HAVING sum(x.n) > 0 OR sum(x.h) > 0`,
  2,
);

// One rotation step, ($1, $2] the stream range: every (user, room, thread)
// with push actions in the range gets its counts up to $2, from the summary
// when the thread's read position is the one it was counted from (adding the
// range's rows), else afresh from the rows after the current read position.
const ROTATE_SQL = `
  INSERT INTO event_push_summary AS s (user_id, room_id, thread_id, receipt_pos, notifications, highlights)
  SELECT g.user_id, g.room_id, g.thread_id, r.pos,
         CASE WHEN old.receipt_pos = r.pos THEN old.notifications ELSE 0 END + n.notifications,
         CASE WHEN old.receipt_pos = r.pos THEN old.highlights ELSE 0 END + n.highlights
    FROM (SELECT DISTINCT a.user_id, a.room_id, a.thread_id
            FROM events e JOIN event_push_actions a ON a.event_nid = e.event_nid
           WHERE e.stream_ordering > $1 AND e.stream_ordering <= $2) g
    CROSS JOIN LATERAL (
      SELECT greatest(u.unthreaded, coalesce((u.threads ->> g.thread_id)::bigint, 0)) AS pos FROM (${readUpToOf("g")}) u) r
    LEFT JOIN event_push_summary old ON old.user_id = g.user_id AND old.room_id = g.room_id AND old.thread_id = g.thread_id
    CROSS JOIN LATERAL (
      SELECT count(*) FILTER (WHERE a.notify)::int AS notifications, count(*) FILTER (WHERE a.notify AND a.highlight)::int AS highlights
        FROM event_push_actions a
       WHERE a.user_id = g.user_id AND a.room_id = g.room_id AND a.thread_id = g.thread_id AND a.stream_ordering <= $2
         AND a.stream_ordering > CASE WHEN old.receipt_pos = r.pos THEN greatest($1, r.pos) ELSE r.pos END) n
  ON CONFLICT (user_id, room_id, thread_id) DO UPDATE
     SET receipt_pos = EXCLUDED.receipt_pos, notifications = EXCLUDED.notifications, highlights = EXCLUDED.highlights`;

/**
 * Folds the push actions committed up to `head` into event_push_summary, in
 * the caller's transaction. When another rotation (or a redaction) holds the
 * position row nothing is done: that is the other's work, or the next run's.
 */
export async function rotatePushActions(tx: Queryable, head: number): Promise<{ from: number; to: number }> {
  const { rows } = await tx.query<{ position: number }>(`SELECT position FROM push_rotation FOR UPDATE SKIP LOCKED`);
  const from = rows[0]?.position;
  if (from === undefined || head <= from) return { from: from ?? 0, to: from ?? 0 };
  await tx.query(ROTATE_SQL, [from, head]);
  await tx.query(`UPDATE push_rotation SET position = $1`, [head]);
  return { from, to: head };
}

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
  // Waits for a rotation in progress, and keeps the next one out until this
  // transaction ends: it must not count rows this deletes, nor miss the fix.
  await q.query(`SELECT 1 FROM push_rotation FOR SHARE`);
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
