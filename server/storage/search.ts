// Search: the PostgreSQL full-text index (event_search) and the indexers'
// stream positions (search_positions), migrations/0017_search.sql.
import type { Queryable } from "./database.ts";

export interface SearchPosition {
  stream: number;
  backfill: number;
}

/** The backend's position, locked FOR UPDATE until the transaction ends (one indexer at a time, across processes). */
export async function lockSearchPosition(q: Queryable, backend: string): Promise<SearchPosition> {
  await q.query(`INSERT INTO search_positions (backend) VALUES ($1) ON CONFLICT (backend) DO NOTHING`, [backend]);
  const { rows } = await q.query<{ stream_position: number; backfill_position: number }>(
    `SELECT stream_position, backfill_position FROM search_positions WHERE backend = $1 FOR UPDATE`,
    [backend],
  );
  return { stream: rows[0]!.stream_position, backfill: rows[0]!.backfill_position };
}

export async function readSearchPosition(q: Queryable, backend: string): Promise<SearchPosition> {
  const { rows } = await q.query<{ stream_position: number; backfill_position: number }>(`SELECT stream_position, backfill_position FROM search_positions WHERE backend = $1`, [backend]);
  return rows[0] ? { stream: rows[0].stream_position, backfill: rows[0].backfill_position } : { stream: 0, backfill: 0 };
}

export async function setSearchPosition(q: Queryable, backend: string, position: SearchPosition, now: number): Promise<void> {
  await q.query(`UPDATE search_positions SET stream_position = $2, backfill_position = $3, updated_ts = $4 WHERE backend = $1`, [backend, position.stream, position.backfill, now]);
}

export interface SearchRow {
  eventId: string;
  roomId: string;
  sender: string;
  key: string;
  body: string;
  originServerTs: number;
  streamOrdering: number;
}

// One statement per batch; to_tsvector runs in PostgreSQL with the configured text search configuration.
const UPSERT = `
  INSERT INTO event_search (event_id, room_id, sender, key, body, vector, origin_server_ts, stream_ordering)
  SELECT d.event_id, d.room_id, d.sender, d.key, d.body, to_tsvector($1::regconfig, d.body), d.ts, d.stream
    FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::bigint[])
         AS d(event_id, room_id, sender, key, body, ts, stream)
  ON CONFLICT (event_id) DO UPDATE SET body = EXCLUDED.body, vector = EXCLUDED.vector, key = EXCLUDED.key`;

export async function upsertSearchRows(q: Queryable, language: string, rows: readonly SearchRow[]): Promise<void> {
  if (rows.length === 0) return;
  await q.query(UPSERT, [
    language,
    rows.map((r) => r.eventId),
    rows.map((r) => r.roomId),
    rows.map((r) => r.sender),
    rows.map((r) => r.key),
    rows.map((r) => r.body),
    rows.map((r) => r.originServerTs),
    rows.map((r) => r.streamOrdering),
  ]);
}

export async function deleteSearchRows(q: Queryable, eventIds: readonly string[]): Promise<void> {
  if (eventIds.length === 0) return;
  await q.query(`DELETE FROM event_search WHERE event_id = ANY($1::text[])`, [eventIds]);
}

/** Empties the index inside the caller's transaction: readers keep seeing the old rows until COMMIT (no TRUNCATE lock). */
export async function deleteAllSearchRows(q: Queryable): Promise<void> {
  await q.query(`DELETE FROM event_search`);
}

export interface SearchRowsQuery {
  language: string;
  term: string;
  roomIds: readonly string[];
  keys: readonly string[];
  senders?: readonly string[];
  notSenders: readonly string[];
  order: "rank" | "recent";
  after?: { rank?: number; stream: number };
  limit: number;
}

export interface SearchRowHit {
  eventId: string;
  roomId: string;
  rank: number;
  streamOrdering: number;
  headline: string;
}

/** The WHERE clause shared by a page and its count; parameters $1..$6. */
function matchClause(query: SearchRowsQuery): { sql: string; params: unknown[] } {
  const params: unknown[] = [query.language, query.term, query.roomIds, query.keys, query.senders ?? null, query.notSenders];
  const sql = `s.vector @@ websearch_to_tsquery($1::regconfig, $2) AND s.room_id = ANY($3::text[]) AND s.key = ANY($4::text[])
     AND ($5::text[] IS NULL OR s.sender = ANY($5::text[])) AND NOT (s.sender = ANY($6::text[]))`;
  return { sql, params };
}

// Marks matched words with \u0001…\u0002 (as Synapse does) so highlights can be read back out;
// PostgreSQL evaluates the headline only for the rows that survive ORDER BY … LIMIT.
const HEADLINE = `ts_headline($1::regconfig, s.body, websearch_to_tsquery($1::regconfig, $2), 'StartSel=${"\u0001"}, StopSel=${"\u0002"}, HighlightAll=TRUE')`;

export async function searchRows(q: Queryable, query: SearchRowsQuery): Promise<SearchRowHit[]> {
  const { sql, params } = matchClause(query);
  const rank = `ts_rank_cd(s.vector, websearch_to_tsquery($1::regconfig, $2))`;
  let cursor = "";
  if (query.after) {
    if (query.order === "rank") {
      params.push(query.after.rank ?? 0, query.after.stream);
      cursor = `AND (${rank}, s.stream_ordering) < ($7::real, $8::bigint)`;
    } else {
      params.push(query.after.stream);
      cursor = `AND s.stream_ordering < $7::bigint`;
    }
  }
  params.push(query.limit);
  const order = query.order === "rank" ? `rank DESC, s.stream_ordering DESC` : `s.stream_ordering DESC`;
  const { rows } = await q.query<{ event_id: string; room_id: string; rank: number; stream_ordering: number; headline: string }>(
    `SELECT s.event_id, s.room_id, ${rank} AS rank, s.stream_ordering, ${HEADLINE} AS headline
       FROM event_search s WHERE ${sql} ${cursor} ORDER BY ${order} LIMIT $${params.length}`,
    params,
  );
  return rows.map((r) => ({ eventId: r.event_id, roomId: r.room_id, rank: r.rank, streamOrdering: r.stream_ordering, headline: r.headline }));
}

export async function countSearchRows(q: Queryable, query: SearchRowsQuery): Promise<number> {
  const { sql, params } = matchClause(query);
  const { rows } = await q.query<{ n: number }>(`SELECT count(*)::int AS n FROM event_search s WHERE ${sql}`, params);
  return rows[0]!.n;
}

/** Whether `name` is a text search configuration of this database (search.language). */
export async function textSearchConfigExists(q: Queryable, name: string): Promise<boolean> {
  const { rows } = await q.query(`SELECT 1 FROM pg_ts_config WHERE cfgname = $1`, [name]);
  return rows.length > 0;
}
