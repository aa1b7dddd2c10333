-- Up Migration
-- Server-side search (documentation-living/11040-search-plan.md): the
-- PostgreSQL full-text index of room events, and how far each search backend
-- has indexed the event stream, so that a Redis that lost its queue loses no
-- indexing work.

CREATE TABLE event_search (
  event_id        TEXT PRIMARY KEY,
  room_id         TEXT NOT NULL,
  sender          TEXT NOT NULL,
  key             TEXT NOT NULL,
  body            TEXT NOT NULL,
  vector          TSVECTOR NOT NULL,
  origin_server_ts BIGINT NOT NULL,
  stream_ordering BIGINT NOT NULL
);
CREATE INDEX event_search_vector ON event_search USING GIN (vector);
CREATE INDEX event_search_room_stream ON event_search (room_id, stream_ordering);
COMMENT ON TABLE event_search IS 'One row per searchable event (m.room.message body, m.room.name name, m.room.topic topic) for the PostgreSQL search backend; never encrypted events. An edited message keeps one row, under the original''s ID, holding the latest edit''s text; redacted events have no row. Written only by the search worker (workers/search-index/).';
COMMENT ON COLUMN event_search.event_id IS 'The event found (for an edited message: the original, which is what clients show).';
COMMENT ON COLUMN event_search.room_id IS 'Room of the event: searches are restricted to the rooms the user is joined to.';
COMMENT ON COLUMN event_search.sender IS 'Sender of the event (filter senders / not_senders).';
COMMENT ON COLUMN event_search.key IS 'Which field was indexed: content.body, content.name or content.topic (the request''s keys).';
COMMENT ON COLUMN event_search.body IS 'The indexed text, kept for highlights (ts_headline).';
COMMENT ON COLUMN event_search.vector IS 'to_tsvector(search.language, body): what the GIN index and ts_rank_cd read.';
COMMENT ON COLUMN event_search.origin_server_ts IS 'The event''s origin_server_ts, ms since epoch.';
COMMENT ON COLUMN event_search.stream_ordering IS 'The event''s stream position: the order of order_by recent, and the tie-break of rank.';

CREATE TABLE search_positions (
  backend         TEXT PRIMARY KEY,
  stream_position BIGINT NOT NULL DEFAULT 0,
  backfill_position BIGINT NOT NULL DEFAULT 0,
  updated_ts      BIGINT NOT NULL DEFAULT 0
);
COMMENT ON TABLE search_positions IS 'How far each search backend has indexed the event stream. The worker reads events past these positions, so queue jobs are only wake-ups: losing Redis delays indexing, never skips it. The row is locked (FOR UPDATE) while a batch or a reindex runs, which serialises indexers across processes.';
COMMENT ON COLUMN search_positions.backend IS 'postgres or elasticsearch (each keeps its own position, so switching backends re-indexes from the start).';
COMMENT ON COLUMN search_positions.stream_position IS 'Every live event with stream_ordering at or below this is indexed.';
COMMENT ON COLUMN search_positions.backfill_position IS 'Every backfilled event (negative stream_ordering) at or above this is indexed; 0 when none.';
COMMENT ON COLUMN search_positions.updated_ts IS 'When the position last moved, ms since epoch (lag monitoring).';

-- Down Migration
DROP TABLE search_positions;
DROP TABLE event_search;
