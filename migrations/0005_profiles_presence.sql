-- Up Migration
-- Presence, the user directory's word index, and an index that lets /sync find
-- the members who joined a user's rooms since a token without reading every
-- member list.
-- Design: documentation-living/11015-message-persistence-plan.md, "Profiles and presence".

CREATE TABLE presence (
  user_id         TEXT PRIMARY KEY REFERENCES users (user_id),
  state           TEXT NOT NULL CHECK (state IN ('online', 'unavailable', 'offline')),
  status_msg      TEXT,
  last_active_ts  BIGINT NOT NULL,
  last_sync_ts    BIGINT NOT NULL,
  stream_ordering BIGINT NOT NULL
);
-- Incremental sync: the presence changes after a token, server-wide, then filtered to users sharing a room.
CREATE INDEX presence_stream ON presence (stream_ordering);
COMMENT ON TABLE presence IS 'Presence of local users (spec: "Presence"); a user without a row is offline. Only visible changes take a stream position; refreshing last_active_ts while online does not, so active users do not wake everyone''s /sync every minute.';
COMMENT ON COLUMN presence.user_id IS 'The local user.';
COMMENT ON COLUMN presence.state IS 'online, unavailable or offline, as last set by PUT /presence or by /sync set_presence; readers derive unavailable (idle) and offline (gone) from the timestamps.';
COMMENT ON COLUMN presence.status_msg IS 'Free-text status set with PUT /presence; NULL when none.';
COMMENT ON COLUMN presence.last_active_ts IS 'Last pro-active action (going online, a sync with set_presence=online), ms since epoch; refreshed at most once a minute.';
COMMENT ON COLUMN presence.last_sync_ts IS 'Last /sync or PUT /presence of any of the user''s clients, ms since epoch (refreshed at most once a minute); long silence reads as offline.';
COMMENT ON COLUMN presence.stream_ordering IS 'Stream position of the last visible change (state, status message, or going from idle to active), for incremental sync.';

-- The user directory searches words of localparts and display names by
-- prefix. Splitting on spaces and ASCII punctuation only keeps the index the
-- same whatever the database's locale.
CREATE FUNCTION directory_words(text) RETURNS SETOF TEXT LANGUAGE sql STABLE AS $$
  SELECT w FROM regexp_split_to_table(lower($1), '[[:space:]!-/:-@[-`{-~]+') AS w WHERE w <> ''
$$;
COMMENT ON FUNCTION directory_words(text) IS 'Lower-cased words of a text, split on white space and ASCII punctuation: the tokens of the user directory index and of search terms.';

CREATE TABLE user_directory_search (
  token           TEXT COLLATE "C" NOT NULL,
  user_id         TEXT NOT NULL REFERENCES profiles (user_id) ON DELETE CASCADE,
  PRIMARY KEY (token, user_id)
);
CREATE INDEX user_directory_search_user ON user_directory_search (user_id);
COMMENT ON TABLE user_directory_search IS 'Word index of local users for POST /user_directory/search: one row per word of the localpart and display name. Kept by a trigger on profiles, so every writer of a profile keeps it right.';
COMMENT ON COLUMN user_directory_search.token IS 'A lower-cased word (directory_words); C collation so a prefix is a plain btree range.';
COMMENT ON COLUMN user_directory_search.user_id IS 'The user the word belongs to.';

CREATE FUNCTION profiles_directory_index() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM user_directory_search WHERE user_id = NEW.user_id;
  INSERT INTO user_directory_search (token, user_id)
    SELECT DISTINCT w, NEW.user_id FROM directory_words(split_part(substr(NEW.user_id, 2), ':', 1) || ' ' || coalesce(NEW.displayname, '')) AS w;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION profiles_directory_index() IS 'Rewrites the user_directory_search rows of a profile after it is created or its display name changes.';
CREATE TRIGGER profiles_directory_index AFTER INSERT OR UPDATE OF displayname ON profiles
  FOR EACH ROW EXECUTE FUNCTION profiles_directory_index();

INSERT INTO user_directory_search (token, user_id)
  SELECT DISTINCT w, p.user_id FROM profiles p, directory_words(split_part(substr(p.user_id, 2), ':', 1) || ' ' || coalesce(p.displayname, '')) AS w;

-- /sync presence: members whose membership in one of the user's rooms changed after a token.
CREATE INDEX room_memberships_room_stream ON room_memberships (room_id, stream_ordering);

-- Down Migration
DROP INDEX room_memberships_room_stream;
DROP TRIGGER profiles_directory_index ON profiles;
DROP FUNCTION profiles_directory_index();
DROP TABLE user_directory_search;
DROP FUNCTION directory_words(text);
DROP TABLE presence;
