-- Up Migration
-- Event relationships (edits, threads, reactions, references), the thread list
-- of each room, lookups by timestamp, and content reports. Design:
-- documentation-living/11015-message-persistence-plan.md ("Relations, edits and
-- threads", "Context, timestamps, reports").

CREATE TABLE event_relations (
  event_nid       BIGINT PRIMARY KEY REFERENCES events (event_nid),
  event_id        TEXT NOT NULL,
  room_id         TEXT NOT NULL REFERENCES rooms (room_id),
  relates_to_id   TEXT NOT NULL,
  rel_type        TEXT NOT NULL,
  event_type      TEXT NOT NULL,
  sender          TEXT NOT NULL,
  aggregation_key TEXT,
  thread_id       TEXT
);
-- Children of a parent, narrowed by rel_type then event type (/relations, aggregations).
CREATE INDEX event_relations_parent ON event_relations (relates_to_id, rel_type, event_type);
-- Whether an event is itself a child (threads may not start from one).
CREATE INDEX event_relations_event ON event_relations (event_id);
COMMENT ON TABLE event_relations IS 'One row per event whose content carries a well-formed m.relates_to (rel_type + event_id), written when the event is persisted. Validity rules that depend on the parent (e.g. an edit by another sender) are applied when aggregating, not here.';
COMMENT ON COLUMN event_relations.event_nid IS 'The child event.';
COMMENT ON COLUMN event_relations.event_id IS 'The child event ID (joins with relates_to_id for recursive walks).';
COMMENT ON COLUMN event_relations.room_id IS 'Room of the child; relations only count within one room.';
COMMENT ON COLUMN event_relations.relates_to_id IS 'The parent event ID (m.relates_to.event_id); the parent may not be known yet.';
COMMENT ON COLUMN event_relations.rel_type IS 'm.relates_to.rel_type: m.replace, m.thread, m.annotation, m.reference or a custom type.';
COMMENT ON COLUMN event_relations.event_type IS 'Type of the child event (the eventType filter of /relations).';
COMMENT ON COLUMN event_relations.sender IS 'Sender of the child (edit validity, thread participation, duplicate annotations).';
COMMENT ON COLUMN event_relations.aggregation_key IS 'm.relates_to.key of an m.annotation (the reaction); NULL otherwise.';
COMMENT ON COLUMN event_relations.thread_id IS 'Thread root the child belongs to: the parent of an m.thread relation, or the thread of the parent for other relations; NULL outside threads.';

CREATE TABLE room_threads (
  room_id         TEXT NOT NULL REFERENCES rooms (room_id),
  thread_id       TEXT NOT NULL,
  latest_event_nid BIGINT NOT NULL REFERENCES events (event_nid),
  latest_depth    BIGINT NOT NULL,
  PRIMARY KEY (room_id, thread_id)
);
-- GET /threads: roots by latest activity, newest first, paginated by (depth, nid).
CREATE INDEX room_threads_activity ON room_threads (room_id, latest_depth DESC, latest_event_nid DESC);
COMMENT ON TABLE room_threads IS 'Threads of each room with their latest reply, so GET /threads pages roots by latest activity without scanning replies.';
COMMENT ON COLUMN room_threads.room_id IS 'The room.';
COMMENT ON COLUMN room_threads.thread_id IS 'The thread root event ID.';
COMMENT ON COLUMN room_threads.latest_event_nid IS 'The newest m.thread reply (topologically) when it was persisted; a later redaction does not move it back (the bundled aggregation is recomputed at read time).';
COMMENT ON COLUMN room_threads.latest_depth IS 'DAG depth of that reply; first key of the activity order.';

-- GET /timestamp_to_event: the closest event at or around a timestamp.
CREATE INDEX events_room_ts ON events (room_id, origin_server_ts) WHERE stream_ordering IS NOT NULL;

CREATE TABLE reports (
  report_id       BIGSERIAL PRIMARY KEY,
  room_id         TEXT NOT NULL,
  event_id        TEXT,
  reporter        TEXT NOT NULL,
  reason          TEXT,
  score           INT,
  received_ts     BIGINT NOT NULL
);
CREATE INDEX reports_received ON reports (received_ts);
COMMENT ON TABLE reports IS 'Content reports from users (POST /rooms/{roomId}/report[/{eventId}]), kept for server administrators (admin CLI).';
COMMENT ON COLUMN reports.report_id IS 'Report number.';
COMMENT ON COLUMN reports.room_id IS 'The reported room, or the room of the reported event.';
COMMENT ON COLUMN reports.event_id IS 'The reported event; NULL for a report of the whole room.';
COMMENT ON COLUMN reports.reporter IS 'User who sent the report.';
COMMENT ON COLUMN reports.reason IS 'Free text from the reporter; may be empty or absent for event reports.';
COMMENT ON COLUMN reports.score IS 'Offensiveness from -100 (most) to 0 sent by older clients with event reports (removed from the spec in v1.18); NULL when not given.';
COMMENT ON COLUMN reports.received_ts IS 'When the report arrived, ms since epoch.';

-- Down Migration
DROP TABLE reports;
DROP INDEX events_room_ts;
DROP TABLE room_threads;
DROP TABLE event_relations;
