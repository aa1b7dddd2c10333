-- Up Migration
-- Unread notification counts without counting every unread row on each sync.
-- A rotation (workers/push-rotation/) folds push actions up to a stream
-- position into per (user, room, thread) counts; a sync adds the few rows
-- after that position. A member who never sends a read receipt no longer
-- costs a count of their whole unread history per sync.
-- Design: documentation-living/11015-message-persistence-plan.md, "Push rules and notification counts".

CREATE TABLE event_push_summary (
  user_id       TEXT NOT NULL,
  room_id       TEXT NOT NULL,
  thread_id     TEXT NOT NULL,
  receipt_pos   BIGINT NOT NULL,
  notifications INTEGER NOT NULL,
  highlights    INTEGER NOT NULL,
  PRIMARY KEY (user_id, room_id, thread_id)
);
COMMENT ON TABLE event_push_summary IS 'Per (user, room, thread): the push actions with receipt_pos < stream_ordering <= push_rotation.position, counted. Valid only while the user''s read-up-to position for the thread is still receipt_pos; a sync that finds it moved counts the rows itself.';
COMMENT ON COLUMN event_push_summary.user_id IS 'The local user notified.';
COMMENT ON COLUMN event_push_summary.room_id IS 'The room.';
COMMENT ON COLUMN event_push_summary.thread_id IS 'Thread root event ID, or "main" (as event_push_actions.thread_id).';
COMMENT ON COLUMN event_push_summary.receipt_pos IS 'The read-up-to position the counts start after: the later of the unthreaded receipt and the thread''s receipt when the row was computed (0 for none).';
COMMENT ON COLUMN event_push_summary.notifications IS 'Rows with notify in (receipt_pos, push_rotation.position].';
COMMENT ON COLUMN event_push_summary.highlights IS 'Rows with notify and highlight in (receipt_pos, push_rotation.position].';

CREATE TABLE push_rotation (
  singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
  position  BIGINT NOT NULL
);
INSERT INTO push_rotation (singleton, position) VALUES (TRUE, 0);
COMMENT ON TABLE push_rotation IS 'How far push actions are folded into event_push_summary (one row). Locked FOR UPDATE by a rotation, FOR SHARE by a redaction that removes push actions, so the two never miss each other.';
COMMENT ON COLUMN push_rotation.singleton IS 'Always true: the table has one row.';
COMMENT ON COLUMN push_rotation.position IS 'Every push action at or below this stream position is counted in event_push_summary.';

-- Events by stream position across rooms: the rotation finds the push actions
-- of a stream range through their events (event_push_actions' primary key
-- starts with event_nid, so no extra index on that busy table), and the search
-- indexer reads the events after its position without scanning the table.
CREATE INDEX events_stream ON events (stream_ordering) WHERE stream_ordering IS NOT NULL;

-- With the summaries a sync counts only the rows since the last rotation
-- (or since a new receipt): a range of the user's rows by stream position
-- (event_push_actions_user_stream), with the room as a filter. The per-room
-- index was one more write for each of a large room's members on every
-- message, in the sender's transaction.
DROP INDEX event_push_actions_unread;

-- Down Migration
CREATE INDEX event_push_actions_unread ON event_push_actions (user_id, room_id, stream_ordering);
DROP INDEX events_stream;
DROP TABLE push_rotation;
DROP TABLE event_push_summary;
