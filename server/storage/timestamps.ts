// Finding events by origin_server_ts (GET /timestamp_to_event), on the
// events_room_ts index of migrations/0006_relations.sql.
import type { Queryable } from "./database.ts";

export interface TimestampPosition {
  ts: number;
  depth: number;
  stream: number;
}

export interface TimestampCandidate extends TimestampPosition {
  nid: number;
}

// Closest first: by timestamp, then (for equal timestamps) the event that comes
// next in topological order, then arrival — as Synapse orders them.
const FORWARD = `
  SELECT event_nid, origin_server_ts, depth, stream_ordering FROM events
   WHERE room_id = $1 AND stream_ordering IS NOT NULL AND rejected_reason IS NULL
     AND (origin_server_ts, depth, stream_ordering) > ($2, $3, $4)
   ORDER BY origin_server_ts, depth, stream_ordering LIMIT $5`;
const BACKWARD = `
  SELECT event_nid, origin_server_ts, depth, stream_ordering FROM events
   WHERE room_id = $1 AND stream_ordering IS NOT NULL AND rejected_reason IS NULL
     AND (origin_server_ts, depth, stream_ordering) < ($2, $3, $4)
   ORDER BY origin_server_ts DESC, depth DESC, stream_ordering DESC LIMIT $5`;

/**
 * Events of a room nearest to a timestamp in one direction, strictly past
 * `after` (a previous batch's last candidate, or the start position).
 */
export async function eventsNearTimestamp(q: Queryable, roomId: string, dir: "f" | "b", after: TimestampPosition, limit: number): Promise<TimestampCandidate[]> {
  const { rows } = await q.query<{ event_nid: number; origin_server_ts: number; depth: number; stream_ordering: number }>(dir === "f" ? FORWARD : BACKWARD, [
    roomId,
    after.ts,
    after.depth,
    after.stream,
    limit,
  ]);
  return rows.map((r) => ({ nid: r.event_nid, ts: r.origin_server_ts, depth: r.depth, stream: r.stream_ordering }));
}
