// Fetches one remote media item into the store (server/media/remote-fetch.ts)
// and records it in remote_media. Idempotent: already cached media ends the
// job. "Not found" and "too large" are recorded at once (no retry helps);
// an unreachable origin is retried with backoff and recorded after the last try.
import { ContentTooLargeError } from "../../server/media/store/media-store.ts";
import type { MediaRepository } from "../../server/media/media-repository.ts";
import { RemoteMediaError, type FetchedMedia } from "../../server/media/remote-fetch.ts";
import { normaliseDeclared } from "../../server/media/content-types.ts";
import type { Logger } from "../../server/observability/logger.ts";
import type { Database } from "../../server/storage/database.ts";
import { completeRemoteMedia, failRemoteMedia, getRemoteMedia } from "../../server/storage/media.ts";
import type { JobHandler } from "../bullmq.ts";
import type { RemoteMediaPayload } from "./queue.ts";

export interface RemoteMediaHandlerDeps {
  db: Database;
  fetcher: { fetch(origin: string, mediaId: string): Promise<FetchedMedia> };
  repository: Pick<MediaRepository, "storeContent">;
  maxBytes: number;
  log: Logger;
}

export function createRemoteMediaHandler(deps: RemoteMediaHandlerDeps): JobHandler<RemoteMediaPayload> {
  return async (job, attempt) => {
    const row = await getRemoteMedia(deps.db, job.origin, job.mediaId);
    if (row?.sha256) return;
    const fail = (error: string) => failRemoteMedia(deps.db, job.origin, job.mediaId, error, Date.now());
    try {
      const fetched = await deps.fetcher.fetch(job.origin, job.mediaId);
      await deps.repository.storeContent(fetched.body, deps.maxBytes, async (tx, staged, sniffed) => {
        await completeRemoteMedia(
          tx,
          { origin: job.origin, mediaId: job.mediaId, contentType: normaliseDeclared(fetched.contentType ?? undefined), sniffedType: sniffed, uploadName: fetched.filename, size: staged.size, sha256: staged.sha256 },
          Date.now(),
        );
      });
    } catch (err) {
      if (err instanceof ContentTooLargeError) return fail("too_large");
      if (err instanceof RemoteMediaError && err.failure === "not_found") return fail("not_found");
      deps.log.info({ origin: job.origin, mediaId: job.mediaId, attempt: attempt.attempt, err: (err as Error).message }, "remote media fetch failed");
      if (attempt.final) return fail("unreachable");
      throw err;
    }
  };
}
