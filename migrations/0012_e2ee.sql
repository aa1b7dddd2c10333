-- Up Migration
-- End-to-end encryption: what the server keeps for clients that encrypt.
-- Device identity keys, one-time and fallback keys, cross-signing keys and
-- the signatures on them, device-list changes, to-device messages and
-- server-side key backups. The server never sees a private key or a
-- plaintext: every value here is public or encrypted by the clients.
-- Client JSON is kept as JSON text, not JSONB: JSONB refuses the \u0000
-- escape, which client content may legitimately carry.
-- Rationale, retention and limits: documentation-living/11030-end-to-end-encryption-plan.md

CREATE TABLE e2e_device_keys (
  user_id         TEXT NOT NULL,
  device_id       TEXT NOT NULL,
  key_json        TEXT NOT NULL,
  uploaded_ts     BIGINT NOT NULL,
  PRIMARY KEY (user_id, device_id),
  FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
);
COMMENT ON TABLE e2e_device_keys IS 'Identity keys of local devices (POST /keys/upload device_keys), served by /keys/query; deleted with the device.';
COMMENT ON COLUMN e2e_device_keys.user_id IS 'Owner of the device.';
COMMENT ON COLUMN e2e_device_keys.device_id IS 'The device the keys belong to.';
COMMENT ON COLUMN e2e_device_keys.key_json IS 'The DeviceKeys object as uploaded and checked (its self-signature verified), without unsigned; cross-signing signatures added later live in e2e_signatures.';
COMMENT ON COLUMN e2e_device_keys.uploaded_ts IS 'When these keys were last uploaded, ms since epoch.';

CREATE TABLE e2e_one_time_keys (
  key_nid         BIGSERIAL PRIMARY KEY,
  user_id         TEXT NOT NULL,
  device_id       TEXT NOT NULL,
  algorithm       TEXT NOT NULL,
  key_id          TEXT NOT NULL,
  key_json        TEXT NOT NULL,
  uploaded_ts     BIGINT NOT NULL,
  claimed_ts      BIGINT,
  UNIQUE (user_id, device_id, algorithm, key_id),
  FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
);
CREATE INDEX e2e_one_time_keys_unclaimed ON e2e_one_time_keys (user_id, device_id, algorithm, key_nid) WHERE claimed_ts IS NULL;
COMMENT ON TABLE e2e_one_time_keys IS 'One-time keys of local devices. A claimed key stays as a tombstone so that the same key ID is never handed out again, even when a client uploads it a second time; rows go with the device.';
COMMENT ON COLUMN e2e_one_time_keys.key_nid IS 'Upload order: /keys/claim hands out the oldest unclaimed key first, as the spec asks.';
COMMENT ON COLUMN e2e_one_time_keys.user_id IS 'Owner of the device.';
COMMENT ON COLUMN e2e_one_time_keys.device_id IS 'The device that holds the private half.';
COMMENT ON COLUMN e2e_one_time_keys.algorithm IS 'Key algorithm, the part of "<algorithm>:<key_id>" before the colon (e.g. signed_curve25519).';
COMMENT ON COLUMN e2e_one_time_keys.key_id IS 'Key ID, the part after the colon.';
COMMENT ON COLUMN e2e_one_time_keys.key_json IS 'The key: a JSON string (unsigned algorithms) or the signed key object, as uploaded.';
COMMENT ON COLUMN e2e_one_time_keys.uploaded_ts IS 'Upload time, ms since epoch.';
COMMENT ON COLUMN e2e_one_time_keys.claimed_ts IS 'When /keys/claim handed the key out (ms since epoch); NULL while unclaimed.';

CREATE TABLE e2e_fallback_keys (
  user_id         TEXT NOT NULL,
  device_id       TEXT NOT NULL,
  algorithm       TEXT NOT NULL,
  key_id          TEXT NOT NULL,
  key_json        TEXT NOT NULL,
  used            BOOLEAN NOT NULL DEFAULT FALSE,
  uploaded_ts     BIGINT NOT NULL,
  PRIMARY KEY (user_id, device_id, algorithm),
  FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
);
COMMENT ON TABLE e2e_fallback_keys IS 'The one fallback key per device and algorithm, handed out by /keys/claim when the one-time keys run out; replaced by the next upload.';
COMMENT ON COLUMN e2e_fallback_keys.user_id IS 'Owner of the device.';
COMMENT ON COLUMN e2e_fallback_keys.device_id IS 'The device that holds the private half.';
COMMENT ON COLUMN e2e_fallback_keys.algorithm IS 'Key algorithm (e.g. signed_curve25519).';
COMMENT ON COLUMN e2e_fallback_keys.key_id IS 'Key ID.';
COMMENT ON COLUMN e2e_fallback_keys.key_json IS 'The signed key object, as uploaded.';
COMMENT ON COLUMN e2e_fallback_keys.used IS 'Handed out at least once: /sync then leaves the algorithm out of device_unused_fallback_key_types so the client uploads a new one.';
COMMENT ON COLUMN e2e_fallback_keys.uploaded_ts IS 'Upload time, ms since epoch.';

CREATE TABLE e2e_cross_signing_keys (
  user_id         TEXT NOT NULL REFERENCES users (user_id),
  key_type        TEXT NOT NULL CHECK (key_type IN ('master', 'self_signing', 'user_signing')),
  public_key      TEXT NOT NULL,
  key_json        TEXT NOT NULL,
  uploaded_ts     BIGINT NOT NULL,
  PRIMARY KEY (user_id, key_type)
);
COMMENT ON TABLE e2e_cross_signing_keys IS 'The current cross-signing keys of local users (POST /keys/device_signing/upload); an upload replaces the key of its type.';
COMMENT ON COLUMN e2e_cross_signing_keys.user_id IS 'Owner of the key.';
COMMENT ON COLUMN e2e_cross_signing_keys.key_type IS 'master, self_signing or user_signing.';
COMMENT ON COLUMN e2e_cross_signing_keys.public_key IS 'The unpadded Base64 ed25519 public key, which is also its key ID ("ed25519:<public_key>").';
COMMENT ON COLUMN e2e_cross_signing_keys.key_json IS 'The CrossSigningKey object as uploaded (signatures by the master key verified).';
COMMENT ON COLUMN e2e_cross_signing_keys.uploaded_ts IS 'Upload time, ms since epoch.';

CREATE TABLE e2e_signatures (
  target_user_id  TEXT NOT NULL,
  target_key_id   TEXT NOT NULL,
  signer_user_id  TEXT NOT NULL,
  signer_key_id   TEXT NOT NULL,
  signature       TEXT NOT NULL,
  created_ts      BIGINT NOT NULL,
  PRIMARY KEY (target_user_id, target_key_id, signer_user_id, signer_key_id)
);
CREATE INDEX e2e_signatures_signer ON e2e_signatures (signer_user_id, signer_key_id);
COMMENT ON TABLE e2e_signatures IS 'Signatures uploaded with POST /keys/signatures/upload (checked), merged into /keys/query answers. A signature by a user on another user''s key is shown only to the signer, as the spec says.';
COMMENT ON COLUMN e2e_signatures.target_user_id IS 'Owner of the signed key.';
COMMENT ON COLUMN e2e_signatures.target_key_id IS 'The signed key: a device ID for device keys, the public key for a master key.';
COMMENT ON COLUMN e2e_signatures.signer_user_id IS 'The user who signed.';
COMMENT ON COLUMN e2e_signatures.signer_key_id IS 'The signing key, e.g. "ed25519:<self-signing public key>" or "ed25519:<device ID>".';
COMMENT ON COLUMN e2e_signatures.signature IS 'Unpadded Base64 ed25519 signature.';
COMMENT ON COLUMN e2e_signatures.created_ts IS 'Upload time, ms since epoch.';

CREATE TABLE device_list_changes (
  user_id         TEXT PRIMARY KEY,
  stream_ordering BIGINT NOT NULL
);
CREATE INDEX device_list_changes_stream ON device_list_changes (stream_ordering);
COMMENT ON TABLE device_list_changes IS 'The latest change of each user''s device list (device keys uploaded or changed, device deleted or renamed, cross-signing keys or self-signatures changed): /sync device_lists.changed and /keys/changes. One row per user, so it never grows with activity; the federation layer records remote users here too when their device lists change.';
COMMENT ON COLUMN device_list_changes.user_id IS 'The user whose device list changed (local, or remote once federation reports it).';
COMMENT ON COLUMN device_list_changes.stream_ordering IS 'Stream position of the latest change.';

CREATE TABLE e2e_user_signature_changes (
  signer_user_id  TEXT NOT NULL,
  target_user_id  TEXT NOT NULL,
  stream_ordering BIGINT NOT NULL,
  PRIMARY KEY (signer_user_id, target_user_id)
);
COMMENT ON TABLE e2e_user_signature_changes IS 'The latest signature a user uploaded on another user''s master key: only the signer sees it, so only the signer''s devices are told (device_lists.changed) to query the target again.';
COMMENT ON COLUMN e2e_user_signature_changes.signer_user_id IS 'The signing (local) user.';
COMMENT ON COLUMN e2e_user_signature_changes.target_user_id IS 'The user whose master key was signed.';
COMMENT ON COLUMN e2e_user_signature_changes.stream_ordering IS 'Stream position of the latest such signature.';

CREATE TABLE to_device_inbox (
  user_id         TEXT NOT NULL,
  device_id       TEXT NOT NULL,
  stream_ordering BIGINT NOT NULL,
  sender          TEXT NOT NULL,
  type            TEXT NOT NULL,
  content         TEXT NOT NULL,
  PRIMARY KEY (user_id, device_id, stream_ordering),
  FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
);
COMMENT ON TABLE to_device_inbox IS 'To-device messages waiting for a local device: delivered by /sync and the stream, deleted once a later sync token acknowledges them, or with the device. Bounded per device (see 11030).';
COMMENT ON COLUMN to_device_inbox.user_id IS 'Recipient user.';
COMMENT ON COLUMN to_device_inbox.device_id IS 'Recipient device.';
COMMENT ON COLUMN to_device_inbox.stream_ordering IS 'Stream position of the send (one per request); sync tokens acknowledge up to a position.';
COMMENT ON COLUMN to_device_inbox.sender IS 'Sending user.';
COMMENT ON COLUMN to_device_inbox.type IS 'Event type from the request path.';
COMMENT ON COLUMN to_device_inbox.content IS 'Message content (usually m.room.encrypted ciphertext).';

CREATE TABLE to_device_txn_ids (
  user_id         TEXT NOT NULL,
  device_id       TEXT NOT NULL,
  event_type      TEXT NOT NULL,
  txn_id          TEXT NOT NULL,
  created_ts      BIGINT NOT NULL,
  PRIMARY KEY (user_id, device_id, event_type, txn_id),
  FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
);
COMMENT ON TABLE to_device_txn_ids IS 'Transaction IDs of PUT /sendToDevice already handled, so a retried request sends nothing twice. Rows older than a day are pruned on the device''s next send.';
COMMENT ON COLUMN to_device_txn_ids.user_id IS 'Sender.';
COMMENT ON COLUMN to_device_txn_ids.device_id IS 'Sending device (transaction IDs are scoped per device).';
COMMENT ON COLUMN to_device_txn_ids.event_type IS 'Event type from the path (the IDs are scoped per endpoint and path parameters).';
COMMENT ON COLUMN to_device_txn_ids.txn_id IS 'The client''s transaction ID.';
COMMENT ON COLUMN to_device_txn_ids.created_ts IS 'First use, ms since epoch.';

CREATE TABLE e2e_room_keys_versions (
  user_id         TEXT NOT NULL REFERENCES users (user_id),
  version         BIGINT NOT NULL,
  algorithm       TEXT NOT NULL,
  auth_data       TEXT NOT NULL,
  etag            BIGINT NOT NULL DEFAULT 0,
  key_count       BIGINT NOT NULL DEFAULT 0,
  deleted         BOOLEAN NOT NULL DEFAULT FALSE,
  PRIMARY KEY (user_id, version)
);
COMMENT ON TABLE e2e_room_keys_versions IS 'Server-side key backups (/room_keys/version). The newest undeleted version is the current one; a deleted version keeps its row so deleting it again answers 200 and its number is never reused.';
COMMENT ON COLUMN e2e_room_keys_versions.user_id IS 'Owner of the backup.';
COMMENT ON COLUMN e2e_room_keys_versions.version IS 'Backup version, 1, 2, … per user (sent to clients as a string).';
COMMENT ON COLUMN e2e_room_keys_versions.algorithm IS 'Backup algorithm, e.g. m.megolm_backup.v1.curve25519-aes-sha2.';
COMMENT ON COLUMN e2e_room_keys_versions.auth_data IS 'Algorithm-dependent public data (the backup public key and its signatures).';
COMMENT ON COLUMN e2e_room_keys_versions.etag IS 'Bumped by every change of the stored keys; clients compare it to notice other devices'' uploads.';
COMMENT ON COLUMN e2e_room_keys_versions.key_count IS 'Number of keys stored in this version, kept with each change so GET needs no count(*).';
COMMENT ON COLUMN e2e_room_keys_versions.deleted IS 'Deleted by the user; its keys are gone.';

CREATE TABLE e2e_room_keys (
  user_id         TEXT NOT NULL,
  version         BIGINT NOT NULL,
  room_id         TEXT NOT NULL,
  session_id      TEXT NOT NULL,
  first_message_index BIGINT NOT NULL,
  forwarded_count BIGINT NOT NULL,
  is_verified     BOOLEAN NOT NULL,
  session_data    TEXT NOT NULL,
  PRIMARY KEY (user_id, version, room_id, session_id),
  FOREIGN KEY (user_id, version) REFERENCES e2e_room_keys_versions (user_id, version) ON DELETE CASCADE
);
COMMENT ON TABLE e2e_room_keys IS 'Backed-up megolm session keys, encrypted by the client to the backup''s public key.';
COMMENT ON COLUMN e2e_room_keys.user_id IS 'Owner of the backup.';
COMMENT ON COLUMN e2e_room_keys.version IS 'The backup version holding the key.';
COMMENT ON COLUMN e2e_room_keys.room_id IS 'Room the session belongs to.';
COMMENT ON COLUMN e2e_room_keys.session_id IS 'Megolm session ID.';
COMMENT ON COLUMN e2e_room_keys.first_message_index IS 'First message index the key can decrypt; a lower one replaces a higher one.';
COMMENT ON COLUMN e2e_room_keys.forwarded_count IS 'How often the key was forwarded between devices; fewer replaces more.';
COMMENT ON COLUMN e2e_room_keys.is_verified IS 'Whether the backing-up device had verified the key''s origin; a verified key replaces an unverified one.';
COMMENT ON COLUMN e2e_room_keys.session_data IS 'Algorithm-dependent encrypted session data, opaque to the server.';

-- Down Migration
DROP TABLE e2e_room_keys;
DROP TABLE e2e_room_keys_versions;
DROP TABLE to_device_txn_ids;
DROP TABLE to_device_inbox;
DROP TABLE e2e_user_signature_changes;
DROP TABLE device_list_changes;
DROP TABLE e2e_signatures;
DROP TABLE e2e_cross_signing_keys;
DROP TABLE e2e_fallback_keys;
DROP TABLE e2e_one_time_keys;
DROP TABLE e2e_device_keys;
