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

-- Down Migration
DROP TABLE user_reports;
ALTER TABLE users DROP COLUMN locked;
ALTER TABLE users DROP COLUMN suspended;
