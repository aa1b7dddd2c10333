-- Up Migration
-- Rooms, the event DAG, state snapshots stored as bounded delta chains, current
-- state and memberships, and the global stream sequence behind sync tokens.
-- Design and query patterns: documentation-living/11010-database-plan.md and
-- documentation-living/11015-message-persistence-plan.md.

CREATE TABLE stream_head (
  singleton       BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
  position        BIGINT NOT NULL
);
INSERT INTO stream_head (position) VALUES (0);
COMMENT ON TABLE stream_head IS 'The last stream position handed out. Writers advance it with UPDATE ... RETURNING in their transaction, so its row lock orders commits and a reader that sees position N sees everything up to N: sync tokens never skip an event.';
COMMENT ON COLUMN stream_head.singleton IS 'Always TRUE: the table has one row.';
COMMENT ON COLUMN stream_head.position IS 'Highest committed stream position (events, receipts, account data share this one order).';

CREATE TABLE rooms (
  room_id         TEXT PRIMARY KEY,
  room_version    TEXT NOT NULL,
  creator         TEXT NOT NULL,
  is_public       BOOLEAN NOT NULL DEFAULT FALSE,
  current_state_group BIGINT,
  created_ts      BIGINT NOT NULL
);
COMMENT ON TABLE rooms IS 'Rooms this server knows; one row per room.';
COMMENT ON COLUMN rooms.room_id IS 'Room ID (v12: ! + create event hash).';
COMMENT ON COLUMN rooms.room_version IS 'Room version from the create event; selects the protocol rules.';
COMMENT ON COLUMN rooms.creator IS 'Sender of the create event.';
COMMENT ON COLUMN rooms.is_public IS 'Listed in this server''s public room directory.';
COMMENT ON COLUMN rooms.current_state_group IS 'Snapshot of the current state (after the forward extremity); the state before the next local event.';
COMMENT ON COLUMN rooms.created_ts IS 'When this server learned of the room, ms since epoch.';

CREATE TABLE events (
  event_nid       BIGSERIAL PRIMARY KEY,
  event_id        TEXT NOT NULL UNIQUE,
  room_id         TEXT NOT NULL REFERENCES rooms (room_id),
  type            TEXT NOT NULL,
  state_key       TEXT,
  sender          TEXT NOT NULL,
  origin_server_ts BIGINT NOT NULL,
  depth           BIGINT NOT NULL,
  stream_ordering BIGINT UNIQUE,
  state_group_before BIGINT,
  rejected_reason TEXT,
  redacted_by     TEXT,
  pdu             TEXT NOT NULL
);
CREATE INDEX events_room_stream ON events (room_id, stream_ordering) WHERE stream_ordering IS NOT NULL;
CREATE INDEX events_room_topological ON events (room_id, depth, stream_ordering);
COMMENT ON TABLE events IS 'Every event this server holds, accepted or rejected, as the signed PDU.';
COMMENT ON COLUMN events.event_nid IS 'Numeric ID, used by state tables instead of the long event ID.';
COMMENT ON COLUMN events.event_id IS 'Matrix event ID.';
COMMENT ON COLUMN events.room_id IS 'Room the event belongs to.';
COMMENT ON COLUMN events.type IS 'Event type.';
COMMENT ON COLUMN events.state_key IS 'State key; NULL for message (non-state) events.';
COMMENT ON COLUMN events.sender IS 'User who sent the event.';
COMMENT ON COLUMN events.origin_server_ts IS 'Timestamp claimed by the origin server, ms since epoch.';
COMMENT ON COLUMN events.depth IS 'DAG depth (1 + max depth of prev_events); first key of topological order.';
COMMENT ON COLUMN events.stream_ordering IS 'Position in the global stream (stream_head) once the event is part of the room timeline; NULL for outliers and rejected events.';
COMMENT ON COLUMN events.state_group_before IS 'State snapshot before this event (state_groups); the state after a state event is its own group.';
COMMENT ON COLUMN events.rejected_reason IS 'Why the auth rules rejected the event; NULL when accepted.';
COMMENT ON COLUMN events.redacted_by IS 'Event ID of the redaction applied to this event, if any; clients then see the redacted form.';
COMMENT ON COLUMN events.pdu IS 'The PDU as signed (JSON text), without unsigned data.';

CREATE TABLE event_edges (
  event_nid       BIGINT NOT NULL REFERENCES events (event_nid),
  prev_event_id   TEXT NOT NULL,
  PRIMARY KEY (event_nid, prev_event_id)
);
CREATE INDEX event_edges_prev ON event_edges (prev_event_id);
COMMENT ON TABLE event_edges IS 'DAG edges: prev_events of each event (by ID, as the parent may not be held yet).';
COMMENT ON COLUMN event_edges.event_nid IS 'The child event.';
COMMENT ON COLUMN event_edges.prev_event_id IS 'One of its prev_events.';

CREATE TABLE event_auth_edges (
  event_nid       BIGINT NOT NULL REFERENCES events (event_nid),
  auth_event_id   TEXT NOT NULL,
  PRIMARY KEY (event_nid, auth_event_id)
);
COMMENT ON TABLE event_auth_edges IS 'Auth DAG edges: auth_events of each event, walked for auth chains and state resolution.';
COMMENT ON COLUMN event_auth_edges.event_nid IS 'The event.';
COMMENT ON COLUMN event_auth_edges.auth_event_id IS 'One of its auth_events.';

CREATE TABLE room_forward_extremities (
  room_id         TEXT NOT NULL REFERENCES rooms (room_id),
  event_id        TEXT NOT NULL,
  PRIMARY KEY (room_id, event_id)
);
COMMENT ON TABLE room_forward_extremities IS 'Events with no known children: the prev_events of the next event created here.';
COMMENT ON COLUMN room_forward_extremities.room_id IS 'The room.';
COMMENT ON COLUMN room_forward_extremities.event_id IS 'An extremity event.';

CREATE TABLE state_groups (
  state_group     BIGSERIAL PRIMARY KEY,
  room_id         TEXT NOT NULL REFERENCES rooms (room_id),
  prev_state_group BIGINT REFERENCES state_groups (state_group),
  chain_length    INT NOT NULL
);
COMMENT ON TABLE state_groups IS 'State snapshots. A group stores only its delta against prev_state_group; chains are cut (a full snapshot is written) past 50 deltas, so reads touch a bounded number of rows and storage grows with state changes, not with events.';
COMMENT ON COLUMN state_groups.state_group IS 'Snapshot ID.';
COMMENT ON COLUMN state_groups.room_id IS 'The room.';
COMMENT ON COLUMN state_groups.prev_state_group IS 'The snapshot this one is a delta against; NULL for a full snapshot.';
COMMENT ON COLUMN state_groups.chain_length IS 'Number of deltas between this group and the full snapshot at the root of its chain.';

CREATE TABLE state_group_entries (
  state_group     BIGINT NOT NULL REFERENCES state_groups (state_group),
  type            TEXT NOT NULL,
  state_key       TEXT NOT NULL,
  event_nid       BIGINT REFERENCES events (event_nid),
  PRIMARY KEY (state_group, type, state_key)
);
COMMENT ON TABLE state_group_entries IS 'The (type, state_key) → event entries a snapshot adds or replaces relative to its predecessor.';
COMMENT ON COLUMN state_group_entries.state_group IS 'The snapshot.';
COMMENT ON COLUMN state_group_entries.type IS 'State event type.';
COMMENT ON COLUMN state_group_entries.state_key IS 'State key.';
COMMENT ON COLUMN state_group_entries.event_nid IS 'The state event; NULL removes the key (possible after state resolution).';

CREATE TABLE room_current_state (
  room_id         TEXT NOT NULL REFERENCES rooms (room_id),
  type            TEXT NOT NULL,
  state_key       TEXT NOT NULL,
  event_nid       BIGINT NOT NULL REFERENCES events (event_nid),
  stream_ordering BIGINT NOT NULL,
  PRIMARY KEY (room_id, type, state_key)
);
COMMENT ON TABLE room_current_state IS 'The resolved current state of each room, for reads that need no history (send, members, sync).';
COMMENT ON COLUMN room_current_state.room_id IS 'The room.';
COMMENT ON COLUMN room_current_state.type IS 'State event type.';
COMMENT ON COLUMN room_current_state.state_key IS 'State key.';
COMMENT ON COLUMN room_current_state.event_nid IS 'The state event in force.';
COMMENT ON COLUMN room_current_state.stream_ordering IS 'Stream position at which this entry last changed (incremental sync state deltas).';

CREATE TABLE room_memberships (
  room_id         TEXT NOT NULL REFERENCES rooms (room_id),
  user_id         TEXT NOT NULL,
  membership      TEXT NOT NULL,
  event_nid       BIGINT NOT NULL REFERENCES events (event_nid),
  stream_ordering BIGINT NOT NULL,
  forgotten       BOOLEAN NOT NULL DEFAULT FALSE,
  PRIMARY KEY (room_id, user_id)
);
CREATE INDEX room_memberships_user ON room_memberships (user_id, membership);
COMMENT ON TABLE room_memberships IS 'Current membership of every user in every room (derived from current state), for "rooms of a user" queries.';
COMMENT ON COLUMN room_memberships.room_id IS 'The room.';
COMMENT ON COLUMN room_memberships.user_id IS 'The member (local or remote).';
COMMENT ON COLUMN room_memberships.membership IS 'join, invite, leave, ban or knock.';
COMMENT ON COLUMN room_memberships.event_nid IS 'The membership event.';
COMMENT ON COLUMN room_memberships.stream_ordering IS 'Stream position of the membership event.';
COMMENT ON COLUMN room_memberships.forgotten IS 'The user forgot the room (POST /forget); it no longer appears in their sync.';

CREATE TABLE event_txn_ids (
  user_id         TEXT NOT NULL,
  device_id       TEXT NOT NULL,
  txn_id          TEXT NOT NULL,
  event_id        TEXT NOT NULL,
  created_ts      BIGINT NOT NULL,
  PRIMARY KEY (user_id, device_id, txn_id)
);
COMMENT ON TABLE event_txn_ids IS 'Client transaction IDs already used, so a retried send returns the same event instead of a new one.';
COMMENT ON COLUMN event_txn_ids.user_id IS 'Sender.';
COMMENT ON COLUMN event_txn_ids.device_id IS 'Sending device (the spec scopes transaction IDs per device).';
COMMENT ON COLUMN event_txn_ids.txn_id IS 'The client''s transaction ID from the request path.';
COMMENT ON COLUMN event_txn_ids.event_id IS 'The event the first request created.';
COMMENT ON COLUMN event_txn_ids.created_ts IS 'When it was first used; rows older than a day can be pruned.';

CREATE TABLE room_aliases (
  room_alias      TEXT PRIMARY KEY,
  room_id         TEXT NOT NULL REFERENCES rooms (room_id),
  creator         TEXT NOT NULL
);
CREATE INDEX room_aliases_room ON room_aliases (room_id);
COMMENT ON TABLE room_aliases IS 'Local room aliases (#name:server_name) and the rooms they point to.';
COMMENT ON COLUMN room_aliases.room_alias IS 'The full alias.';
COMMENT ON COLUMN room_aliases.room_id IS 'The room it resolves to.';
COMMENT ON COLUMN room_aliases.creator IS 'User who created the alias; they may delete it.';

CREATE TABLE user_filters (
  user_id         TEXT NOT NULL,
  filter_id       BIGSERIAL,
  filter_json     JSONB NOT NULL,
  PRIMARY KEY (user_id, filter_id)
);
COMMENT ON TABLE user_filters IS 'Filters uploaded with POST /user/{userId}/filter, referenced by ID from /sync.';
COMMENT ON COLUMN user_filters.user_id IS 'Owner of the filter.';
COMMENT ON COLUMN user_filters.filter_id IS 'ID returned to the client (its decimal string).';
COMMENT ON COLUMN user_filters.filter_json IS 'The filter definition as uploaded.';

-- Down Migration
DROP TABLE user_filters;
DROP TABLE room_aliases;
DROP TABLE event_txn_ids;
DROP TABLE room_memberships;
DROP TABLE room_current_state;
DROP TABLE state_group_entries;
DROP TABLE state_groups;
DROP TABLE room_forward_extremities;
DROP TABLE event_auth_edges;
DROP TABLE event_edges;
DROP TABLE events;
DROP TABLE rooms;
DROP TABLE stream_head;
