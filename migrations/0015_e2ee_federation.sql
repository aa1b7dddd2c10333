-- Up Migration
-- End-to-end encryption across servers: the durable outbox of EDUs that must
-- not be lost (device-list updates, signing-key updates, to-device messages),
-- the stream IDs of our users' device-list updates, the cache of remote users'
-- device lists, and the message IDs of to-device EDUs already delivered.
-- Rationale, retention and limits: documentation-living/11030-end-to-end-encryption-plan.md

CREATE TABLE federation_edu_outbox (
  outbox_id       BIGSERIAL PRIMARY KEY,
  destination     TEXT NOT NULL,
  edu_type        TEXT NOT NULL,
  content         TEXT NOT NULL,
  created_ts      BIGINT NOT NULL
);
CREATE INDEX federation_edu_outbox_destination ON federation_edu_outbox (destination, outbox_id);
COMMENT ON TABLE federation_edu_outbox IS 'EDUs owed to a destination that must survive a crash or an outage (m.device_list_update, m.signing_key_update, m.direct_to_device), written in the transaction of the change they announce and read by the federation sender in order; a row is deleted once a transaction carrying it succeeded, or after a week undelivered.';
COMMENT ON COLUMN federation_edu_outbox.outbox_id IS 'Order of the EDUs for a destination (the sender reads them in this order and deletes exactly the IDs it delivered).';
COMMENT ON COLUMN federation_edu_outbox.destination IS 'The remote server owed the EDU.';
COMMENT ON COLUMN federation_edu_outbox.edu_type IS 'The EDU type, e.g. m.direct_to_device.';
COMMENT ON COLUMN federation_edu_outbox.content IS 'The EDU content as JSON text (to-device content may hold \u0000, which JSONB refuses).';
COMMENT ON COLUMN federation_edu_outbox.created_ts IS 'When it was written, ms since epoch; undelivered rows older than a week are dropped.';

CREATE TABLE e2e_device_list_stream_ids (
  user_id         TEXT PRIMARY KEY,
  stream_id       BIGINT NOT NULL
);
COMMENT ON TABLE e2e_device_list_stream_ids IS 'The latest stream_id of each local user''s m.device_list_update sequence (one per changed device, 1, 2, …): other servers find gaps through prev_id, and GET /user/devices answers it as the version of the list.';
COMMENT ON COLUMN e2e_device_list_stream_ids.user_id IS 'The local user.';
COMMENT ON COLUMN e2e_device_list_stream_ids.stream_id IS 'The stream_id of the user''s latest device-list update.';

CREATE TABLE e2e_remote_device_lists (
  user_id         TEXT PRIMARY KEY,
  stream_id       BIGINT NOT NULL,
  master_key      TEXT,
  self_signing_key TEXT,
  stale           BOOLEAN NOT NULL DEFAULT FALSE,
  updated_ts      BIGINT NOT NULL
);
COMMENT ON TABLE e2e_remote_device_lists IS 'Remote users whose device lists this server keeps (users sharing a room with a local user, as Synapse''s device_lists_remote_extremeties): filled by GET /user/devices, kept current by m.device_list_update and m.signing_key_update, dropped when no local user shares a room with them any more.';
COMMENT ON COLUMN e2e_remote_device_lists.user_id IS 'The remote user.';
COMMENT ON COLUMN e2e_remote_device_lists.stream_id IS 'The remote server''s stream_id the cached list reflects; an update whose prev_id does not name it reveals a gap and forces a resync.';
COMMENT ON COLUMN e2e_remote_device_lists.master_key IS 'The user''s master cross-signing key as their server published it (JSON text), NULL when they have none.';
COMMENT ON COLUMN e2e_remote_device_lists.self_signing_key IS 'The user''s self-signing key (JSON text), NULL when they have none.';
COMMENT ON COLUMN e2e_remote_device_lists.stale IS 'A gap was seen and the resync failed: queries ask the user''s server directly until a resync succeeds.';
COMMENT ON COLUMN e2e_remote_device_lists.updated_ts IS 'Last change of the cached list, ms since epoch.';

CREATE TABLE e2e_remote_devices (
  user_id         TEXT NOT NULL REFERENCES e2e_remote_device_lists (user_id) ON DELETE CASCADE,
  device_id       TEXT NOT NULL,
  key_json        TEXT,
  display_name    TEXT,
  PRIMARY KEY (user_id, device_id)
);
COMMENT ON TABLE e2e_remote_devices IS 'The devices of the remote users in e2e_remote_device_lists, answered by /keys/query without asking their server.';
COMMENT ON COLUMN e2e_remote_devices.user_id IS 'The remote user.';
COMMENT ON COLUMN e2e_remote_devices.device_id IS 'The device.';
COMMENT ON COLUMN e2e_remote_devices.key_json IS 'Its DeviceKeys object with the signatures its server published (JSON text), NULL for a device without keys.';
COMMENT ON COLUMN e2e_remote_devices.display_name IS 'The display name its server published, if any (Synapse publishes none by default).';

CREATE TABLE federation_to_device_received (
  origin          TEXT NOT NULL,
  message_id      TEXT NOT NULL,
  received_ts     BIGINT NOT NULL,
  PRIMARY KEY (origin, message_id)
);
CREATE INDEX federation_to_device_received_ts ON federation_to_device_received (received_ts);
COMMENT ON TABLE federation_to_device_received IS 'm.direct_to_device EDUs already delivered to local devices, so a resent EDU (a retried transaction, a sender that crashed before its acknowledgement) is not delivered twice. Rows older than a day are pruned.';
COMMENT ON COLUMN federation_to_device_received.origin IS 'The sending server.';
COMMENT ON COLUMN federation_to_device_received.message_id IS 'The EDU''s message_id (unique per origin).';
COMMENT ON COLUMN federation_to_device_received.received_ts IS 'When it was delivered, ms since epoch.';

-- Down Migration
DROP TABLE federation_to_device_received;
DROP TABLE e2e_remote_devices;
DROP TABLE e2e_remote_device_lists;
DROP TABLE e2e_device_list_stream_ids;
DROP TABLE federation_edu_outbox;
