-- Up Migration
-- Read receipts and account data: both delivered through /sync, both
-- positioned in the global stream (stream_head) so sync tokens cover them.

CREATE TABLE receipts (
  room_id         TEXT NOT NULL REFERENCES rooms (room_id),
  receipt_type    TEXT NOT NULL,
  user_id         TEXT NOT NULL,
  thread_id       TEXT NOT NULL DEFAULT '',
  event_id        TEXT NOT NULL,
  ts              BIGINT NOT NULL,
  stream_ordering BIGINT NOT NULL,
  PRIMARY KEY (room_id, receipt_type, user_id, thread_id)
);
CREATE INDEX receipts_room_stream ON receipts (room_id, stream_ordering);
COMMENT ON TABLE receipts IS 'The latest receipt of each type per user, room and thread (spec: "Receipts"); older receipts are replaced, not kept.';
COMMENT ON COLUMN receipts.room_id IS 'The room.';
COMMENT ON COLUMN receipts.receipt_type IS 'm.read or m.read.private.';
COMMENT ON COLUMN receipts.user_id IS 'The reader.';
COMMENT ON COLUMN receipts.thread_id IS 'Thread root event ID, "main" for the main timeline, empty for an unthreaded receipt.';
COMMENT ON COLUMN receipts.event_id IS 'The event read up to.';
COMMENT ON COLUMN receipts.ts IS 'When the receipt was sent, ms since epoch.';
COMMENT ON COLUMN receipts.stream_ordering IS 'Stream position of the update, for incremental sync.';

CREATE TABLE account_data (
  user_id         TEXT NOT NULL,
  room_id         TEXT NOT NULL DEFAULT '',
  type            TEXT NOT NULL,
  content         JSONB NOT NULL,
  stream_ordering BIGINT NOT NULL,
  PRIMARY KEY (user_id, room_id, type)
);
CREATE INDEX account_data_user_stream ON account_data (user_id, stream_ordering);
COMMENT ON TABLE account_data IS 'Per-user global and per-room account data (tags, m.fully_read, m.direct, push rules, ignored users...).';
COMMENT ON COLUMN account_data.user_id IS 'Owner.';
COMMENT ON COLUMN account_data.room_id IS 'Room for room account data; empty string for global account data.';
COMMENT ON COLUMN account_data.type IS 'Account data type.';
COMMENT ON COLUMN account_data.content IS 'The content as set by the client.';
COMMENT ON COLUMN account_data.stream_ordering IS 'Stream position of the last change, for incremental sync.';

-- Down Migration
DROP TABLE account_data;
DROP TABLE receipts;
