// Walks of the event DAG for federation (migrations/0002_rooms_events.sql
// event_edges and event_auth_edges): auth chains, backfill and the gap a
// remote server is missing. Each walk is one recursive query, bounded by a
// limit, never by the size of the room's history.
import type { Queryable } from "./database.ts";
import { eventsByNidsInOrder, getEventsByNids, type StoredEvent } from "./events.ts";

/** Every event reachable from `eventIds` through auth_events (excluding the starting events), that we hold. */
export async function authChain(q: Queryable, eventIds: readonly string[]): Promise<StoredEvent[]> {
  if (eventIds.length === 0) return [];
  const { rows } = await q.query<{ event_nid: number }>(
    `WITH RECURSIVE chain(nid) AS (
       SELECT e.event_nid FROM event_auth_edges a JOIN events s ON s.event_nid = a.event_nid
         JOIN events e ON e.event_id = a.auth_event_id
        WHERE s.event_id = ANY($1::text[])
       UNION
       SELECT e.event_nid FROM chain c JOIN event_auth_edges a ON a.event_nid = c.nid JOIN events e ON e.event_id = a.auth_event_id
     )
     SELECT nid AS event_nid FROM chain`,
    [eventIds],
  );
  const events = await getEventsByNids(q, rows.map((r) => r.event_nid));
  return [...events.values()];
}

/**
 * A breadth-first walk back through prev_events from `fromIds` (included),
 * deepest first, up to `limit` events of `roomId` (spec: /backfill). Events
 * we do not hold end the walk on that branch.
 */
export async function walkBackwards(q: Queryable, roomId: string, fromIds: readonly string[], limit: number): Promise<StoredEvent[]> {
  if (fromIds.length === 0 || limit <= 0) return [];
  const { rows } = await q.query<{ event_nid: number }>(
    `WITH RECURSIVE walk(nid, depth, hops) AS (
       SELECT event_nid, depth, 0 FROM events WHERE room_id = $1 AND event_id = ANY($2::text[]) AND NOT outlier
       UNION
       SELECT p.event_nid, p.depth, w.hops + 1 FROM walk w
         JOIN event_edges ed ON ed.event_nid = w.nid
         JOIN events p ON p.event_id = ed.prev_event_id AND p.room_id = $1 AND NOT p.outlier
        WHERE w.hops < $3
     )
     SELECT nid AS event_nid, max(depth) AS depth FROM walk GROUP BY nid ORDER BY max(depth) DESC, nid DESC LIMIT $3`,
    [roomId, fromIds, limit],
  );
  return eventsByNidsInOrder(q, rows.map((r) => r.event_nid));
}

/**
 * The events a remote server is missing (spec: /get_missing_events): a
 * breadth-first walk back from the parents of `latestIds`, not entering
 * `earliestIds`, not below `minDepth`, at most `limit`, oldest first.
 */
export async function missingEvents(
  q: Queryable,
  roomId: string,
  latestIds: readonly string[],
  earliestIds: readonly string[],
  limit: number,
  minDepth: number,
): Promise<StoredEvent[]> {
  if (latestIds.length === 0 || limit <= 0) return [];
  const { rows } = await q.query<{ event_nid: number }>(
    `WITH RECURSIVE walk(nid, hops) AS (
       SELECT p.event_nid, 1 FROM events l
         JOIN event_edges ed ON ed.event_nid = l.event_nid
         JOIN events p ON p.event_id = ed.prev_event_id AND p.room_id = $1
        WHERE l.room_id = $1 AND l.event_id = ANY($2::text[])
          AND NOT (p.event_id = ANY($3::text[])) AND p.depth >= $5 AND NOT p.outlier
       UNION
       SELECT p.event_nid, w.hops + 1 FROM walk w
         JOIN event_edges ed ON ed.event_nid = w.nid
         JOIN events p ON p.event_id = ed.prev_event_id AND p.room_id = $1
        WHERE NOT (p.event_id = ANY($3::text[])) AND p.depth >= $5 AND NOT p.outlier AND w.hops < $4
     )
     SELECT nid AS event_nid, min(hops) AS hops FROM walk GROUP BY nid ORDER BY min(hops), nid LIMIT $4`,
    [roomId, latestIds, earliestIds, limit, minDepth],
  );
  // Nearest first was the walk's order; the answer is oldest first.
  return (await eventsByNidsInOrder(q, rows.map((r) => r.event_nid))).sort((a, b) => a.depth - b.depth || a.nid - b.nid);
}

/** Whether any user of `serverName` is joined to the room now. */
export async function serverJoinedToRoom(q: Queryable, roomId: string, serverName: string): Promise<boolean> {
  const { rows } = await q.query(
    `SELECT 1 FROM room_memberships WHERE room_id = $1 AND membership = 'join' AND server_name = $2 LIMIT 1`,
    [roomId, serverName],
  );
  return rows.length > 0;
}

/** The servers with at least one joined member (where the room's events must be sent). */
export async function joinedServers(q: Queryable, roomId: string): Promise<string[]> {
  const { rows } = await q.query<{ server: string }>(
    `SELECT DISTINCT server_name AS server FROM room_memberships WHERE room_id = $1 AND membership = 'join'`,
    [roomId],
  );
  return rows.map((r) => r.server).sort();
}

/** The servers with a joined member in any room `userId` is joined to (where their presence goes). */
export async function serversSharingRoomWith(q: Queryable, userId: string): Promise<string[]> {
  const { rows } = await q.query<{ server: string }>(
    `SELECT DISTINCT o.server_name AS server FROM room_memberships me
       JOIN room_memberships o ON o.room_id = me.room_id AND o.membership = 'join'
      WHERE me.user_id = $1 AND me.membership = 'join'`,
    [userId],
  );
  return rows.map((r) => r.server).sort();
}
