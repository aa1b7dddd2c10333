// Federation transactions and destinations (migrations/0014_federation.sql).
import type { Queryable } from "./database.ts";
import { eventsByNidsInOrder, type StoredEvent } from "./events.ts";

export async function findInboundTransaction(q: Queryable, origin: string, txnId: string): Promise<unknown | undefined> {
  const { rows } = await q.query<{ response: unknown }>(`SELECT response FROM federation_inbound_transactions WHERE origin = $1 AND txn_id = $2`, [origin, txnId]);
  return rows[0]?.response;
}

export async function storeInboundTransaction(q: Queryable, origin: string, txnId: string, response: unknown, now: number): Promise<void> {
  await q.query(
    `INSERT INTO federation_inbound_transactions (origin, txn_id, response, received_ts) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
    [origin, txnId, JSON.stringify(response), now],
  );
}

/** Forgets transactions older than `before`: a retry a day later is a new transaction. */
export async function pruneInboundTransactions(q: Queryable, before: number): Promise<void> {
  await q.query(`DELETE FROM federation_inbound_transactions WHERE received_ts < $1`, [before]);
}

export interface DestinationRow {
  destination: string;
  lastSentStream: number;
  failureCount: number;
  retryAfterTs: number;
  retryIntervalMs: number;
}

/** The destination's row, created at `startAt` (nothing older is owed) the first time it is seen. */
export async function destination(q: Queryable, name: string, startAt: number): Promise<DestinationRow> {
  const { rows } = await q.query<{ destination: string; last_sent_stream: number; failure_count: number; retry_after_ts: number; retry_interval_ms: number }>(
    `INSERT INTO federation_destinations (destination, last_sent_stream) VALUES ($1, $2)
     ON CONFLICT (destination) DO UPDATE SET destination = EXCLUDED.destination
     RETURNING destination, last_sent_stream, failure_count, retry_after_ts, retry_interval_ms`,
    [name, startAt],
  );
  const r = rows[0]!;
  return { destination: r.destination, lastSentStream: r.last_sent_stream, failureCount: r.failure_count, retryAfterTs: r.retry_after_ts, retryIntervalMs: r.retry_interval_ms };
}

export async function markDestinationSent(q: Queryable, name: string, upTo: number): Promise<void> {
  await q.query(
    `UPDATE federation_destinations SET last_sent_stream = GREATEST(last_sent_stream, $2), failure_count = 0, retry_after_ts = 0, retry_interval_ms = 0 WHERE destination = $1`,
    [name, upTo],
  );
}

export async function markDestinationFailed(q: Queryable, name: string, retryAfterTs: number, intervalMs: number): Promise<void> {
  await q.query(
    `UPDATE federation_destinations SET failure_count = failure_count + 1, retry_after_ts = $2, retry_interval_ms = $3 WHERE destination = $1`,
    [name, retryAfterTs, intervalMs],
  );
}

/** The destination reached us: its backoff ends now. */
export async function resetDestinationBackoff(q: Queryable, name: string): Promise<boolean> {
  const { rowCount } = await q.query(`UPDATE federation_destinations SET retry_after_ts = 0, retry_interval_ms = 0 WHERE destination = $1 AND retry_after_ts > 0`, [name]);
  return (rowCount ?? 0) > 0;
}

/** Destinations with something owed: their PDU position is behind the stream. */
export async function destinationsBehind(q: Queryable, position: number): Promise<string[]> {
  const { rows } = await q.query<{ destination: string }>(`SELECT destination FROM federation_destinations WHERE last_sent_stream < $1`, [position]);
  return rows.map((r) => r.destination);
}

/**
 * The events this server owes `destination` after stream position `after`
 * (up to `upTo`), oldest first: those it sends out (events.federate_out) in
 * rooms where the destination has a joined member, and membership events
 * about the destination's users (a kick or ban reaches the server it removes).
 */
export async function eventsOwedTo(q: Queryable, destination: string, after: number, upTo: number, limit: number): Promise<StoredEvent[]> {
  const { rows } = await q.query<{ event_nid: number }>(
    `SELECT e.event_nid FROM events e
      WHERE e.federate_out AND e.stream_ordering > $2 AND e.stream_ordering <= $3
        AND (e.room_id IN (SELECT room_id FROM room_memberships WHERE server_name = $1 AND membership = 'join')
             OR (e.type = 'm.room.member' AND substring(e.state_key from position(':' in e.state_key) + 1) = $1))
      ORDER BY e.stream_ordering LIMIT $4`,
    [destination, after, upTo, limit],
  );
  return eventsByNidsInOrder(q, rows.map((r) => r.event_nid));
}

/** Of the events owed, only the newest of each room: what a destination gets after an outage too long to replay (it fetches the gap itself). */
export async function latestEventsOwedTo(q: Queryable, destination: string, after: number, upTo: number): Promise<StoredEvent[]> {
  const { rows } = await q.query<{ event_nid: number; stream_ordering: number }>(
    `SELECT DISTINCT ON (e.room_id) e.event_nid, e.stream_ordering FROM events e
      WHERE e.federate_out AND e.stream_ordering > $2 AND e.stream_ordering <= $3
        AND e.room_id IN (SELECT room_id FROM room_memberships WHERE server_name = $1 AND membership = 'join')
      ORDER BY e.room_id, e.stream_ordering DESC`,
    [destination, after, upTo],
  );
  return eventsByNidsInOrder(q, rows.sort((a, b) => a.stream_ordering - b.stream_ordering).map((r) => r.event_nid));
}

export async function storeInviteRoomState(q: Queryable, eventNid: number, roomState: unknown): Promise<void> {
  await q.query(`INSERT INTO invite_room_state (event_nid, room_state) VALUES ($1, $2) ON CONFLICT (event_nid) DO UPDATE SET room_state = EXCLUDED.room_state`, [
    eventNid,
    JSON.stringify(roomState),
  ]);
}

/** The stripped state an inviting server sent with these invites, by event. */
export async function inviteRoomStates(q: Queryable, eventNids: readonly number[]): Promise<Map<number, unknown[]>> {
  if (eventNids.length === 0) return new Map();
  const { rows } = await q.query<{ event_nid: number; room_state: unknown[] }>(`SELECT event_nid, room_state FROM invite_room_state WHERE event_nid = ANY($1::bigint[])`, [eventNids]);
  return new Map(rows.map((r) => [r.event_nid, r.room_state]));
}
