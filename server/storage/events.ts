// Events, DAG edges, extremities and transaction IDs (migrations/0002_rooms_events.sql).
import type { Queryable } from "./database.ts";
import { keyedRead } from "./keyed-read.ts";

export interface StoredEvent {
  nid: number;
  eventId: string;
  roomId: string;
  type: string;
  stateKey: string | null;
  sender: string;
  originServerTs: number;
  depth: number;
  streamOrdering: number | null;
  stateGroupBefore: number | null;
  stateGroupAfter: number | null;
  rejectedReason: string | null;
  redactedBy: string | null;
  outlier: boolean;
  softFailed: boolean;
  pdu: string;
}

const COLUMNS = `event_nid, event_id, room_id, type, state_key, sender, origin_server_ts, depth, stream_ordering,
  state_group_before, state_group_after, rejected_reason, redacted_by, outlier, soft_failed, pdu`;

interface EventRow {
  event_nid: number;
  event_id: string;
  room_id: string;
  type: string;
  state_key: string | null;
  sender: string;
  origin_server_ts: number;
  depth: number;
  stream_ordering: number | null;
  state_group_before: number | null;
  state_group_after: number | null;
  rejected_reason: string | null;
  redacted_by: string | null;
  outlier: boolean;
  soft_failed: boolean;
  pdu: string;
}

// A row shared by several callers (identical or keyed reads answer them from
// one statement) gives them one StoredEvent, so its PDU is parsed once
// (pduOf caches per StoredEvent). StoredEvents are never written to.
const fromRows = new WeakMap<EventRow, StoredEvent>();

function fromRow(r: EventRow): StoredEvent {
  let stored = fromRows.get(r);
  if (!stored) {
    stored = eventOfRow(r);
    fromRows.set(r, stored);
  }
  return stored;
}

function eventOfRow(r: EventRow): StoredEvent {
  return {
    nid: r.event_nid,
    eventId: r.event_id,
    roomId: r.room_id,
    type: r.type,
    stateKey: r.state_key,
    sender: r.sender,
    originServerTs: r.origin_server_ts,
    depth: r.depth,
    streamOrdering: r.stream_ordering,
    stateGroupBefore: r.state_group_before,
    stateGroupAfter: r.state_group_after,
    rejectedReason: r.rejected_reason,
    redactedBy: r.redacted_by,
    outlier: r.outlier,
    softFailed: r.soft_failed,
    pdu: r.pdu,
  };
}

export interface NewEvent {
  eventId: string;
  roomId: string;
  type: string;
  stateKey: string | undefined;
  sender: string;
  originServerTs: number;
  depth: number;
  stateGroupBefore: number | null;
  stateGroupAfter: number | null;
  rejectedReason: string | null;
  outlier: boolean;
  softFailed: boolean;
  /** This server sends the event to the room's other servers (events.federate_out). */
  federateOut: boolean;
  pdu: string;
  prevEventIds: readonly string[];
  authEventIds: readonly string[];
}

/** Stores an event and its DAG edges. An outlier held already is replaced in place (it is being given its place in the DAG). */
export async function insertEvent(q: Queryable, event: NewEvent): Promise<number> {
  const { rows } = await q.query<{ event_nid: number }>(
    `INSERT INTO events (event_id, room_id, type, state_key, sender, origin_server_ts, depth, state_group_before, state_group_after,
                         rejected_reason, outlier, soft_failed, federate_out, pdu)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
     ON CONFLICT (event_id) DO UPDATE SET state_group_before = EXCLUDED.state_group_before, state_group_after = EXCLUDED.state_group_after,
       rejected_reason = EXCLUDED.rejected_reason, outlier = EXCLUDED.outlier, soft_failed = EXCLUDED.soft_failed,
       federate_out = events.federate_out OR EXCLUDED.federate_out
       WHERE events.outlier
     RETURNING event_nid`,
    [
      event.eventId,
      event.roomId,
      event.type,
      event.stateKey ?? null,
      event.sender,
      event.originServerTs,
      event.depth,
      event.stateGroupBefore,
      event.stateGroupAfter,
      event.rejectedReason,
      event.outlier,
      event.softFailed,
      event.federateOut,
      event.pdu,
    ],
  );
  const nid = rows[0]?.event_nid;
  if (nid === undefined) throw new Error(`event ${event.eventId} is already stored`);
  if (event.prevEventIds.length > 0) {
    await q.query(`INSERT INTO event_edges (event_nid, prev_event_id) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING`, [nid, event.prevEventIds]);
  }
  if (event.authEventIds.length > 0) {
    await q.query(`INSERT INTO event_auth_edges (event_nid, auth_event_id) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING`, [nid, event.authEventIds]);
  }
  return nid;
}

/** Rows per INSERT of `insertOutlierEvents` (its arrays are parameters; a join's state may hold tens of thousands of events). */
const OUTLIER_INSERT_BATCH = 1000;

/** An outlier to store: no snapshots, never federated out. */
export type NewOutlier = Pick<NewEvent, "eventId" | "roomId" | "type" | "stateKey" | "sender" | "originServerTs" | "depth" | "rejectedReason" | "pdu" | "prevEventIds" | "authEventIds">;

/**
 * Stores events without a place in the DAG (no snapshots, not federated
 * out) with their DAG edges, a thousand rows per statement: what
 * `insertEvent` does for one outlier, for the state and auth chain of a
 * join. None of them may be held yet. Returns each event's numeric ID.
 */
export async function insertOutlierEvents(q: Queryable, events: readonly NewOutlier[]): Promise<Map<string, number>> {
  const nids = new Map<string, number>();
  for (let i = 0; i < events.length; i += OUTLIER_INSERT_BATCH) {
    const chunk = events.slice(i, i + OUTLIER_INSERT_BATCH);
    const column = <T>(get: (e: NewOutlier) => T) => chunk.map(get);
    const { rows } = await q.query<{ event_nid: number; event_id: string }>(
      `INSERT INTO events (event_id, room_id, type, state_key, sender, origin_server_ts, depth, state_group_before, state_group_after,
                           rejected_reason, outlier, soft_failed, federate_out, pdu)
       SELECT event_id, room_id, type, state_key, sender, origin_server_ts, depth, NULL, NULL, rejected_reason, TRUE, FALSE, FALSE, pdu
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::text[], $9::text[])
         AS t (event_id, room_id, type, state_key, sender, origin_server_ts, depth, rejected_reason, pdu)
       ON CONFLICT (event_id) DO NOTHING
       RETURNING event_nid, event_id`,
      [
        column((e) => e.eventId),
        column((e) => e.roomId),
        column((e) => e.type),
        column((e) => e.stateKey ?? null),
        column((e) => e.sender),
        column((e) => e.originServerTs),
        column((e) => e.depth),
        column((e) => e.rejectedReason),
        column((e) => e.pdu),
      ],
    );
    if (rows.length !== chunk.length) throw new Error(`${chunk.length - rows.length} of ${chunk.length} outliers are already stored`);
    for (const row of rows) nids.set(row.event_id, row.event_nid);
    const edges = (ids: (e: NewOutlier) => readonly string[]) => {
      const from: number[] = [];
      const to: string[] = [];
      for (const e of chunk) {
        for (const id of ids(e)) {
          from.push(nids.get(e.eventId)!);
          to.push(id);
        }
      }
      return [from, to];
    };
    const [prevFrom, prevTo] = edges((e) => e.prevEventIds);
    if (prevFrom!.length > 0) await q.query(`INSERT INTO event_edges (event_nid, prev_event_id) SELECT * FROM unnest($1::bigint[], $2::text[]) ON CONFLICT DO NOTHING`, [prevFrom, prevTo]);
    const [authFrom, authTo] = edges((e) => e.authEventIds);
    if (authFrom!.length > 0) await q.query(`INSERT INTO event_auth_edges (event_nid, auth_event_id) SELECT * FROM unnest($1::bigint[], $2::text[]) ON CONFLICT DO NOTHING`, [authFrom, authTo]);
  }
  return nids;
}

/** Which of `eventIds` are held, in any form (timeline, outlier, rejected). */
export async function heldEventIds(q: Queryable, eventIds: readonly string[]): Promise<Set<string>> {
  if (eventIds.length === 0) return new Set();
  const { rows } = await q.query<{ event_id: string }>(`SELECT event_id FROM events WHERE event_id = ANY($1::text[])`, [eventIds]);
  return new Set(rows.map((r) => r.event_id));
}

export async function getEventsByIds(q: Queryable, eventIds: readonly string[]): Promise<Map<string, StoredEvent>> {
  if (eventIds.length === 0) return new Map();
  const { rows } = await q.query<EventRow>(`SELECT ${COLUMNS} FROM events WHERE event_id = ANY($1::text[])`, [eventIds]);
  return new Map(rows.map((r) => [r.event_id, fromRow(r)]));
}

const eventsOfNids = keyedRead<EventRow>(
  `SELECT k.key_index, e.* FROM unnest($1::bigint[]) WITH ORDINALITY AS k(nid, key_index)
     CROSS JOIN LATERAL (SELECT ${COLUMNS} FROM events WHERE event_nid = k.nid) e`,
  1,
);

export async function getEventsByNids(q: Queryable, nids: readonly number[]): Promise<Map<number, StoredEvent>> {
  if (nids.length === 0) return new Map();
  const found = await eventsOfNids(q, nids.map((nid) => [nid]));
  return new Map(found.flat().map((r) => [r.event_nid, fromRow(r)]));
}

/** Which of `eventIds` we hold as rejected. */
export async function rejectedEventIds(q: Queryable, eventIds: readonly string[]): Promise<Set<string>> {
  if (eventIds.length === 0) return new Set();
  const { rows } = await q.query<{ event_id: string }>(`SELECT event_id FROM events WHERE event_id = ANY($1::text[]) AND rejected_reason IS NOT NULL`, [eventIds]);
  return new Set(rows.map((r) => r.event_id));
}

export async function setStateGroupAfter(q: Queryable, nid: number, group: number): Promise<void> {
  await q.query(`UPDATE events SET state_group_after = $2 WHERE event_nid = $1`, [nid, group]);
}

/** Events by numeric ID, in the order given. */
export async function eventsByNidsInOrder(q: Queryable, nids: readonly number[]): Promise<StoredEvent[]> {
  const events = await getEventsByNids(q, nids);
  return nids.map((nid) => events.get(nid)).filter((e): e is StoredEvent => e !== undefined);
}

export async function getForwardExtremities(q: Queryable, roomId: string): Promise<string[]> {
  const { rows } = await q.query<{ event_id: string }>(`SELECT event_id FROM room_forward_extremities WHERE room_id = $1`, [roomId]);
  return rows.map((r) => r.event_id);
}

/** A new forward extremity replaces the extremities it points at. */
export async function advanceForwardExtremities(q: Queryable, roomId: string, eventId: string | undefined, prevEventIds: readonly string[]): Promise<void> {
  await q.query(`DELETE FROM room_forward_extremities WHERE room_id = $1 AND event_id = ANY($2::text[])`, [roomId, prevEventIds]);
  if (eventId !== undefined) await q.query(`INSERT INTO room_forward_extremities (room_id, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, [roomId, eventId]);
}

/**
 * Which of `eventIds` are already named as a prev_event by a timeline event
 * of ours (accepted or soft-failed, not an outlier): those are not forward
 * extremities even when they arrive late.
 */
export async function eventsWithChildren(q: Queryable, eventIds: readonly string[]): Promise<Set<string>> {
  if (eventIds.length === 0) return new Set();
  const { rows } = await q.query<{ prev_event_id: string }>(
    `SELECT DISTINCT ed.prev_event_id FROM event_edges ed JOIN events e ON e.event_nid = ed.event_nid
      WHERE ed.prev_event_id = ANY($1::text[]) AND NOT e.outlier AND e.rejected_reason IS NULL`,
    [eventIds],
  );
  return new Set(rows.map((r) => r.prev_event_id));
}

/** The event is now held in the timeline; the prev_events we lack become backward extremities. */
export async function updateBackwardExtremities(q: Queryable, roomId: string, eventId: string, missingPrevIds: readonly string[]): Promise<void> {
  await q.query(`DELETE FROM room_backward_extremities WHERE room_id = $1 AND event_id = $2`, [roomId, eventId]);
  if (missingPrevIds.length > 0) {
    await q.query(`INSERT INTO room_backward_extremities (room_id, event_id) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING`, [roomId, missingPrevIds]);
  }
}

export async function getBackwardExtremities(q: Queryable, roomId: string): Promise<string[]> {
  const { rows } = await q.query<{ event_id: string }>(`SELECT event_id FROM room_backward_extremities WHERE room_id = $1`, [roomId]);
  return rows.map((r) => r.event_id);
}

/**
 * Returns `count` consecutive stream positions. The UPDATE locks the single
 * stream_head row until COMMIT, so positions become visible strictly in
 * order. Callers do it as the last step before committing, keeping the
 * serialised section short.
 */
export async function allocateStreamPositions(q: Queryable, count: number): Promise<number[]> {
  const { rows } = await q.query<{ position: number }>(`UPDATE stream_head SET position = position + $1 RETURNING position`, [count]);
  const last = rows[0]!.position;
  return Array.from({ length: count }, (_, i) => last - count + 1 + i);
}

/** `count` positions for backfilled events, each lower than any before (backfill_stream_positions). */
export async function allocateBackfillPositions(q: Queryable, count: number): Promise<number[]> {
  const { rows } = await q.query<{ position: number }>(`SELECT nextval('backfill_stream_positions') AS position FROM generate_series(1, $1)`, [count]);
  return rows.map((r) => r.position);
}

export async function setStreamOrdering(q: Queryable, nid: number, position: number): Promise<void> {
  await q.query(`UPDATE events SET stream_ordering = $2 WHERE event_nid = $1`, [nid, position]);
}

/** Highest committed position: everything at or below it is visible. */
export async function currentStreamPosition(q: Queryable): Promise<number> {
  const { rows } = await q.query<{ position: number }>(`SELECT position FROM stream_head`);
  return rows[0]!.position;
}

/** Where a client transaction ID was used: its device and the endpoint with its path parameters. */
export interface TxnKey {
  userId: string;
  deviceId: string;
  endpoint: string;
  txnId: string;
}

export async function findTxnEvent(q: Queryable, key: TxnKey): Promise<string | undefined> {
  const { rows } = await q.query<{ event_id: string }>(
    `SELECT event_id FROM event_txn_ids WHERE user_id = $1 AND device_id = $2 AND endpoint = $3 AND txn_id = $4`,
    [key.userId, key.deviceId, key.endpoint, key.txnId],
  );
  return rows[0]?.event_id;
}

export async function insertTxnEvent(q: Queryable, key: TxnKey, eventId: string, now: number): Promise<void> {
  await q.query(`INSERT INTO event_txn_ids (user_id, device_id, endpoint, txn_id, event_id, created_ts) VALUES ($1, $2, $3, $4, $5, $6)`, [
    key.userId,
    key.deviceId,
    key.endpoint,
    key.txnId,
    eventId,
    now,
  ]);
}

export async function markRedacted(q: Queryable, targetEventId: string, redactionEventId: string): Promise<void> {
  await q.query(`UPDATE events SET redacted_by = $2 WHERE event_id = $1 AND redacted_by IS NULL`, [targetEventId, redactionEventId]);
}

/** Timeline events of a room with from < stream_ordering <= to, newest first. */
// Keyed by (room, from): an initial sync's rooms, or a fan-out's members, in one statement.
const eventsBetween = keyedRead<EventRow>(
  `SELECT k.key_index, e.* FROM unnest($1::text[], $2::bigint[]) WITH ORDINALITY AS k(room_id, after, key_index)
     CROSS JOIN LATERAL (
       SELECT ${COLUMNS} FROM events WHERE room_id = k.room_id AND stream_ordering > k.after AND stream_ordering <= $3
        ORDER BY stream_ordering DESC LIMIT $4) e`,
  2,
);

/** The room's timeline events in (from, to], newest first, at most `limit`. */
export async function roomEventsBetween(q: Queryable, roomId: string, from: number, to: number, limit: number): Promise<StoredEvent[]> {
  const [rows] = await eventsBetween(q, [[roomId, from]], [to, limit]);
  return rows!.map(fromRow);
}

/** Events of some rooms after a stream position, oldest first (GET /events). */
export async function roomEventsAfter(q: Queryable, roomIds: readonly string[], from: number, limit: number): Promise<StoredEvent[]> {
  if (roomIds.length === 0) return [];
  const { rows } = await q.query<EventRow>(
    `SELECT ${COLUMNS} FROM events WHERE room_id = ANY($1) AND stream_ordering > $2 ORDER BY stream_ordering ASC LIMIT $3`,
    [roomIds, from, limit],
  );
  return rows.map(fromRow);
}

/**
 * One page of room history in topological order (depth, stream), strictly
 * before (backwards) or after (forwards) the given position.
 */
export async function roomEventsTopological(
  q: Queryable,
  roomId: string,
  from: { depth: number; stream: number },
  direction: "b" | "f",
  limit: number,
  to?: { depth: number; stream: number },
): Promise<StoredEvent[]> {
  const backwards = direction === "b";
  const cmp = backwards ? "<" : ">";
  const order = backwards ? "DESC" : "ASC";
  const params: unknown[] = [roomId, from.depth, from.stream, limit];
  let bound = "";
  if (to) {
    params.push(to.depth, to.stream);
    bound = `AND (depth, stream_ordering) ${backwards ? ">" : "<="} ($5, $6)`;
  }
  const { rows } = await q.query<EventRow>(
    `SELECT ${COLUMNS} FROM events
      WHERE room_id = $1 AND stream_ordering IS NOT NULL AND (depth, stream_ordering) ${cmp} ($2, $3) ${bound}
      ORDER BY depth ${order}, stream_ordering ${order} LIMIT $4`,
    params,
  );
  return rows.map(fromRow);
}

/** Transaction IDs a device used for some events, so the sender's device can match its local echo. */
export async function txnIdsForEvents(q: Queryable, userId: string, deviceId: string, eventIds: readonly string[]): Promise<Map<string, string>> {
  if (eventIds.length === 0) return new Map();
  const found = await txnIdsOf(q, eventIds.map((id) => [id]), [userId, deviceId]);
  return new Map(found.flat().map((r) => [r.event_id, r.txn_id]));
}

// Keyed by event (the rooms of one sync), one device: the device's rows by
// primary-key prefix, as a filter; array_position names the key each answers.
const txnIdsOf = keyedRead<{ event_id: string; txn_id: string }>(
  `SELECT array_position($1::text[], event_id) AS key_index, event_id, txn_id FROM event_txn_ids
    WHERE user_id = $2 AND device_id = $3 AND event_id = ANY($1::text[])`,
  1,
);

/** The room's last timeline event at or before a stream position. */
export async function roomEventAtOrBefore(q: Queryable, roomId: string, stream: number): Promise<StoredEvent | undefined> {
  const { rows } = await q.query<EventRow>(
    `SELECT ${COLUMNS} FROM events WHERE room_id = $1 AND stream_ordering <= $2 ORDER BY stream_ordering DESC LIMIT 1`,
    [roomId, stream],
  );
  return rows[0] && fromRow(rows[0]);
}

/** The topological place of the room's last event at or before a stream position. */
export async function roomPositionAtStream(q: Queryable, roomId: string, stream: number): Promise<{ depth: number; stream: number } | undefined> {
  const { rows } = await q.query<{ depth: number; stream_ordering: number }>(
    `SELECT depth, stream_ordering FROM events WHERE room_id = $1 AND stream_ordering <= $2 ORDER BY stream_ordering DESC LIMIT 1`,
    [roomId, stream],
  );
  return rows[0] && { depth: rows[0].depth, stream: rows[0].stream_ordering };
}

/** Which of `roomIds` have timeline events after `since` (one query for all of a user's rooms). */
export async function roomsWithEventsSince(q: Queryable, roomIds: readonly string[], since: number): Promise<Set<string>> {
  if (roomIds.length === 0) return new Set();
  const found = await roomsWithEventsAfter(q, roomIds.map((roomId) => [roomId, since]));
  return new Set(roomIds.filter((_, i) => found[i]!.length > 0));
}

const roomsWithEventsAfter = keyedRead<Record<string, never>>(
  `SELECT k.key_index FROM unnest($1::text[], $2::bigint[]) WITH ORDINALITY AS k(room_id, since, key_index)
    WHERE EXISTS (SELECT 1 FROM events e WHERE e.room_id = k.room_id AND e.stream_ordering > k.since)`,
  2,
);

/** Timeline events with stream_ordering > `after`, oldest first (the search indexer's feed). */
export async function timelineEventsAfter(q: Queryable, after: number, limit: number): Promise<StoredEvent[]> {
  const { rows } = await q.query<EventRow>(`SELECT ${COLUMNS} FROM events WHERE stream_ordering > $1 ORDER BY stream_ordering LIMIT $2`, [after, limit]);
  return rows.map(fromRow);
}

/** Backfilled events (negative positions) below `before`, nearest first. */
export async function backfilledEventsBefore(q: Queryable, before: number, limit: number): Promise<StoredEvent[]> {
  const { rows } = await q.query<EventRow>(`SELECT ${COLUMNS} FROM events WHERE stream_ordering < $1 ORDER BY stream_ordering DESC LIMIT $2`, [Math.min(before, 0), limit]);
  return rows.map(fromRow);
}
