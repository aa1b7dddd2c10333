-- Up Migration
-- The event pipeline becomes DAG-aware (documentation-living/11015 and 11025):
-- events carry their outcome (accepted, rejected, soft-failed, outlier) and the
-- state after them; state resolution results are cached by their inputs; the
-- edges of held history (backward extremities) are tracked for backfill.
ALTER TABLE events ADD COLUMN outlier BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE events ADD COLUMN soft_failed BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE events ADD COLUMN state_group_after BIGINT REFERENCES state_groups (state_group);
-- Until now a state event's own snapshot was the first group holding it, and a
-- non-state event left the state as it was.
UPDATE events e SET state_group_after = CASE
    WHEN e.state_key IS NULL THEN e.state_group_before
    ELSE COALESCE((SELECT min(s.state_group) FROM state_group_entries s WHERE s.event_nid = e.event_nid), e.state_group_before)
  END;
COMMENT ON COLUMN events.outlier IS 'Held without a known place in the DAG (auth chains, state received with a join or /state_ids): no state snapshot, no stream position, never a forward extremity. Cleared when the event is later persisted in the timeline.';
COMMENT ON COLUMN events.soft_failed IS 'Passed the auth rules against its auth events and the state before it, but not against the current state (spec "Soft failure"): stored and usable as a prev_event, never served to clients or made a forward extremity.';
COMMENT ON COLUMN events.state_group_after IS 'State snapshot after this event: its own snapshot for an accepted or soft-failed state event, state_group_before otherwise; NULL for outliers. The state before a new event is the resolution of its prev_events'' state_group_after.';
ALTER TABLE events ADD CONSTRAINT events_outlier_has_no_position CHECK (NOT outlier OR stream_ordering IS NULL);

ALTER TABLE rooms ADD COLUMN resolved_state_stream BIGINT NOT NULL DEFAULT 0;
COMMENT ON COLUMN rooms.resolved_state_stream IS 'Stream position of the last current-state change that was not simply the event at that position setting its own key (state resolution between forks, the state received with a federated join): incremental sync then sends the changed state even when the timeline is not limited.';

CREATE TABLE state_resolutions (
  room_id         TEXT NOT NULL REFERENCES rooms (room_id),
  input_groups    BIGINT[] NOT NULL,
  state_group     BIGINT NOT NULL REFERENCES state_groups (state_group),
  PRIMARY KEY (room_id, input_groups)
);
COMMENT ON TABLE state_resolutions IS 'Cache of state resolution: the snapshot that resolving a set of snapshots gave, so forks are resolved once, not once per event that merges them.';
COMMENT ON COLUMN state_resolutions.room_id IS 'The room.';
COMMENT ON COLUMN state_resolutions.input_groups IS 'The resolved snapshots, distinct and ascending.';
COMMENT ON COLUMN state_resolutions.state_group IS 'The snapshot of the resolved state (a delta against one of the inputs).';

CREATE TABLE room_backward_extremities (
  room_id         TEXT NOT NULL REFERENCES rooms (room_id),
  event_id        TEXT NOT NULL,
  PRIMARY KEY (room_id, event_id)
);
COMMENT ON TABLE room_backward_extremities IS 'Events named as prev_events by timeline events we hold but not held in the timeline themselves: where backfill and get_missing_events continue.';
COMMENT ON COLUMN room_backward_extremities.room_id IS 'The room.';
COMMENT ON COLUMN room_backward_extremities.event_id IS 'The missing event.';

-- Down Migration
DROP TABLE room_backward_extremities;
DROP TABLE state_resolutions;
ALTER TABLE rooms DROP COLUMN resolved_state_stream;
ALTER TABLE events DROP CONSTRAINT events_outlier_has_no_position;
ALTER TABLE events DROP COLUMN state_group_after;
ALTER TABLE events DROP COLUMN soft_failed;
ALTER TABLE events DROP COLUMN outlier;
