// The content repository's logic: uploads (direct and asynchronous), finding
// media to serve (waiting for a pending upload, asking the media-remote
// worker for another server's media), choosing and waiting for thumbnails,
// and deleting media with its files when nothing else shares them. The HTTP
// endpoints (server/client-api/media.ts, federation/routes/media.ts) and the
// workers (workers/media-*) share it.
import { randomBytes } from "node:crypto";
import type { Readable } from "node:stream";
import { MatrixError, notFound, tooLarge } from "../errors/matrix-error.ts";
import type { Logger } from "../observability/logger.ts";
import type { Database, Queryable } from "../storage/database.ts";
import {
  claimContent,
  completePendingMedia,
  countPendingUploads,
  deleteMediaRows,
  getLocalMedia,
  getRemoteMedia,
  getThumbnails,
  insertLocalMedia,
  insertPendingMedia,
  releaseContent,
  requestRemoteMedia,
  touchLocalMedia,
  touchRemoteMedia,
  type ThumbnailRow,
} from "../storage/media.ts";
import type { MediaConfig, ThumbnailSize } from "../config/schema.ts";
import { ANIMATABLE_TYPES, normaliseDeclared, sniffContentType, THUMBNAILABLE_TYPES } from "./content-types.ts";
import type { ThumbnailPayload } from "../../workers/media-thumbnails/queue.ts";
import { ContentTooLargeError, type ByteRange, type MediaStore, type StagedContent } from "./store/media-store.ts";

/** Ports to the job queues (workers/*), so this module does not import BullMQ. */
export interface MediaJobs {
  thumbnail(job: ThumbnailJob): Promise<void>;
  fetchRemote(origin: string, mediaId: string): Promise<void>;
}

export type ThumbnailJob = ThumbnailPayload;

export interface MediaRepositoryDeps {
  db: Database;
  store: MediaStore;
  serverName: string;
  config: MediaConfig;
  jobs: MediaJobs;
  log: Logger;
  now?: () => number;
}

/** What a download serves: the content and what is known about it. */
export interface ServableMedia {
  origin: string;
  mediaId: string;
  sha256: string;
  size: number;
  sniffedType: string | null;
  declaredType: string | null;
  uploadName: string | null;
  thumbnailError: string | null;
}

export interface UploadInput {
  body: Readable;
  declaredType: string | undefined;
  filename: string | undefined;
  /** The request's Content-Length, when it sent one: refused before reading when over the limit. */
  contentLength: number | undefined;
}

const POLL_MS = 100;
/** A failed remote fetch is tried again by a request this long after it failed. */
export const REMOTE_RETRY_AFTER_MS = 60_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function newMediaId(): string {
  return randomBytes(18).toString("base64url");
}

export function validMediaId(mediaId: string): boolean {
  return /^[A-Za-z0-9_-]{1,255}$/.test(mediaId);
}

export type MediaRepository = ReturnType<typeof createMediaRepository>;

export function createMediaRepository(deps: MediaRepositoryDeps) {
  const { db, store, serverName, config } = deps;
  const now = deps.now ?? Date.now;
  const maxBytes = config.max_upload_size;
  const tooLargeError = () => tooLarge(`Upload exceeds the limit of ${maxBytes} bytes`);

  /**
   * Streams bytes into the store and, in one transaction holding the content
   * row's lock, makes the file visible and writes the rows that name it.
   */
  async function storeContent<T>(body: Readable, limit: number, rows: (tx: Queryable, staged: StagedContent, sniffed: string | null) => Promise<T>): Promise<T> {
    const staged = await store.stage(body, { maxBytes: limit });
    try {
      const sniffed = await sniffContentType(staged.head);
      return await db.transaction(async (tx) => {
        await claimContent(tx, staged.sha256, staged.size, now());
        await staged.commit();
        return rows(tx, staged, sniffed);
      });
    } catch (err) {
      await staged.discard();
      throw err;
    }
  }

  function checkDeclaredLength(length: number | undefined): void {
    if (length !== undefined && length > maxBytes) throw tooLargeError();
  }

  async function stageUpload<T>(input: UploadInput, rows: (tx: Queryable, staged: StagedContent, sniffed: string | null) => Promise<T>): Promise<T> {
    checkDeclaredLength(input.contentLength);
    try {
      return await storeContent(input.body, maxBytes, rows);
    } catch (err) {
      if (err instanceof ContentTooLargeError) throw tooLargeError();
      // The client went away mid-upload: nothing was kept, and it is not our error.
      if ((input.body as { complete?: boolean }).complete === false) throw new MatrixError(400, "M_UNKNOWN", "The upload was not completed");
      throw err;
    }
  }

  /** Queues the configured thumbnails of new media (a Redis failure is logged: the start-up sweep makes them later). */
  async function queueThumbnails(origin: string, mediaId: string, sniffed: string | null): Promise<void> {
    if (!sniffed || !THUMBNAILABLE_TYPES.includes(sniffed)) return;
    try {
      for (const size of config.thumbnail_sizes) await deps.jobs.thumbnail({ origin, mediaId, ...size, animated: false });
    } catch (err) {
      deps.log.warn({ err, mediaId }, "queueing thumbnails failed; the start-up sweep will queue them");
    }
  }

  async function upload(userId: string, input: UploadInput): Promise<string> {
    const mediaId = newMediaId();
    const sniffed = await stageUpload(input, async (tx, staged, sniffedType) => {
      await insertLocalMedia(
        tx,
        {
          mediaId,
          userId,
          declaredType: normaliseDeclared(input.declaredType),
          sniffedType,
          uploadName: input.filename ?? null,
          size: staged.size,
          sha256: staged.sha256,
          authenticatedOnly: config.enable_authenticated_media,
        },
        now(),
      );
      return sniffedType;
    });
    await queueThumbnails(serverName, mediaId, sniffed);
    return mediaId;
  }

  async function createPending(userId: string): Promise<{ mediaId: string; expiresTs: number }> {
    const at = now();
    const mediaId = newMediaId();
    const expiresTs = at + config.unused_expiration_ms;
    await db.transaction(async (tx) => {
      // One user's creations are serialised so two at once cannot both pass the limit.
      await tx.query(`SELECT pg_advisory_xact_lock(hashtext('media_pending:' || $1))`, [userId]);
      if ((await countPendingUploads(tx, userId, at)) >= config.max_pending_uploads_per_user) {
        throw new MatrixError(429, "M_LIMIT_EXCEEDED", "Too many pending uploads", { retry_after_ms: 60_000 });
      }
      await insertPendingMedia(tx, mediaId, userId, expiresTs, config.enable_authenticated_media, at);
    });
    return { mediaId, expiresTs };
  }

  async function uploadPending(userId: string, mediaId: string, input: UploadInput): Promise<void> {
    const row = validMediaId(mediaId) ? await getLocalMedia(db, mediaId) : undefined;
    if (!row || (row.sha256 === null && (row.unusedExpiresTs ?? 0) < now())) throw notFound("Unknown media ID");
    if (row.userId !== userId) throw new MatrixError(403, "M_FORBIDDEN", "This media ID was created by another user");
    if (row.sha256 !== null) throw new MatrixError(409, "M_CANNOT_OVERWRITE_MEDIA", "Media already uploaded");
    const filled = await stageUpload(input, async (tx, staged, sniffedType) => {
      const ok = await completePendingMedia(
        tx,
        { mediaId, declaredType: normaliseDeclared(input.declaredType), sniffedType, uploadName: input.filename ?? null, size: staged.size, sha256: staged.sha256 },
        now(),
      );
      if (!ok) throw new MatrixError(409, "M_CANNOT_OVERWRITE_MEDIA", "Media already uploaded");
      return sniffedType;
    });
    await queueThumbnails(serverName, mediaId, filled);
  }

  /** Local media to serve; waits up to `waitMs` for a pending upload (then 504 M_NOT_YET_UPLOADED). */
  async function local(mediaId: string, options: { waitMs: number; legacy: boolean }): Promise<ServableMedia> {
    if (!validMediaId(mediaId)) throw notFound("Media not found");
    const deadline = now() + options.waitMs;
    for (;;) {
      const row = await getLocalMedia(db, mediaId);
      if (!row || row.quarantinedBy !== null) throw notFound("Media not found");
      if (options.legacy && row.authenticatedOnly) throw notFound("Media not found");
      if (row.sha256 !== null) {
        await touchLocalMedia(db, mediaId, now());
        return { origin: serverName, mediaId, sha256: row.sha256, size: row.size ?? 0, sniffedType: row.sniffedType, declaredType: row.declaredType, uploadName: row.uploadName, thumbnailError: row.thumbnailError };
      }
      if ((row.unusedExpiresTs ?? 0) < now()) throw notFound("Media not found");
      if (now() >= deadline) throw new MatrixError(504, "M_NOT_YET_UPLOADED", "The media has not been uploaded yet");
      await sleep(Math.min(POLL_MS * 2, Math.max(1, deadline - now())));
    }
  }

  /** Another server's media, fetched (by the media-remote worker, once across processes) and cached. */
  async function remote(origin: string, mediaId: string, options: { waitMs: number; allowRemote: boolean }): Promise<ServableMedia> {
    if (!validMediaId(mediaId)) throw notFound("Media not found");
    const deadline = now() + options.waitMs;
    let asked = false;
    for (;;) {
      const row = await getRemoteMedia(db, origin, mediaId);
      if (row?.quarantinedBy) throw notFound("Media not found");
      if (row?.sha256) {
        await touchRemoteMedia(db, origin, mediaId, now());
        return { origin, mediaId, sha256: row.sha256, size: row.size ?? 0, sniffedType: row.sniffedType, declaredType: row.contentType, uploadName: row.uploadName, thumbnailError: row.thumbnailError };
      }
      if (!options.allowRemote) throw notFound("Media not found");
      if (row?.fetchError && (asked || (row.fetchErrorTs ?? 0) >= now() - REMOTE_RETRY_AFTER_MS)) {
        if (row.fetchError === "not_found") throw notFound("Media not found");
        if (row.fetchError === "too_large") throw new MatrixError(502, "M_TOO_LARGE", "The remote media is larger than this server accepts");
        throw new MatrixError(502, "M_UNKNOWN", "The remote server did not provide the media");
      }
      if (!asked) {
        await requestRemoteMedia(db, origin, mediaId, now(), now() - REMOTE_RETRY_AFTER_MS);
        await deps.jobs.fetchRemote(origin, mediaId);
        asked = true;
        continue;
      }
      if (now() >= deadline) throw new MatrixError(504, "M_NOT_YET_UPLOADED", "The remote media has not arrived yet");
      await sleep(POLL_MS);
    }
  }

  function find(origin: string, mediaId: string, options: { waitMs: number; legacy: boolean; allowRemote: boolean }): Promise<ServableMedia> {
    return origin === serverName ? local(mediaId, options) : remote(origin, mediaId, options);
  }

  async function open(sha256: string, range?: ByteRange): Promise<Readable> {
    const stream = await store.get(sha256, range);
    if (!stream) throw notFound("Media content is missing");
    return stream;
  }

  /** The thumbnail box to serve for a request: the exact one with dynamic thumbnails, else the best configured one. */
  function chooseSize(width: number, height: number, method: "crop" | "scale"): ThumbnailSize {
    if (config.dynamic_thumbnails) return { width: Math.min(width, 4096), height: Math.min(height, 4096), method };
    const sameMethod = config.thumbnail_sizes.filter((s) => s.method === method);
    const candidates = sameMethod.length > 0 ? sameMethod : config.thumbnail_sizes;
    const byArea = [...candidates].sort((a, b) => a.width * a.height - b.width * b.height);
    return byArea.find((s) => s.width >= width && s.height >= height) ?? byArea[byArea.length - 1]!;
  }

  async function thumbnail(
    media: ServableMedia,
    request: { width: number; height: number; method: "crop" | "scale"; animated: boolean },
    waitMs: number,
  ): Promise<ThumbnailRow> {
    const type = media.sniffedType;
    if (!type || !THUMBNAILABLE_TYPES.includes(type)) throw new MatrixError(400, "M_UNKNOWN", "Cannot generate thumbnails for this content");
    const size = chooseSize(request.width, request.height, request.method);
    const animated = request.animated && ANIMATABLE_TYPES.has(type);
    const local = media.origin === serverName;
    const deadline = now() + waitMs;
    let asked = false;
    for (;;) {
      const found = (await getThumbnails(db, media.origin, media.mediaId)).find((t) => t.width === size.width && t.height === size.height && t.method === size.method && t.animated === animated);
      if (found) return found;
      const error = local ? (await getLocalMedia(db, media.mediaId))?.thumbnailError : (await getRemoteMedia(db, media.origin, media.mediaId))?.thumbnailError;
      if (error === "too_large") throw new MatrixError(local ? 413 : 502, "M_TOO_LARGE", "The image is too large to thumbnail");
      if (error) throw new MatrixError(400, "M_UNKNOWN", "Cannot generate thumbnails for this content");
      if (!asked) {
        await deps.jobs.thumbnail({ origin: media.origin, mediaId: media.mediaId, ...size, animated });
        asked = true;
        continue;
      }
      if (now() >= deadline) throw new MatrixError(504, "M_NOT_YET_UPLOADED", "The thumbnail is not ready yet");
      await sleep(POLL_MS);
    }
  }

  /** Removes files whose last row went, inside the transaction that removed the rows. */
  async function releaseAll(tx: Queryable, shas: readonly string[]): Promise<number> {
    let deleted = 0;
    for (const sha of shas) {
      if (await releaseContent(tx, sha)) {
        await store.delete(sha);
        deleted += 1;
      }
    }
    return deleted;
  }

  /** Deletes mxc://origin/mediaId, its thumbnails, and every file no other row uses. */
  function deleteMedia(origin: string, mediaId: string): Promise<{ existed: boolean; filesDeleted: number }> {
    return db.transaction(async (tx) => {
      const deleted = await deleteMediaRows(tx, origin === serverName, origin, mediaId);
      return { existed: deleted.existed, filesDeleted: await releaseAll(tx, deleted.shas) };
    });
  }

  return { queueThumbnails, upload, createPending, uploadPending, find, open, thumbnail, storeContent, deleteMedia, chooseSize, maxBytes };
}
