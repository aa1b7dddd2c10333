-- Up Migration
CREATE TABLE server_signing_keys (
  server_name     TEXT NOT NULL,
  key_id          TEXT NOT NULL,
  public_key      TEXT NOT NULL,
  valid_until_ts  BIGINT,
  expired_ts      BIGINT,
  fetched_ts      BIGINT NOT NULL,
  source          TEXT NOT NULL,
  PRIMARY KEY (server_name, key_id)
);
COMMENT ON TABLE server_signing_keys IS 'Remote servers'' ed25519 verify keys, as fetched directly or through a notary; read by request and PDU signature checks.';
COMMENT ON COLUMN server_signing_keys.server_name IS 'The server that owns the key.';
COMMENT ON COLUMN server_signing_keys.key_id IS 'Key ID, e.g. ed25519:a_AbCd.';
COMMENT ON COLUMN server_signing_keys.public_key IS 'The public key, unpadded Base64 as published.';
COMMENT ON COLUMN server_signing_keys.valid_until_ts IS 'For a current key: the lesser of its response''s valid_until_ts and 7 days after fetching (ms since epoch); NULL for a key only seen as old.';
COMMENT ON COLUMN server_signing_keys.expired_ts IS 'For a key listed in old_verify_keys: when the server stopped using it (ms since epoch); NULL for a current key.';
COMMENT ON COLUMN server_signing_keys.fetched_ts IS 'When the response that last updated this row arrived (ms since epoch).';
COMMENT ON COLUMN server_signing_keys.source IS 'Who answered: the server itself, or the notary server that vouched for the key.';

CREATE TABLE server_key_responses (
  server_name     TEXT NOT NULL,
  source          TEXT NOT NULL,
  fetched_ts      BIGINT NOT NULL,
  valid_until_ts  BIGINT NOT NULL,
  response_json   TEXT NOT NULL,
  PRIMARY KEY (server_name, source)
);
COMMENT ON TABLE server_key_responses IS 'The latest signed key response per server and source, kept verbatim so this server can serve it again as a notary (POST /_matrix/key/v2/query).';
COMMENT ON COLUMN server_key_responses.server_name IS 'The server the keys belong to.';
COMMENT ON COLUMN server_key_responses.source IS 'Who answered: the server itself, or a notary server.';
COMMENT ON COLUMN server_key_responses.fetched_ts IS 'When the response arrived (ms since epoch).';
COMMENT ON COLUMN server_key_responses.valid_until_ts IS 'The response''s own valid_until_ts as published (ms since epoch).';
COMMENT ON COLUMN server_key_responses.response_json IS 'The response as received, with its signatures, as JSON text.';

-- Down Migration
DROP TABLE server_key_responses;
DROP TABLE server_signing_keys;
