-- Up Migration
-- Transaction IDs are scoped per device AND per endpoint with its path
-- parameters (spec "Transaction identifiers"; Synapse keys on the request
-- path). Without the endpoint in the key, reusing a txn id in another room
-- returned the first room's event and dropped the new message.
ALTER TABLE event_txn_ids ADD COLUMN endpoint TEXT NOT NULL DEFAULT '';
ALTER TABLE event_txn_ids DROP CONSTRAINT event_txn_ids_pkey;
ALTER TABLE event_txn_ids ADD PRIMARY KEY (user_id, device_id, endpoint, txn_id);
ALTER TABLE event_txn_ids ALTER COLUMN endpoint DROP DEFAULT;
COMMENT ON COLUMN event_txn_ids.endpoint IS 'The endpoint and its path parameters the ID was used on, e.g. "send <room_id> <event_type>" or "redact <room_id> <event_id>"; rows written before this column existed carry the empty string.';

-- Down Migration
DELETE FROM event_txn_ids a USING event_txn_ids b
 WHERE a.user_id = b.user_id AND a.device_id = b.device_id AND a.txn_id = b.txn_id AND a.ctid > b.ctid;
ALTER TABLE event_txn_ids DROP CONSTRAINT event_txn_ids_pkey;
ALTER TABLE event_txn_ids DROP COLUMN endpoint;
ALTER TABLE event_txn_ids ADD PRIMARY KEY (user_id, device_id, txn_id);
