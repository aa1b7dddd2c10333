// The content repository's tables (migrations/0016_media.sql): local and
// cached remote media, the content rows that count references to stored
// files, thumbnails and URL previews.
import type { Queryable } from "./database.ts";

export interface LocalMediaRow {
  mediaId: string;
  userId: string;
  declaredType: string | null;
  sniffedType: string | null;
  uploadName: string | null;
  size: number | null;
  sha256: string | null;
  createdTs: number;
  lastAccessTs: number;
  unusedExpiresTs: number | null;
  quarantinedBy: string | null;
  authenticatedOnly: boolean;
  thumbnailError: string | null;
}

export interface RemoteMediaRow {
  origin: string;
  mediaId: string;
  contentType: string | null;
  sniffedType: string | null;
  uploadName: string | null;
  size: number | null;
  sha256: string | null;
  createdTs: number;
  lastAccessTs: number;
  fetchError: string | null;
  fetchErrorTs: number | null;
  quarantinedBy: string | null;
  thumbnailError: string | null;
}

export interface ThumbnailRow {
  width: number;
  height: number;
  method: "crop" | "scale";
  animated: boolean;
  contentType: string;
  sha256: string;
  size: number;
}

const LOCAL_COLUMNS = `media_id, user_id, declared_type, sniffed_type, upload_name, size, sha256, created_ts, last_access_ts, unused_expires_ts, quarantined_by, authenticated_only, thumbnail_error`;
const REMOTE_COLUMNS = `origin, media_id, content_type, sniffed_type, upload_name, size, sha256, created_ts, last_access_ts, fetch_error, fetch_error_ts, quarantined_by, thumbnail_error`;

type Raw = Record<string, unknown>;
const str = (v: unknown) => (v === null || v === undefined ? null : String(v));
const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));

function localRow(r: Raw): LocalMediaRow {
  return {
    mediaId: String(r.media_id),
    userId: String(r.user_id),
    declaredType: str(r.declared_type),
    sniffedType: str(r.sniffed_type),
    uploadName: str(r.upload_name),
    size: num(r.size),
    sha256: str(r.sha256),
    createdTs: Number(r.created_ts),
    lastAccessTs: Number(r.last_access_ts),
    unusedExpiresTs: num(r.unused_expires_ts),
    quarantinedBy: str(r.quarantined_by),
    authenticatedOnly: Boolean(r.authenticated_only),
    thumbnailError: str(r.thumbnail_error),
  };
}

function remoteRow(r: Raw): RemoteMediaRow {
  return {
    origin: String(r.origin),
    mediaId: String(r.media_id),
    contentType: str(r.content_type),
    sniffedType: str(r.sniffed_type),
    uploadName: str(r.upload_name),
    size: num(r.size),
    sha256: str(r.sha256),
    createdTs: Number(r.created_ts),
    lastAccessTs: Number(r.last_access_ts),
    fetchError: str(r.fetch_error),
    fetchErrorTs: num(r.fetch_error_ts),
    quarantinedBy: str(r.quarantined_by),
    thumbnailError: str(r.thumbnail_error),
  };
}

// --- content rows (reference counting of stored files) ---

/** Creates or locks the content row of `sha256` (FOR UPDATE semantics through the upsert) for this transaction. */
export async function claimContent(tx: Queryable, sha256: string, size: number, now: number): Promise<void> {
  await tx.query(`INSERT INTO media_content (sha256, size, created_ts) VALUES ($1, $2, $3) ON CONFLICT (sha256) DO UPDATE SET size = EXCLUDED.size`, [sha256, size, now]);
}

/**
 * Locks the content row and deletes it when no media row names it any more.
 * True means the caller must delete the file (still inside the transaction,
 * so no upload can claim the content in between).
 */
export async function releaseContent(tx: Queryable, sha256: string): Promise<boolean> {
  const locked = await tx.query(`SELECT 1 FROM media_content WHERE sha256 = $1 FOR UPDATE`, [sha256]);
  if (locked.rowCount === 0) return false;
  const { rows } = await tx.query<{ used: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM local_media WHERE sha256 = $1)
         OR EXISTS (SELECT 1 FROM remote_media WHERE sha256 = $1)
         OR EXISTS (SELECT 1 FROM media_thumbnails WHERE sha256 = $1) AS used`,
    [sha256],
  );
  if (rows[0]!.used) return false;
  await tx.query(`DELETE FROM media_content WHERE sha256 = $1`, [sha256]);
  return true;
}

// --- local media ---

export interface NewLocalMedia {
  mediaId: string;
  userId: string;
  declaredType: string | null;
  sniffedType: string | null;
  uploadName: string | null;
  size: number;
  sha256: string;
  authenticatedOnly: boolean;
}

export async function insertLocalMedia(tx: Queryable, media: NewLocalMedia, now: number): Promise<void> {
  await tx.query(
    `INSERT INTO local_media (media_id, user_id, declared_type, sniffed_type, upload_name, size, sha256, created_ts, uploaded_ts, last_access_ts, authenticated_only)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $8, $9)`,
    [media.mediaId, media.userId, media.declaredType, media.sniffedType, media.uploadName, media.size, media.sha256, now, media.authenticatedOnly],
  );
}

/** Pending uploads of `userId` that have not expired. */
export async function countPendingUploads(q: Queryable, userId: string, now: number): Promise<number> {
  const { rows } = await q.query<{ n: number }>(`SELECT count(*)::int AS n FROM local_media WHERE user_id = $1 AND sha256 IS NULL AND unused_expires_ts > $2`, [userId, now]);
  return rows[0]!.n;
}

export async function insertPendingMedia(tx: Queryable, mediaId: string, userId: string, expiresTs: number, authenticatedOnly: boolean, now: number): Promise<void> {
  await tx.query(
    `INSERT INTO local_media (media_id, user_id, created_ts, last_access_ts, unused_expires_ts, authenticated_only) VALUES ($1, $2, $3, $3, $4, $5)`,
    [mediaId, userId, now, expiresTs, authenticatedOnly],
  );
}

/** Fills a pending ID with its content; false when it was filled already (or is gone). */
export async function completePendingMedia(tx: Queryable, media: Omit<NewLocalMedia, "userId" | "authenticatedOnly">, now: number): Promise<boolean> {
  const { rowCount } = await tx.query(
    `UPDATE local_media SET declared_type = $2, sniffed_type = $3, upload_name = $4, size = $5, sha256 = $6, uploaded_ts = $7, last_access_ts = $7, unused_expires_ts = NULL
      WHERE media_id = $1 AND sha256 IS NULL`,
    [media.mediaId, media.declaredType, media.sniffedType, media.uploadName, media.size, media.sha256, now],
  );
  return (rowCount ?? 0) > 0;
}

export async function getLocalMedia(q: Queryable, mediaId: string): Promise<LocalMediaRow | undefined> {
  const { rows } = await q.query(`SELECT ${LOCAL_COLUMNS} FROM local_media WHERE media_id = $1`, [mediaId]);
  return rows[0] ? localRow(rows[0]) : undefined;
}

/** A popular file is read often: its last access is written at most this often. */
const TOUCH_GRANULARITY_MS = 10_000;

export async function touchLocalMedia(q: Queryable, mediaId: string, now: number): Promise<void> {
  await q.query(`UPDATE local_media SET last_access_ts = $2 WHERE media_id = $1 AND last_access_ts < $2 - $3::bigint`, [mediaId, now, TOUCH_GRANULARITY_MS]);
}

// --- remote media ---

export async function getRemoteMedia(q: Queryable, origin: string, mediaId: string): Promise<RemoteMediaRow | undefined> {
  const { rows } = await q.query(`SELECT ${REMOTE_COLUMNS} FROM remote_media WHERE origin = $1 AND media_id = $2`, [origin, mediaId]);
  return rows[0] ? remoteRow(rows[0]) : undefined;
}

/** Marks a fetch as wanted: a new row, or a failed one whose error is older than `retryBefore` cleared. */
export async function requestRemoteMedia(q: Queryable, origin: string, mediaId: string, now: number, retryBefore: number): Promise<void> {
  await q.query(
    `INSERT INTO remote_media (origin, media_id, created_ts, last_access_ts) VALUES ($1, $2, $3, $3)
     ON CONFLICT (origin, media_id) DO UPDATE SET fetch_error = NULL, fetch_error_ts = NULL
      WHERE remote_media.sha256 IS NULL AND remote_media.fetch_error IS NOT NULL AND remote_media.fetch_error_ts < $4`,
    [origin, mediaId, now, retryBefore],
  );
}

export interface FetchedRemote {
  origin: string;
  mediaId: string;
  contentType: string | null;
  sniffedType: string | null;
  uploadName: string | null;
  size: number;
  sha256: string;
}

export async function completeRemoteMedia(tx: Queryable, media: FetchedRemote, now: number): Promise<void> {
  await tx.query(
    `INSERT INTO remote_media (origin, media_id, content_type, sniffed_type, upload_name, size, sha256, created_ts, fetched_ts, last_access_ts)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $8)
     ON CONFLICT (origin, media_id) DO UPDATE SET content_type = $3, sniffed_type = $4, upload_name = $5, size = $6, sha256 = $7, fetched_ts = $8, fetch_error = NULL, fetch_error_ts = NULL`,
    [media.origin, media.mediaId, media.contentType, media.sniffedType, media.uploadName, media.size, media.sha256, now],
  );
}

export async function failRemoteMedia(q: Queryable, origin: string, mediaId: string, error: string, now: number): Promise<void> {
  await q.query(`UPDATE remote_media SET fetch_error = $3, fetch_error_ts = $4 WHERE origin = $1 AND media_id = $2 AND sha256 IS NULL`, [origin, mediaId, error, now]);
}

export async function touchRemoteMedia(q: Queryable, origin: string, mediaId: string, now: number): Promise<void> {
  await q.query(`UPDATE remote_media SET last_access_ts = $3 WHERE origin = $1 AND media_id = $2 AND last_access_ts < $3 - $4::bigint`, [origin, mediaId, now, TOUCH_GRANULARITY_MS]);
}

/** Fetches that were asked for and have neither finished nor failed (their jobs may have been lost with Redis). */
export async function pendingRemoteFetches(q: Queryable, limit: number): Promise<Array<{ origin: string; mediaId: string }>> {
  const { rows } = await q.query<{ origin: string; media_id: string }>(
    `SELECT origin, media_id FROM remote_media WHERE sha256 IS NULL AND fetch_error IS NULL ORDER BY created_ts LIMIT $1`,
    [limit],
  );
  return rows.map((r) => ({ origin: r.origin, mediaId: r.media_id }));
}

// --- thumbnails ---

export async function getThumbnails(q: Queryable, origin: string, mediaId: string): Promise<ThumbnailRow[]> {
  const { rows } = await q.query<{ width: number; height: number; method: "crop" | "scale"; animated: boolean; content_type: string; sha256: string; size: number }>(
    `SELECT width, height, method, animated, content_type, sha256, size FROM media_thumbnails WHERE origin = $1 AND media_id = $2`,
    [origin, mediaId],
  );
  return rows.map((r) => ({ width: r.width, height: r.height, method: r.method, animated: r.animated, contentType: r.content_type, sha256: r.sha256, size: Number(r.size) }));
}

export async function insertThumbnail(tx: Queryable, origin: string, mediaId: string, thumb: ThumbnailRow, now: number): Promise<boolean> {
  const { rowCount } = await tx.query(
    `INSERT INTO media_thumbnails (origin, media_id, width, height, method, animated, content_type, sha256, size, created_ts)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING`,
    [origin, mediaId, thumb.width, thumb.height, thumb.method, thumb.animated, thumb.contentType, thumb.sha256, thumb.size, now],
  );
  return (rowCount ?? 0) > 0;
}

export async function setThumbnailError(q: Queryable, local: boolean, origin: string, mediaId: string, error: string): Promise<void> {
  if (local) await q.query(`UPDATE local_media SET thumbnail_error = $2 WHERE media_id = $1`, [mediaId, error]);
  else await q.query(`UPDATE remote_media SET thumbnail_error = $3 WHERE origin = $1 AND media_id = $2`, [origin, mediaId, error]);
}

/** Local images with fewer plain thumbnails than `wanted`: the start-up sweep queues their jobs again. */
/** Pages newest first: pass the last page's final `createdTs` as `before` for the next one. */
export async function localMediaMissingThumbnails(
  q: Queryable,
  serverName: string,
  types: readonly string[],
  wanted: number,
  limit: number,
  before = Number.MAX_SAFE_INTEGER,
): Promise<Array<{ mediaId: string; createdTs: number }>> {
  const { rows } = await q.query<{ media_id: string; created_ts: number }>(
    `SELECT m.media_id, m.created_ts FROM local_media m
      WHERE m.sha256 IS NOT NULL AND m.sniffed_type = ANY($2) AND m.thumbnail_error IS NULL AND m.quarantined_by IS NULL AND m.created_ts < $5
        AND (SELECT count(*) FROM media_thumbnails t WHERE t.origin = $1 AND t.media_id = m.media_id AND NOT t.animated) < $3
      ORDER BY m.created_ts DESC LIMIT $4`,
    [serverName, types, wanted, limit, before],
  );
  return rows.map((r) => ({ mediaId: r.media_id, createdTs: Number(r.created_ts) }));
}

// --- deletion, retention, quarantine ---

/** Deletes a local media row and its thumbnails; returns the content they named (for releaseContent). */
export interface DeletedMediaRows {
  /** False when there was no such media. */
  existed: boolean;
  /** Content the deleted rows named (for releaseContent). */
  shas: string[];
}

/** Deletes a media row (local_media when `origin` is ours, else remote_media) and its thumbnails. */
export async function deleteMediaRows(tx: Queryable, local: boolean, origin: string, mediaId: string): Promise<DeletedMediaRows> {
  const thumbs = await tx.query<{ sha256: string }>(`DELETE FROM media_thumbnails WHERE origin = $1 AND media_id = $2 RETURNING sha256`, [origin, mediaId]);
  const media = local
    ? await tx.query<{ sha256: string | null }>(`DELETE FROM local_media WHERE media_id = $1 RETURNING sha256`, [mediaId])
    : await tx.query<{ sha256: string | null }>(`DELETE FROM remote_media WHERE origin = $1 AND media_id = $2 RETURNING sha256`, [origin, mediaId]);
  const shas = [...new Set([...thumbs.rows.map((r) => r.sha256), ...media.rows.flatMap((r) => (r.sha256 ? [r.sha256] : []))])];
  return { existed: media.rows.length > 0, shas };
}

/** Local media not read or written since `before`, and pending IDs whose upload window closed before `now`. */
export async function expiredLocalMedia(q: Queryable, before: number | undefined, now: number, limit: number): Promise<string[]> {
  const { rows } = await q.query<{ media_id: string }>(
    `SELECT media_id FROM local_media
      WHERE (sha256 IS NULL AND unused_expires_ts < $2) OR ($1::bigint IS NOT NULL AND sha256 IS NOT NULL AND last_access_ts < $1::bigint)
      LIMIT $3`,
    [before ?? null, now, limit],
  );
  return rows.map((r) => r.media_id);
}

export async function expiredRemoteMedia(q: Queryable, before: number, limit: number): Promise<Array<{ origin: string; mediaId: string }>> {
  const { rows } = await q.query<{ origin: string; media_id: string }>(`SELECT origin, media_id FROM remote_media WHERE last_access_ts < $1 LIMIT $2`, [before, limit]);
  return rows.map((r) => ({ origin: r.origin, mediaId: r.media_id }));
}

export async function quarantineLocalMedia(q: Queryable, mediaId: string, by: string | null): Promise<number> {
  const { rowCount } = await q.query(`UPDATE local_media SET quarantined_by = $2 WHERE media_id = $1`, [mediaId, by]);
  return rowCount ?? 0;
}

export async function quarantineRemoteMedia(q: Queryable, origin: string, mediaId: string, by: string | null): Promise<number> {
  const { rowCount } = await q.query(`UPDATE remote_media SET quarantined_by = $3 WHERE origin = $1 AND media_id = $2`, [origin, mediaId, by]);
  return rowCount ?? 0;
}

export async function quarantineMediaOfUser(q: Queryable, userId: string, by: string | null): Promise<number> {
  const { rowCount } = await q.query(`UPDATE local_media SET quarantined_by = $2 WHERE user_id = $1`, [userId, by]);
  return rowCount ?? 0;
}

// --- URL previews ---

export interface StoredPreview {
  og: Record<string, unknown> | null;
  error: string | null;
  expiresTs: number;
}

export async function getUrlPreview(q: Queryable, url: string): Promise<StoredPreview | undefined> {
  const { rows } = await q.query<{ og: Record<string, unknown> | null; error: string | null; expires_ts: number }>(`SELECT og, error, expires_ts FROM url_previews WHERE url = $1`, [url]);
  const r = rows[0];
  return r ? { og: r.og, error: r.error, expiresTs: Number(r.expires_ts) } : undefined;
}

export async function storeUrlPreview(q: Queryable, url: string, og: Record<string, unknown> | null, error: string | null, now: number, expiresTs: number): Promise<void> {
  await q.query(
    `INSERT INTO url_previews (url, og, error, fetched_ts, expires_ts) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (url) DO UPDATE SET og = EXCLUDED.og, error = EXCLUDED.error, fetched_ts = EXCLUDED.fetched_ts, expires_ts = EXCLUDED.expires_ts`,
    [url, og === null ? null : JSON.stringify(og), error, now, expiresTs],
  );
}

export async function deleteExpiredUrlPreviews(q: Queryable, now: number): Promise<number> {
  const { rowCount } = await q.query(`DELETE FROM url_previews WHERE expires_ts < $1`, [now]);
  return rowCount ?? 0;
}
