// Event relationships and the thread list (migrations/0006_relations.sql).
// Children are read through `events` so that redacted children (whose
// relationship the redaction broke) and events outside the timeline never
// count; ordering is the room's topological order (depth, stream).
import type { Queryable } from "./database.ts";
import { keyedRead } from "./keyed-read.ts";

export interface NewRelation {
  eventNid: number;
  eventId: string;
  roomId: string;
  relatesToId: string;
  relType: string;
  eventType: string;
  sender: string;
  aggregationKey: string | null;
  threadId: string | null;
}

const INSERT_RELATION = `
  INSERT INTO event_relations (event_nid, event_id, room_id, relates_to_id, rel_type, event_type, sender, aggregation_key, thread_id)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (event_nid) DO NOTHING`;

export async function insertRelation(q: Queryable, r: NewRelation): Promise<void> {
  await q.query(INSERT_RELATION, [r.eventNid, r.eventId, r.roomId, r.relatesToId, r.relType, r.eventType, r.sender, r.aggregationKey, r.threadId]);
}

// Keeps the newest reply per thread: a reply that arrives late (lower depth) does not move the thread back.
const UPSERT_THREAD = `
  INSERT INTO room_threads (room_id, thread_id, latest_event_nid, latest_depth) VALUES ($1, $2, $3, $4)
  ON CONFLICT (room_id, thread_id) DO UPDATE SET latest_event_nid = EXCLUDED.latest_event_nid, latest_depth = EXCLUDED.latest_depth
   WHERE (room_threads.latest_depth, room_threads.latest_event_nid) < (EXCLUDED.latest_depth, EXCLUDED.latest_event_nid)`;

export async function upsertThread(q: Queryable, roomId: string, threadId: string, eventNid: number, depth: number): Promise<void> {
  await q.query(UPSERT_THREAD, [roomId, threadId, eventNid, depth]);
}

export interface RelationRow {
  roomId: string;
  relatesToId: string;
  relType: string;
  threadId: string | null;
}

const RELATION_OF = `SELECT room_id, relates_to_id, rel_type, thread_id FROM event_relations WHERE event_id = $1`;

/** The relation an event itself has, if it is a child. */
export async function relationOf(q: Queryable, eventId: string): Promise<RelationRow | undefined> {
  const { rows } = await q.query<{ room_id: string; relates_to_id: string; rel_type: string; thread_id: string | null }>(RELATION_OF, [eventId]);
  const r = rows[0];
  return r && { roomId: r.room_id, relatesToId: r.relates_to_id, relType: r.rel_type, threadId: r.thread_id };
}

const IS_TARGET = `SELECT 1 FROM event_relations WHERE relates_to_id = $1 AND room_id = $2 LIMIT 1`;

/** Whether other events of the room already relate to `eventId` (a client may know an event the server lacks). */
export async function isRelationTarget(q: Queryable, roomId: string, eventId: string): Promise<boolean> {
  return (await q.query(IS_TARGET, [eventId, roomId])).rows.length > 0;
}

const HAS_ANNOTATION = `
  SELECT 1 FROM event_relations r JOIN events e ON e.event_nid = r.event_nid
   WHERE r.relates_to_id = $1 AND r.rel_type = 'm.annotation' AND r.event_type = $2 AND r.aggregation_key = $3 AND r.sender = $4
     AND e.redacted_by IS NULL
   LIMIT 1`;

/** Whether `sender` already annotated `parentId` with this type and key (and did not redact it). */
export async function hasAnnotation(q: Queryable, parentId: string, eventType: string, key: string, sender: string): Promise<boolean> {
  return (await q.query(HAS_ANNOTATION, [parentId, eventType, key, sender])).rows.length > 0;
}

export interface Position {
  depth: number;
  stream: number;
}

export interface ChildrenQuery {
  roomId: string;
  parentId: string;
  relType?: string | undefined;
  eventType?: string | undefined;
  /** 1 = direct children only; n = follow relations n levels down. */
  levels: number;
  dir: "b" | "f";
  from?: Position | undefined;
  to?: Position | undefined;
  limit: number;
}

// The rel_type / event type filters apply at every level: a child reached only
// through a non-matching intermediate is left out (spec: "Relationships API").
const CHILDREN = `
  WITH RECURSIVE related(event_nid, event_id, level) AS (
    SELECT r.event_nid, r.event_id, 1
      FROM event_relations r JOIN events e ON e.event_nid = r.event_nid
     WHERE r.relates_to_id = $2 AND r.room_id = $1 AND e.redacted_by IS NULL
       AND ($3::text IS NULL OR r.rel_type = $3) AND ($4::text IS NULL OR r.event_type = $4)
    UNION
    SELECT r.event_nid, r.event_id, p.level + 1
      FROM related p JOIN event_relations r ON r.relates_to_id = p.event_id
      JOIN events e ON e.event_nid = r.event_nid
     WHERE p.level < $5 AND r.room_id = $1 AND e.redacted_by IS NULL
       AND ($3::text IS NULL OR r.rel_type = $3) AND ($4::text IS NULL OR r.event_type = $4)
  )
  SELECT e.event_nid FROM (SELECT DISTINCT event_nid FROM related) x JOIN events e ON e.event_nid = x.event_nid
   WHERE e.stream_ordering IS NOT NULL`;

/** Child event nids of a parent in topological order (newest first for `b`), one page. */
export async function childEventNids(q: Queryable, c: ChildrenQuery): Promise<number[]> {
  const backwards = c.dir === "b";
  const params: unknown[] = [c.roomId, c.parentId, c.relType ?? null, c.eventType ?? null, c.levels, c.limit];
  let bounds = "";
  if (c.from) {
    params.push(c.from.depth, c.from.stream);
    bounds += ` AND (e.depth, e.stream_ordering) ${backwards ? "<" : ">"} ($${params.length - 1}, $${params.length})`;
  }
  if (c.to) {
    params.push(c.to.depth, c.to.stream);
    bounds += ` AND (e.depth, e.stream_ordering) ${backwards ? ">" : "<="} ($${params.length - 1}, $${params.length})`;
  }
  const order = backwards ? "DESC" : "ASC";
  const { rows } = await q.query<{ event_nid: number }>(`${CHILDREN}${bounds} ORDER BY e.depth ${order}, e.stream_ordering ${order} LIMIT $6`, params);
  return rows.map((r) => r.event_nid);
}

export interface AggregationParents {
  /** Events that may have an edit bundled: id, room, sender and type must match the edit's. */
  edits: Array<{ eventId: string; roomId: string; sender: string; type: string }>;
  /** Events that may be thread roots. */
  threads: Array<{ eventId: string; roomId: string }>;
  /** Events that may carry an m.reference chunk. */
  references: Array<{ eventId: string; roomId: string }>;
}

export interface AggregationRow {
  kind: "edit" | "thread" | "reference";
  parentId: string;
  childNid: number;
  childId: string;
  count: number;
  participated: boolean;
  depth: number;
  stream: number;
}

// One round trip for a page, keyed by parent (so the pages of many rooms, or
// of many members' syncs, are one statement): the latest valid edit per
// parent (same sender, type and room; not a state event; carrying
// m.new_content unless encrypted; latest by origin_server_ts then event ID,
// as the spec defines), the thread summary per root, and the references per
// parent. Each key says which of the three it asks for.
const aggregationsOf = keyedRead<{
  kind: AggregationRow["kind"];
  parent_id: string;
  child_nid: number;
  child_id: string;
  count: number;
  depth: number;
  stream_ordering: number;
}>(
  `WITH p AS MATERIALIZED (
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::boolean[], $6::boolean[], $7::boolean[])
       WITH ORDINALITY AS p(event_id, room_id, sender, type, edit, thread, reference, key_index))
   (SELECT DISTINCT ON (p.key_index) p.key_index, 'edit' AS kind, r.relates_to_id AS parent_id, e.event_nid AS child_nid, e.event_id AS child_id,
           0 AS count, e.depth, e.stream_ordering
      FROM p
      JOIN event_relations r ON r.relates_to_id = p.event_id AND r.rel_type = 'm.replace' AND r.room_id = p.room_id
                            AND r.sender = p.sender AND r.event_type = p.type
      JOIN events e ON e.event_nid = r.event_nid
     WHERE p.edit AND e.stream_ordering IS NOT NULL AND e.redacted_by IS NULL AND e.state_key IS NULL
       AND (e.type = 'm.room.encrypted' OR jsonb_typeof(e.pdu::jsonb -> 'content' -> 'm.new_content') = 'object')
     ORDER BY p.key_index, e.origin_server_ts DESC, e.event_id DESC)
   UNION ALL
   (SELECT t.key_index, 'thread', t.parent_id, t.latest[1], '', t.count, 0, 0 FROM (
      SELECT p.key_index, r.relates_to_id AS parent_id, array_agg(e.event_nid ORDER BY e.depth DESC, e.stream_ordering DESC) AS latest,
             count(*)::int AS count
        FROM p
        JOIN event_relations r ON r.relates_to_id = p.event_id AND r.rel_type = 'm.thread' AND r.room_id = p.room_id
        JOIN events e ON e.event_nid = r.event_nid
       WHERE p.thread AND e.stream_ordering IS NOT NULL AND e.redacted_by IS NULL
       GROUP BY p.key_index, r.relates_to_id) t)
   UNION ALL
   (SELECT p.key_index, 'reference', r.relates_to_id, e.event_nid, e.event_id, 0, e.depth, e.stream_ordering
      FROM p
      JOIN event_relations r ON r.relates_to_id = p.event_id AND r.rel_type = 'm.reference' AND r.room_id = p.room_id
      JOIN events e ON e.event_nid = r.event_nid
     WHERE p.reference AND e.stream_ordering IS NOT NULL AND e.redacted_by IS NULL)`,
  7,
);

const threadParticipation = keyedRead<Record<string, never>>(
  `SELECT k.key_index FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(root_id, user_id, key_index)
    WHERE EXISTS (
      SELECT 1 FROM event_relations r JOIN events e ON e.event_nid = r.event_nid
       WHERE r.relates_to_id = k.root_id AND r.rel_type = 'm.thread' AND r.sender = k.user_id
         AND e.stream_ordering IS NOT NULL AND e.redacted_by IS NULL)`,
  2,
);

export async function aggregationRows(q: Queryable, parents: AggregationParents, userId: string): Promise<AggregationRow[]> {
  if (parents.edits.length + parents.threads.length + parents.references.length === 0) return [];
  // One key per parent, flagged with what is asked of it.
  const keys = new Map<string, [string, string, string, string, boolean, boolean, boolean]>();
  const keyOf = (eventId: string, roomId: string) => {
    let key = keys.get(eventId);
    if (!key) keys.set(eventId, (key = [eventId, roomId, "", "", false, false, false]));
    return key;
  };
  for (const p of parents.edits) {
    const key = keyOf(p.eventId, p.roomId);
    key[2] = p.sender;
    key[3] = p.type;
    key[4] = true;
  }
  for (const p of parents.threads) keyOf(p.eventId, p.roomId)[5] = true;
  for (const p of parents.references) keyOf(p.eventId, p.roomId)[6] = true;
  const rows = (await aggregationsOf(q, [...keys.values()])).flat();
  // Participation is the viewer's own; asked apart, so the page's aggregations
  // are the same question for every member who syncs it (answered once).
  // (Rows may be shared with other callers: read, never written.)
  const roots = rows.filter((r) => r.kind === "thread").map((r) => r.parent_id);
  const found = await threadParticipation(q, roots.map((root) => [root, userId]));
  const participated = new Set(roots.filter((_, i) => found[i]!.length > 0));
  return rows.map((r) => ({
    kind: r.kind,
    parentId: r.parent_id,
    childNid: r.child_nid,
    childId: r.child_id,
    count: r.count,
    participated: r.kind === "thread" && participated.has(r.parent_id),
    depth: r.depth,
    stream: r.stream_ordering,
  }));
}

export interface ThreadPosition {
  depth: number;
  nid: number;
}

export interface ThreadRow {
  threadId: string;
  latest: ThreadPosition;
}

const THREADS_PAGE = `
  SELECT thread_id, latest_depth, latest_event_nid FROM room_threads
   WHERE room_id = $1 AND (latest_depth, latest_event_nid) < ($2, $3)
   ORDER BY latest_depth DESC, latest_event_nid DESC LIMIT $4`;

/** Thread roots of a room by latest activity, newest first, strictly after `before`. */
export async function threadsPage(q: Queryable, roomId: string, before: ThreadPosition | undefined, limit: number): Promise<ThreadRow[]> {
  const from = before ?? { depth: Number.MAX_SAFE_INTEGER, nid: Number.MAX_SAFE_INTEGER };
  const { rows } = await q.query<{ thread_id: string; latest_depth: number; latest_event_nid: number }>(THREADS_PAGE, [roomId, from.depth, from.nid, limit]);
  return rows.map((r) => ({ threadId: r.thread_id, latest: { depth: r.latest_depth, nid: r.latest_event_nid } }));
}

const PARTICIPATED = `
  SELECT DISTINCT r.relates_to_id FROM event_relations r JOIN events e ON e.event_nid = r.event_nid
   WHERE r.relates_to_id = ANY($1::text[]) AND r.rel_type = 'm.thread' AND r.sender = $2 AND e.redacted_by IS NULL`;

/** Which of the thread roots `userId` replied to. */
export async function threadsRepliedBy(q: Queryable, rootIds: readonly string[], userId: string): Promise<Set<string>> {
  if (rootIds.length === 0) return new Set();
  const { rows } = await q.query<{ relates_to_id: string }>(PARTICIPATED, [rootIds, userId]);
  return new Set(rows.map((r) => r.relates_to_id));
}
