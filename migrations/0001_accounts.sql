-- Up Migration
-- Accounts, devices and the tokens that authenticate them.
-- Data model and indexing rationale: documentation-living/11010-database-plan.md

CREATE TABLE users (
  user_id         TEXT PRIMARY KEY,
  password_hash   TEXT,
  is_admin        BOOLEAN NOT NULL DEFAULT FALSE,
  is_guest        BOOLEAN NOT NULL DEFAULT FALSE,
  deactivated     BOOLEAN NOT NULL DEFAULT FALSE,
  appservice_id   TEXT,
  created_ts      BIGINT NOT NULL
);
COMMENT ON TABLE users IS 'Local accounts. Remote users never appear here.';
COMMENT ON COLUMN users.user_id IS 'Full Matrix user ID, @localpart:server_name, lower-case localpart for new accounts.';
COMMENT ON COLUMN users.password_hash IS 'argon2id PHC string; NULL for accounts that cannot log in with a password (appservice users, SSO-only).';
COMMENT ON COLUMN users.is_admin IS 'Server administrator: may use the admin API and is exempt from rate limits.';
COMMENT ON COLUMN users.is_guest IS 'Guest account (registered with kind=guest).';
COMMENT ON COLUMN users.deactivated IS 'Deactivated accounts cannot log in; the user ID is never reissued.';
COMMENT ON COLUMN users.appservice_id IS 'The application service that registered this user, if any.';
COMMENT ON COLUMN users.created_ts IS 'Registration time, milliseconds since the Unix epoch.';

CREATE TABLE devices (
  user_id         TEXT NOT NULL REFERENCES users (user_id),
  device_id       TEXT NOT NULL,
  display_name    TEXT,
  created_ts      BIGINT NOT NULL,
  last_seen_ts    BIGINT,
  last_seen_ip    TEXT,
  last_seen_user_agent TEXT,
  PRIMARY KEY (user_id, device_id)
);
COMMENT ON TABLE devices IS 'A login session of a user; E2EE keys and to-device messages hang off it.';
COMMENT ON COLUMN devices.user_id IS 'Owner of the device.';
COMMENT ON COLUMN devices.device_id IS 'Opaque device ID, chosen by the client or generated at login.';
COMMENT ON COLUMN devices.display_name IS 'Human-readable name shown in device lists; visible to other users for E2EE verification.';
COMMENT ON COLUMN devices.created_ts IS 'When the device first logged in, ms since epoch.';
COMMENT ON COLUMN devices.last_seen_ts IS 'Last authenticated request, ms since epoch (updated at most once a minute).';
COMMENT ON COLUMN devices.last_seen_ip IS 'Client IP of the last authenticated request.';
COMMENT ON COLUMN devices.last_seen_user_agent IS 'User-Agent of the last authenticated request.';

CREATE TABLE access_tokens (
  token_id        BIGSERIAL PRIMARY KEY,
  token_hash      BYTEA NOT NULL UNIQUE,
  user_id         TEXT NOT NULL REFERENCES users (user_id),
  device_id       TEXT NOT NULL,
  created_ts      BIGINT NOT NULL,
  expires_ts      BIGINT,
  refresh_token_id BIGINT,
  FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
);
CREATE INDEX access_tokens_device ON access_tokens (user_id, device_id);
COMMENT ON TABLE access_tokens IS 'Issued access tokens, stored only as hashes so a database leak does not leak sessions.';
COMMENT ON COLUMN access_tokens.token_id IS 'Surrogate key, referenced by logs instead of the token.';
COMMENT ON COLUMN access_tokens.token_hash IS 'SHA-256 of the token string; tokens are 256-bit random, so a fast hash is enough.';
COMMENT ON COLUMN access_tokens.user_id IS 'The user the token acts as.';
COMMENT ON COLUMN access_tokens.device_id IS 'The device the token belongs to; deleting the device revokes it.';
COMMENT ON COLUMN access_tokens.created_ts IS 'Issue time, ms since epoch.';
COMMENT ON COLUMN access_tokens.expires_ts IS 'Expiry, ms since epoch; NULL for tokens issued without a refresh token (they never expire).';
COMMENT ON COLUMN access_tokens.refresh_token_id IS 'The refresh token issued with this access token, if any.';

CREATE TABLE refresh_tokens (
  refresh_token_id BIGSERIAL PRIMARY KEY,
  token_hash      BYTEA NOT NULL UNIQUE,
  user_id         TEXT NOT NULL REFERENCES users (user_id),
  device_id       TEXT NOT NULL,
  created_ts      BIGINT NOT NULL,
  next_refresh_token_id BIGINT REFERENCES refresh_tokens (refresh_token_id) ON DELETE SET NULL,
  FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
);
CREATE INDEX refresh_tokens_device ON refresh_tokens (user_id, device_id);
COMMENT ON TABLE refresh_tokens IS 'Refresh tokens (spec: "Refreshing access tokens"), stored as hashes.';
COMMENT ON COLUMN refresh_tokens.refresh_token_id IS 'Surrogate key.';
COMMENT ON COLUMN refresh_tokens.token_hash IS 'SHA-256 of the refresh token string.';
COMMENT ON COLUMN refresh_tokens.user_id IS 'Owner.';
COMMENT ON COLUMN refresh_tokens.device_id IS 'Device the token belongs to.';
COMMENT ON COLUMN refresh_tokens.created_ts IS 'Issue time, ms since epoch.';
COMMENT ON COLUMN refresh_tokens.next_refresh_token_id IS 'The token that replaced this one once used; kept until the new pair is first used so a lost response can be retried.';

CREATE TABLE profiles (
  user_id         TEXT PRIMARY KEY REFERENCES users (user_id),
  displayname     TEXT,
  avatar_url      TEXT
);
COMMENT ON TABLE profiles IS 'Global profile of local users; room member events copy it.';
COMMENT ON COLUMN profiles.user_id IS 'The local user.';
COMMENT ON COLUMN profiles.displayname IS 'Display name; set to the localpart at registration, as Synapse does.';
COMMENT ON COLUMN profiles.avatar_url IS 'mxc:// URI of the avatar, or NULL.';

-- Down Migration
DROP TABLE profiles;
DROP TABLE refresh_tokens;
DROP TABLE access_tokens;
DROP TABLE devices;
DROP TABLE users;
