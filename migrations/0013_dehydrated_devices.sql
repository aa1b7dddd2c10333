-- Up Migration
-- Dehydrated devices (MSC3814): a device a client parks on the server,
-- encrypted with a key only the user's other devices hold, so that room keys
-- sent while all of the user's devices are offline reach the next device
-- that rehydrates it. documentation-living/11030-end-to-end-encryption-plan.md

CREATE TABLE dehydrated_devices (
  user_id         TEXT PRIMARY KEY,
  device_id       TEXT NOT NULL,
  device_data     TEXT NOT NULL,
  created_ts      BIGINT NOT NULL,
  FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
);
COMMENT ON TABLE dehydrated_devices IS 'The one dehydrated device of a user (MSC3814): a devices row without tokens, plus its pickled state; replaced by the next PUT, deleted with the device.';
COMMENT ON COLUMN dehydrated_devices.user_id IS 'Owner.';
COMMENT ON COLUMN dehydrated_devices.device_id IS 'The dehydrated device (its keys, one-time keys and to-device inbox hang off the devices row).';
COMMENT ON COLUMN dehydrated_devices.device_data IS 'The client''s device_data object as JSON text, encrypted by the client; opaque to the server.';
COMMENT ON COLUMN dehydrated_devices.created_ts IS 'When it was uploaded, ms since epoch.';

-- Down Migration
DROP TABLE dehydrated_devices;
