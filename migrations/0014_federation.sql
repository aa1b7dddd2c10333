-- Up Migration
-- Federation state of the event pipeline and the sender
-- (documentation-living/11025-federation-plan.md).

CREATE TABLE federation_inbound_transactions (
  origin          TEXT NOT NULL,
  txn_id          TEXT NOT NULL,
  response        JSONB NOT NULL,
  received_ts     BIGINT NOT NULL,
  PRIMARY KEY (origin, txn_id)
);
CREATE INDEX federation_inbound_transactions_received ON federation_inbound_transactions (received_ts);
COMMENT ON TABLE federation_inbound_transactions IS 'Transactions received with PUT /send/{txnId}, so a retry of the same transaction gets the same answer without processing it again (spec: transactions are identified by origin and ID).';
COMMENT ON COLUMN federation_inbound_transactions.origin IS 'The sending server (from its X-Matrix signature).';
COMMENT ON COLUMN federation_inbound_transactions.txn_id IS 'The transaction ID from the request path.';
COMMENT ON COLUMN federation_inbound_transactions.response IS 'The body we answered ({pdus: {event_id: {} | {error}}}).';
COMMENT ON COLUMN federation_inbound_transactions.received_ts IS 'When it was processed, ms since epoch; rows older than a day are pruned.';

CREATE TABLE federation_destinations (
  destination     TEXT PRIMARY KEY,
  last_sent_stream BIGINT NOT NULL,
  failure_count   INT NOT NULL DEFAULT 0,
  retry_after_ts  BIGINT NOT NULL DEFAULT 0,
  retry_interval_ms BIGINT NOT NULL DEFAULT 0
);
COMMENT ON TABLE federation_destinations IS 'One row per remote server we send to: how far its PDUs have been delivered, and its backoff. PostgreSQL holds this, not Redis, so a restart or a lost Redis resends exactly what the destination has not acknowledged.';
COMMENT ON COLUMN federation_destinations.destination IS 'The remote server name.';
COMMENT ON COLUMN federation_destinations.last_sent_stream IS 'Stream position up to which every local event for this destination was acknowledged (or skipped as too old a backlog).';
COMMENT ON COLUMN federation_destinations.failure_count IS 'Consecutive failed transactions; 0 when the last one succeeded.';
COMMENT ON COLUMN federation_destinations.retry_after_ts IS 'Do not try before this time (ms since epoch) unless the destination contacts us first.';
COMMENT ON COLUMN federation_destinations.retry_interval_ms IS 'The current backoff interval: doubled per failure from 5 s, capped at one hour.';

ALTER TABLE events ADD COLUMN federate_out BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX events_federate_out ON events (stream_ordering) WHERE federate_out;
COMMENT ON COLUMN events.federate_out IS 'This server sends the event to the other servers of the room: events of its own users, and remote membership events that came in through its make_join/send_join (and leave, knock) endpoints, which the resident server must pass on.';

ALTER TABLE room_memberships ADD COLUMN server_name TEXT GENERATED ALWAYS AS (substring(user_id from position(':' in user_id) + 1)) STORED;
CREATE INDEX room_memberships_server ON room_memberships (server_name, membership, room_id);
COMMENT ON COLUMN room_memberships.server_name IS 'The member''s server (derived from user_id): which servers are in a room, and which rooms a server is in, for federation.';

CREATE TABLE invite_room_state (
  event_nid       BIGINT PRIMARY KEY REFERENCES events (event_nid),
  room_state      JSONB NOT NULL
);
COMMENT ON TABLE invite_room_state IS 'The room summary an inviting server sent with an invite to a room this server is not in (invite_room_state), shown to the invitee as stripped state until they join.';
COMMENT ON COLUMN invite_room_state.event_nid IS 'The invite event (held as an outlier).';
COMMENT ON COLUMN invite_room_state.room_state IS 'Stripped state events: type, state_key, sender, content.';

CREATE SEQUENCE backfill_stream_positions INCREMENT BY -1 MAXVALUE -1 START WITH -1;
COMMENT ON SEQUENCE backfill_stream_positions IS 'Stream positions of backfilled events: negative and falling, so history fetched from other servers sorts before every live event and never shows up in /sync as new.';

CREATE TABLE openid_tokens (
  token_hash      BYTEA PRIMARY KEY,
  user_id         TEXT NOT NULL REFERENCES users (user_id),
  expires_ts      BIGINT NOT NULL
);
CREATE INDEX openid_tokens_expiry ON openid_tokens (expires_ts);
COMMENT ON TABLE openid_tokens IS 'OpenID tokens a user asked for (POST /user/{userId}/openid/request_token) to prove who they are to a third party, which checks them with GET /_matrix/federation/v1/openid/userinfo; stored as hashes.';
COMMENT ON COLUMN openid_tokens.token_hash IS 'SHA-256 of the token.';
COMMENT ON COLUMN openid_tokens.user_id IS 'The user the token vouches for.';
COMMENT ON COLUMN openid_tokens.expires_ts IS 'Expiry, ms since epoch; expired rows are deleted when a new token is issued.';

-- Presence of other servers' users arrives in m.presence EDUs and is kept like our own.
ALTER TABLE presence DROP CONSTRAINT presence_user_id_fkey;
COMMENT ON TABLE presence IS 'Presence of local users and of remote users sharing a room with them (spec: "Presence"; remote ones from m.presence EDUs); a user without a row is offline. Only visible changes take a stream position; refreshing last_active_ts while online does not, so active users do not wake everyone''s /sync every minute.';
COMMENT ON COLUMN presence.user_id IS 'The user, local or remote.';

-- Down Migration
DELETE FROM presence p WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.user_id = p.user_id);
ALTER TABLE presence ADD CONSTRAINT presence_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (user_id);
DROP TABLE openid_tokens;
DROP SEQUENCE backfill_stream_positions;
DROP TABLE invite_room_state;
DROP INDEX room_memberships_server;
ALTER TABLE room_memberships DROP COLUMN server_name;
DROP INDEX events_federate_out;
ALTER TABLE events DROP COLUMN federate_out;
DROP TABLE federation_destinations;
DROP TABLE federation_inbound_transactions;
