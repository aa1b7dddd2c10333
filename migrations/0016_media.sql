-- Up Migration
-- The content repository: uploaded and cached remote media, thumbnails, URL
-- previews (documentation-living/11035-attachments-plan.md). The bytes live in
-- the media store (a folder or an S3 bucket), named by their SHA-256; these
-- tables say which media IDs point at which content.

CREATE TABLE media_content (
  sha256          TEXT PRIMARY KEY,
  size            BIGINT NOT NULL,
  created_ts      BIGINT NOT NULL
);
COMMENT ON TABLE media_content IS 'One row per distinct stored file (content-addressed): identical uploads share it. The row is locked while a file is added or removed, so a deletion never removes content another row has just started to use; the file goes when no local_media, remote_media or media_thumbnails row names it.';
COMMENT ON COLUMN media_content.sha256 IS 'Lower-case hex SHA-256 of the bytes: the file''s name in the store.';
COMMENT ON COLUMN media_content.size IS 'Length of the file in bytes.';
COMMENT ON COLUMN media_content.created_ts IS 'When the file was first stored, ms since epoch.';

CREATE TABLE local_media (
  media_id        TEXT PRIMARY KEY,
  user_id         TEXT NOT NULL,
  declared_type   TEXT,
  sniffed_type    TEXT,
  upload_name     TEXT,
  size            BIGINT,
  sha256          TEXT REFERENCES media_content (sha256),
  created_ts      BIGINT NOT NULL,
  uploaded_ts     BIGINT,
  last_access_ts  BIGINT NOT NULL,
  unused_expires_ts BIGINT,
  quarantined_by  TEXT,
  authenticated_only BOOLEAN NOT NULL DEFAULT TRUE,
  thumbnail_error TEXT
);
CREATE INDEX local_media_user ON local_media (user_id, created_ts);
CREATE INDEX local_media_pending ON local_media (user_id, unused_expires_ts) WHERE sha256 IS NULL;
CREATE INDEX local_media_last_access ON local_media (last_access_ts);
CREATE INDEX local_media_sha256 ON local_media (sha256);
COMMENT ON TABLE local_media IS 'Media uploaded by this server''s users (mxc://<our server>/<media_id>), including IDs made by POST /media/v1/create whose content has not arrived yet.';
COMMENT ON COLUMN local_media.media_id IS 'The path part of the mxc:// URI: 24 random URL-safe characters.';
COMMENT ON COLUMN local_media.user_id IS 'Who uploaded it (or created the ID): only they may PUT its content; quarantine by user uses it.';
COMMENT ON COLUMN local_media.declared_type IS 'The Content-Type the uploader sent; kept for the record, never trusted for serving decisions.';
COMMENT ON COLUMN local_media.sniffed_type IS 'The type read from the first bytes (file-type); NULL when the bytes match no known format (text, unknown binary).';
COMMENT ON COLUMN local_media.upload_name IS 'The filename query parameter of the upload, served in Content-Disposition.';
COMMENT ON COLUMN local_media.size IS 'Length in bytes; NULL while pending.';
COMMENT ON COLUMN local_media.sha256 IS 'The content (media_content); NULL while an asynchronous upload is pending.';
COMMENT ON COLUMN local_media.created_ts IS 'When the ID was made, ms since epoch.';
COMMENT ON COLUMN local_media.uploaded_ts IS 'When the content arrived; NULL while pending.';
COMMENT ON COLUMN local_media.last_access_ts IS 'Last upload or download, ms since epoch: media_retention.local_media_lifetime counts from here (Synapse''s semantics).';
COMMENT ON COLUMN local_media.unused_expires_ts IS 'For an asynchronous upload: the ID is dropped if no content arrives before this (unused_expires_at of POST /create). NULL once uploaded or for direct uploads.';
COMMENT ON COLUMN local_media.quarantined_by IS 'The admin (or "system") who quarantined it; quarantined media is answered 404 everywhere.';
COMMENT ON COLUMN local_media.authenticated_only IS 'Uploaded after unauthenticated media was frozen (media.enable_legacy_unauthenticated_media false): the legacy /_matrix/media/v3/download and /thumbnail endpoints answer 404 for it.';
COMMENT ON COLUMN local_media.thumbnail_error IS 'Why no thumbnail can be made ("too_large": over media.max_image_pixels; "unsupported": not an image sharp reads; "missing_content": the store lost the file); NULL when thumbnails are possible or not tried yet.';

CREATE TABLE remote_media (
  origin          TEXT NOT NULL,
  media_id        TEXT NOT NULL,
  content_type    TEXT,
  sniffed_type    TEXT,
  upload_name     TEXT,
  size            BIGINT,
  sha256          TEXT REFERENCES media_content (sha256),
  created_ts      BIGINT NOT NULL,
  fetched_ts      BIGINT,
  last_access_ts  BIGINT NOT NULL,
  fetch_error     TEXT,
  fetch_error_ts  BIGINT,
  quarantined_by  TEXT,
  thumbnail_error TEXT,
  PRIMARY KEY (origin, media_id)
);
CREATE INDEX remote_media_last_access ON remote_media (last_access_ts);
CREATE INDEX remote_media_pending ON remote_media (created_ts) WHERE sha256 IS NULL AND fetch_error IS NULL;
CREATE INDEX remote_media_sha256 ON remote_media (sha256);
COMMENT ON TABLE remote_media IS 'Media of other servers (mxc://<origin>/<media_id>) fetched over federation and cached here; a row without sha256 and without fetch_error is a fetch in progress (re-queued on start if Redis lost its job).';
COMMENT ON COLUMN remote_media.origin IS 'The server name in the mxc:// URI, which the media was fetched from.';
COMMENT ON COLUMN remote_media.media_id IS 'The media ID at the origin.';
COMMENT ON COLUMN remote_media.content_type IS 'The Content-Type the origin sent.';
COMMENT ON COLUMN remote_media.sniffed_type IS 'The type read from the first bytes; serving decisions use it, not content_type.';
COMMENT ON COLUMN remote_media.upload_name IS 'The filename from the origin''s Content-Disposition.';
COMMENT ON COLUMN remote_media.size IS 'Length in bytes; NULL until fetched.';
COMMENT ON COLUMN remote_media.sha256 IS 'The cached content; NULL until fetched.';
COMMENT ON COLUMN remote_media.created_ts IS 'When the first request for it arrived, ms since epoch.';
COMMENT ON COLUMN remote_media.fetched_ts IS 'When the fetch finished.';
COMMENT ON COLUMN remote_media.last_access_ts IS 'Last download through us: media_retention.remote_media_lifetime counts from here.';
COMMENT ON COLUMN remote_media.fetch_error IS 'Why the last fetch failed ("not_found", "too_large", "unreachable"); a request after a minute tries again.';
COMMENT ON COLUMN remote_media.fetch_error_ts IS 'When the last fetch failed.';
COMMENT ON COLUMN remote_media.quarantined_by IS 'The admin who quarantined our copy; answered 404.';
COMMENT ON COLUMN remote_media.thumbnail_error IS 'As local_media.thumbnail_error.';

CREATE TABLE media_thumbnails (
  origin          TEXT NOT NULL,
  media_id        TEXT NOT NULL,
  width           INT NOT NULL,
  height          INT NOT NULL,
  method          TEXT NOT NULL,
  animated        BOOLEAN NOT NULL,
  content_type    TEXT NOT NULL,
  sha256          TEXT NOT NULL REFERENCES media_content (sha256),
  size            BIGINT NOT NULL,
  created_ts      BIGINT NOT NULL,
  PRIMARY KEY (origin, media_id, width, height, method, animated)
);
CREATE INDEX media_thumbnails_sha256 ON media_thumbnails (sha256);
COMMENT ON TABLE media_thumbnails IS 'Thumbnails made by the media-thumbnails worker: one per requested box and method (the configured sizes after upload, others on demand when dynamic thumbnails are on).';
COMMENT ON COLUMN media_thumbnails.origin IS 'The media''s server: our server_name for local media, else the remote origin.';
COMMENT ON COLUMN media_thumbnails.media_id IS 'The media ID the thumbnail was made from.';
COMMENT ON COLUMN media_thumbnails.width IS 'Width of the requested box in pixels (the thumbnail fits or covers it).';
COMMENT ON COLUMN media_thumbnails.height IS 'Height of the requested box in pixels.';
COMMENT ON COLUMN media_thumbnails.method IS '"crop" (covers the box exactly) or "scale" (fits inside it, aspect kept).';
COMMENT ON COLUMN media_thumbnails.animated IS 'True for an animated thumbnail of an animated GIF/WebP (served for animated=true).';
COMMENT ON COLUMN media_thumbnails.content_type IS 'Type of the thumbnail: image/png, image/jpeg or image/webp.';
COMMENT ON COLUMN media_thumbnails.sha256 IS 'The thumbnail''s content in the store.';
COMMENT ON COLUMN media_thumbnails.size IS 'Length in bytes.';
COMMENT ON COLUMN media_thumbnails.created_ts IS 'When it was made, ms since epoch.';

CREATE TABLE url_previews (
  url             TEXT PRIMARY KEY,
  og              JSONB,
  error           TEXT,
  fetched_ts      BIGINT NOT NULL,
  expires_ts      BIGINT NOT NULL
);
CREATE INDEX url_previews_expires ON url_previews (expires_ts);
COMMENT ON TABLE url_previews IS 'OpenGraph previews made by the url-preview worker, kept for url_preview.cache_duration_ms; the og:image is stored as local media.';
COMMENT ON COLUMN url_previews.url IS 'The URL as the client asked for it.';
COMMENT ON COLUMN url_previews.og IS 'The preview as served by GET /preview_url (og:* keys, og:image an mxc:// URI, matrix:image:size); NULL when the fetch failed.';
COMMENT ON COLUMN url_previews.error IS 'Why no preview could be made ("blocked", "too_large", "unreachable", "status"); NULL on success.';
COMMENT ON COLUMN url_previews.fetched_ts IS 'When the page was fetched, ms since epoch.';
COMMENT ON COLUMN url_previews.expires_ts IS 'After this the URL is fetched again; the retention job removes expired rows.';
