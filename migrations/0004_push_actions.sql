-- Up Migration
-- The outcome of each local user's push rules for each event that notifies
-- them, written in the event's own transaction. Unread notification counts in
-- /sync and GET /notifications are read from here; the user's read receipts
-- (receipts table) decide which rows are still unread.
-- Design: documentation-living/11015-message-persistence-plan.md, "Push rules and notification counts".

CREATE TABLE event_push_actions (
  event_nid       BIGINT NOT NULL REFERENCES events (event_nid) ON DELETE CASCADE,
  user_id         TEXT NOT NULL,
  room_id         TEXT NOT NULL REFERENCES rooms (room_id),
  stream_ordering BIGINT NOT NULL,
  thread_id       TEXT NOT NULL DEFAULT 'main',
  notify          BOOLEAN NOT NULL,
  highlight       BOOLEAN NOT NULL,
  actions         JSONB NOT NULL,
  PRIMARY KEY (event_nid, user_id)
);
-- Unread counts: per user and room, the rows after the read receipt (range scan).
CREATE INDEX event_push_actions_unread ON event_push_actions (user_id, room_id, stream_ordering);
-- GET /notifications: a user's rows newest first, all or highlights only.
CREATE INDEX event_push_actions_user_stream ON event_push_actions (user_id, stream_ordering);
CREATE INDEX event_push_actions_user_highlight ON event_push_actions (user_id, stream_ordering) WHERE highlight;
COMMENT ON TABLE event_push_actions IS 'One row per (event, local user) whose push rules made the event notify that user; the source of unread counts and GET /notifications.';
COMMENT ON COLUMN event_push_actions.event_nid IS 'The event (events.event_nid); rows go when the event is deleted or redacted.';
COMMENT ON COLUMN event_push_actions.user_id IS 'The local user notified (never the sender).';
COMMENT ON COLUMN event_push_actions.room_id IS 'Room of the event, so counts group by room without joining events.';
COMMENT ON COLUMN event_push_actions.stream_ordering IS 'Stream position of the event; compared with the position of the event a read receipt names.';
COMMENT ON COLUMN event_push_actions.thread_id IS 'Thread root event ID for events in a thread (m.thread relation), "main" for the main timeline; threaded receipts and counts partition by it.';
COMMENT ON COLUMN event_push_actions.notify IS 'The actions include "notify": the event counts in notification_count. Only such outcomes are stored today; the column leaves room for ones that count without pushing.';
COMMENT ON COLUMN event_push_actions.highlight IS 'The actions set the highlight tweak (true): a notifying event with it also counts in highlight_count.';
COMMENT ON COLUMN event_push_actions.actions IS 'The matched rule''s actions (historical ones stripped), as GET /notifications returns them.';

-- Down Migration
DROP TABLE event_push_actions;
