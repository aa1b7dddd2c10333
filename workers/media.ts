// The media workers (role worker:media): thumbnails, remote media, URL
// previews and retention, and the start-up sweep that rebuilds their jobs
// from PostgreSQL (a Redis that lost its data loses no work): media with
// missing configured thumbnails get their jobs again, remote fetches that
// were asked for and never finished are queued again. Several processes may
// run this at once: job ids collapse duplicates and the handlers are
// idempotent.
import type { MediaConfig } from "../server/config/schema.ts";
import { THUMBNAILABLE_TYPES } from "../server/media/content-types.ts";
import type { Logger } from "../server/observability/logger.ts";
import type { Database } from "../server/storage/database.ts";
import { localMediaMissingThumbnails, pendingRemoteFetches } from "../server/storage/media.ts";
import type { JobHandler, JobQueues } from "./bullmq.ts";
import { retentionQueue, type RetentionPayload } from "./media-retention/queue.ts";
import { remoteMediaQueue, type RemoteMediaPayload } from "./media-remote/queue.ts";
import { thumbnailQueue, type ThumbnailPayload } from "./media-thumbnails/queue.ts";
import { urlPreviewQueue, type UrlPreviewPayload } from "./url-preview/queue.ts";

export interface MediaWorkersDeps {
  queues: JobQueues;
  db: Database;
  serverName: string;
  media: Pick<MediaConfig, "thumbnail_sizes">;
  handlers: {
    thumbnails: JobHandler<ThumbnailPayload>;
    remote: JobHandler<RemoteMediaPayload>;
    previews?: JobHandler<UrlPreviewPayload>;
    retention: JobHandler<RetentionPayload>;
  };
  concurrency: { thumbnails: number; remote: number; previews: number };
  retentionIntervalMs: number;
  log: Logger;
}

const SWEEP_BATCH = 1000;

export async function sweepMediaJobs(deps: Pick<MediaWorkersDeps, "queues" | "db" | "serverName" | "media" | "log">): Promise<{ thumbnails: number; remote: number }> {
  const sizes = deps.media.thumbnail_sizes;
  let thumbnails = 0;
  // Newest first, page by page (a media row per page is at most SWEEP_BATCH x the configured sizes jobs).
  for (let before = Number.MAX_SAFE_INTEGER; ; ) {
    const missing = await localMediaMissingThumbnails(deps.db, deps.serverName, THUMBNAILABLE_TYPES, sizes.length, SWEEP_BATCH, before);
    for (const { mediaId } of missing) {
      for (const size of sizes) await deps.queues.enqueue(thumbnailQueue, { origin: deps.serverName, mediaId, ...size, animated: false });
    }
    thumbnails += missing.length;
    if (missing.length < SWEEP_BATCH) break;
    before = missing[missing.length - 1]!.createdTs;
  }
  const pending = await pendingRemoteFetches(deps.db, SWEEP_BATCH);
  for (const media of pending) await deps.queues.enqueue(remoteMediaQueue, media);
  if (thumbnails + pending.length > 0) deps.log.info({ thumbnails, remote: pending.length }, "media jobs re-queued from PostgreSQL");
  return { thumbnails, remote: pending.length };
}

export async function startMediaWorkers(deps: MediaWorkersDeps): Promise<void> {
  const { queues, handlers, concurrency } = deps;
  queues.work(thumbnailQueue, handlers.thumbnails, concurrency.thumbnails);
  queues.work(remoteMediaQueue, handlers.remote, concurrency.remote);
  if (handlers.previews) queues.work(urlPreviewQueue, handlers.previews, concurrency.previews);
  queues.work(retentionQueue, handlers.retention, 1);
  await queues.schedule(retentionQueue, {}, deps.retentionIntervalMs);
  await sweepMediaJobs(deps);
}
