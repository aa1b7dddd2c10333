-- Up Migration
-- Registration tokens (spec: "Token-authenticated registration"; managed through
-- Synapse's admin API). A use is reserved ("pending") when a client completes
-- the m.login.registration_token stage and becomes "completed" when the account
-- is created; reservations of abandoned sessions are released when they expire.

CREATE TABLE registration_tokens (
  token           TEXT PRIMARY KEY,
  uses_allowed    INTEGER CHECK (uses_allowed >= 0),
  pending         INTEGER NOT NULL DEFAULT 0 CHECK (pending >= 0),
  completed       INTEGER NOT NULL DEFAULT 0 CHECK (completed >= 0),
  expiry_time     BIGINT
);
COMMENT ON TABLE registration_tokens IS 'Tokens that authorise registration when registration.require_token is set; valid while pending + completed < uses_allowed and before expiry_time.';
COMMENT ON COLUMN registration_tokens.token IS 'The token itself: 1-64 characters of [A-Za-z0-9._~-].';
COMMENT ON COLUMN registration_tokens.uses_allowed IS 'How many registrations the token may complete; NULL for unlimited.';
COMMENT ON COLUMN registration_tokens.pending IS 'Uses reserved by UIA sessions that passed the token stage but have not created their account yet.';
COMMENT ON COLUMN registration_tokens.completed IS 'Accounts created with this token.';
COMMENT ON COLUMN registration_tokens.expiry_time IS 'Last moment the token is valid, ms since epoch; NULL for never.';

CREATE TABLE registration_token_reservations (
  session_id      TEXT PRIMARY KEY,
  token           TEXT NOT NULL REFERENCES registration_tokens (token) ON DELETE CASCADE,
  expires_ts      BIGINT NOT NULL
);
CREATE INDEX registration_token_reservations_expiry ON registration_token_reservations (expires_ts);
COMMENT ON TABLE registration_token_reservations IS 'Which UIA session holds a pending use of which token, so the use is completed by that session''s registration or released when the session is abandoned.';
COMMENT ON COLUMN registration_token_reservations.session_id IS 'The UIA session ID.';
COMMENT ON COLUMN registration_token_reservations.token IS 'The token whose pending count includes this session.';
COMMENT ON COLUMN registration_token_reservations.expires_ts IS 'When the reservation lapses (after the UIA session can no longer complete), ms since epoch; expired rows are swept before tokens are read.';

-- Down Migration
DROP TABLE registration_token_reservations;
DROP TABLE registration_tokens;
