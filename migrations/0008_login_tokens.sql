-- Up Migration
CREATE TABLE login_tokens (
  token_hash      BYTEA PRIMARY KEY,
  user_id         TEXT NOT NULL REFERENCES users (user_id),
  expires_ts      BIGINT NOT NULL
);
COMMENT ON TABLE login_tokens IS 'Short-lived single-use tokens for m.login.token (issued by POST /login/get_token), stored as hashes.';
COMMENT ON COLUMN login_tokens.token_hash IS 'SHA-256 of the token.';
COMMENT ON COLUMN login_tokens.user_id IS 'The user the token logs in as.';
COMMENT ON COLUMN login_tokens.expires_ts IS 'Expiry, ms since epoch; the row is deleted when used.';

-- Down Migration
DROP TABLE login_tokens;
