-- Up Migration
-- Account moderation (suspension, locking) and third-party identifiers.
-- Design: documentation-living/11001-authentication-error-logging-plan.md.

ALTER TABLE users ADD COLUMN suspended BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE users ADD COLUMN locked BOOLEAN NOT NULL DEFAULT FALSE;
COMMENT ON COLUMN users.suspended IS 'Suspended by a server admin (PUT /admin/suspend): the user can read, leave and redact their own events, but cannot send, join, invite, create rooms or change their profile (403 M_USER_SUSPENDED).';
COMMENT ON COLUMN users.locked IS 'Locked by a server admin (PUT /admin/lock): every authenticated request but logout answers 401 M_USER_LOCKED with soft_logout; tokens are kept so unlocking restores the sessions.';

CREATE TABLE user_reports (
  report_id       BIGSERIAL PRIMARY KEY,
  target_user_id  TEXT NOT NULL,
  reporter        TEXT NOT NULL,
  reason          TEXT NOT NULL,
  received_ts     BIGINT NOT NULL
);
CREATE INDEX user_reports_received ON user_reports (received_ts);
COMMENT ON TABLE user_reports IS 'Reports of users (POST /users/{userId}/report), kept for server administrators beside the content reports.';
COMMENT ON COLUMN user_reports.report_id IS 'Report number.';
COMMENT ON COLUMN user_reports.target_user_id IS 'The reported local user.';
COMMENT ON COLUMN user_reports.reporter IS 'User who sent the report.';
COMMENT ON COLUMN user_reports.reason IS 'Free text from the reporter; may be empty.';
COMMENT ON COLUMN user_reports.received_ts IS 'When the report arrived, ms since epoch.';

CREATE TABLE user_threepids (
  medium          TEXT NOT NULL,
  address         TEXT NOT NULL,
  user_id         TEXT NOT NULL REFERENCES users (user_id),
  validated_ts    BIGINT NOT NULL,
  added_ts        BIGINT NOT NULL,
  PRIMARY KEY (medium, address)
);
CREATE INDEX user_threepids_user ON user_threepids (user_id);
COMMENT ON TABLE user_threepids IS 'Third-party identifiers (e-mail addresses) of local accounts, proven by a validation session. The key makes an address belong to one account at most (M_THREEPID_IN_USE).';
COMMENT ON COLUMN user_threepids.medium IS 'Kind of identifier: email (msisdn is not offered).';
COMMENT ON COLUMN user_threepids.address IS 'The address, e-mail lower-cased (as Synapse canonicalises it), so case variants are one identifier.';
COMMENT ON COLUMN user_threepids.user_id IS 'The account the identifier belongs to.';
COMMENT ON COLUMN user_threepids.validated_ts IS 'When the owner proved control of it (the link was followed), ms since epoch.';
COMMENT ON COLUMN user_threepids.added_ts IS 'When it was added to the account, ms since epoch.';

CREATE TABLE user_threepid_id_servers (
  user_id         TEXT NOT NULL REFERENCES users (user_id),
  medium          TEXT NOT NULL,
  address         TEXT NOT NULL,
  id_server       TEXT NOT NULL,
  PRIMARY KEY (user_id, medium, address, id_server)
);
COMMENT ON TABLE user_threepid_id_servers IS 'Identity servers an identifier of a user was bound to through /account/3pid/bind, so /unbind and /delete know whom to ask to forget it.';
COMMENT ON COLUMN user_threepid_id_servers.user_id IS 'The local user the binding maps the identifier to.';
COMMENT ON COLUMN user_threepid_id_servers.medium IS 'Kind of identifier (email).';
COMMENT ON COLUMN user_threepid_id_servers.address IS 'The identifier, canonical.';
COMMENT ON COLUMN user_threepid_id_servers.id_server IS 'The identity server (host[:port], one of identity_servers) holding the binding.';

CREATE TABLE threepid_validation_sessions (
  session_id      TEXT PRIMARY KEY,
  client_secret   TEXT NOT NULL,
  medium          TEXT NOT NULL,
  address         TEXT NOT NULL,
  purpose         TEXT NOT NULL,
  send_attempt    INT NOT NULL,
  token_hash      BYTEA,
  token_expires_ts BIGINT NOT NULL,
  next_link       TEXT,
  validated_ts    BIGINT,
  mail_sent_attempt INT,
  mail_failures   INT NOT NULL DEFAULT 0,
  mail_error      TEXT,
  created_ts      BIGINT NOT NULL,
  UNIQUE (client_secret, medium, address, purpose)
);
CREATE INDEX threepid_validation_sessions_expiry ON threepid_validation_sessions (token_expires_ts);
COMMENT ON TABLE threepid_validation_sessions IS 'Proofs of control of an e-mail address in progress (requestToken → link → submit_token), used once by registration, password reset or /account/3pid/add and then deleted.';
COMMENT ON COLUMN threepid_validation_sessions.session_id IS 'The sid given to the client: 24 random bytes, Base64url.';
COMMENT ON COLUMN threepid_validation_sessions.client_secret IS 'The secret the client chose; with the sid it names the session in every later request.';
COMMENT ON COLUMN threepid_validation_sessions.medium IS 'email.';
COMMENT ON COLUMN threepid_validation_sessions.address IS 'The address being proven, canonical (lower-cased).';
COMMENT ON COLUMN threepid_validation_sessions.purpose IS 'registration, password_reset or add_threepid: a session proves the address for that purpose only.';
COMMENT ON COLUMN threepid_validation_sessions.send_attempt IS 'The highest send_attempt the client sent; a request with one no higher sends nothing (spec: send_attempt).';
COMMENT ON COLUMN threepid_validation_sessions.token_hash IS 'SHA-256 of the token in the latest mail; a new send_attempt replaces it, following the link clears it (single use).';
COMMENT ON COLUMN threepid_validation_sessions.token_expires_ts IS 'When the latest token stops working (email.validation_token_lifetime_ms after it was made), ms since epoch; expired sessions are deleted.';
COMMENT ON COLUMN threepid_validation_sessions.next_link IS 'Where the validation page redirects after success (the client''s next_link), if given.';
COMMENT ON COLUMN threepid_validation_sessions.validated_ts IS 'When the link was followed, ms since epoch; NULL until then.';
COMMENT ON COLUMN threepid_validation_sessions.mail_sent_attempt IS 'The send_attempt whose mail the SMTP server accepted; NULL while none has been.';
COMMENT ON COLUMN threepid_validation_sessions.mail_failures IS 'Failed SMTP attempts for the current send_attempt (reset by a new one); requestToken answers M_EMAIL_SEND_ERROR when the first attempt fails.';
COMMENT ON COLUMN threepid_validation_sessions.mail_error IS 'Why the last attempt failed (the SMTP error text, no credentials), for operators.';
COMMENT ON COLUMN threepid_validation_sessions.created_ts IS 'When the session began, ms since epoch.';

-- Down Migration
DROP TABLE threepid_validation_sessions;
DROP TABLE user_threepid_id_servers;
DROP TABLE user_threepids;
DROP TABLE user_reports;
ALTER TABLE users DROP COLUMN locked;
ALTER TABLE users DROP COLUMN suspended;
