// Makes one thumbnail. Idempotent: an existing thumbnail, gone or quarantined
// media end the job without work; the thumbnail row is written with ON
// CONFLICT DO NOTHING. An image over media.max_image_pixels or one sharp
// cannot read is recorded on the media row (thumbnail_error), so requests
// answer at once instead of waiting, and the job is not retried.
import type { Readable } from "node:stream";
import { Readable as ReadableStream } from "node:stream";
import type { MediaRepository } from "../../server/media/media-repository.ts";
import { ImageTooLargeError, renderThumbnail, UnsupportedImageError } from "../../server/media/thumbnailer.ts";
import type { MediaStore } from "../../server/media/store/media-store.ts";
import type { Logger } from "../../server/observability/logger.ts";
import type { Database } from "../../server/storage/database.ts";
import { getLocalMedia, getRemoteMedia, getThumbnails, insertThumbnail, setThumbnailError } from "../../server/storage/media.ts";
import type { JobHandler } from "../bullmq.ts";
import type { ThumbnailPayload } from "./queue.ts";

export interface ThumbnailHandlerDeps {
  db: Database;
  store: Pick<MediaStore, "get">;
  repository: Pick<MediaRepository, "storeContent">;
  serverName: string;
  maxImagePixels: number;
  log: Logger;
}

async function readAll(stream: Readable, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new Error("source larger than its recorded size");
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, size);
}

export function createThumbnailHandler(deps: ThumbnailHandlerDeps): JobHandler<ThumbnailPayload> {
  return async (job) => {
    const local = job.origin === deps.serverName;
    const media = local ? await getLocalMedia(deps.db, job.mediaId) : await getRemoteMedia(deps.db, job.origin, job.mediaId);
    if (!media || !media.sha256 || media.quarantinedBy !== null || media.thumbnailError !== null || !media.sniffedType) return;
    const existing = await getThumbnails(deps.db, job.origin, job.mediaId);
    if (existing.some((t) => t.width === job.width && t.height === job.height && t.method === job.method && t.animated === job.animated)) return;
    const source = await deps.store.get(media.sha256);
    if (!source) {
      // Not something a retry mends: the store lost the file (or another server's store was meant).
      deps.log.warn({ mediaId: job.mediaId, sha256: media.sha256 }, "media content missing from the store");
      await setThumbnailError(deps.db, local, job.origin, job.mediaId, "missing_content");
      return;
    }
    const input = await readAll(source, media.size ?? Number.MAX_SAFE_INTEGER);
    let rendered;
    try {
      rendered = await renderThumbnail(input, media.sniffedType, job, deps.maxImagePixels);
    } catch (err) {
      if (err instanceof ImageTooLargeError || err instanceof UnsupportedImageError) {
        deps.log.info({ mediaId: job.mediaId, reason: err.message }, "no thumbnail for this media");
        await setThumbnailError(deps.db, local, job.origin, job.mediaId, err instanceof ImageTooLargeError ? "too_large" : "unsupported");
        return;
      }
      throw err;
    }
    await deps.repository.storeContent(ReadableStream.from([rendered.data]), rendered.data.length, async (tx, staged) => {
      await insertThumbnail(
        tx,
        job.origin,
        job.mediaId,
        { width: job.width, height: job.height, method: job.method, animated: job.animated, contentType: rendered.contentType, sha256: staged.sha256, size: staged.size },
        Date.now(),
      );
    });
  };
}
