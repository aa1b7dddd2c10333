// Media retention (Synapse's media_retention): local media not downloaded or
// uploaded for local_media_lifetime, cached remote media not downloaded for
// remote_media_lifetime, asynchronous upload IDs whose window closed, and
// expired URL previews are deleted; a file goes with its last row
// (MediaRepository.deleteMedia). Run by the media-retention
// worker on a schedule.
import type { Logger } from "../observability/logger.ts";
import type { Database } from "../storage/database.ts";
import { deleteExpiredUrlPreviews, expiredLocalMedia, expiredRemoteMedia } from "../storage/media.ts";
import type { MediaRepository } from "./media-repository.ts";

export interface MediaRetentionDeps {
  db: Database;
  serverName: string;
  repository: Pick<MediaRepository, "deleteMedia">;
  localLifetimeMs: number | undefined;
  remoteLifetimeMs: number | undefined;
  log: Logger;
}

export interface RetentionResult {
  local: number;
  remote: number;
  files: number;
  previews: number;
}

const BATCH = 500;

export function createMediaRetention(deps: MediaRetentionDeps) {
  return {
    async run(now = Date.now()): Promise<RetentionResult> {
      const result: RetentionResult = { local: 0, remote: 0, files: 0, previews: 0 };
      const localBefore = deps.localLifetimeMs === undefined ? undefined : now - deps.localLifetimeMs;
      for (;;) {
        const ids = await expiredLocalMedia(deps.db, localBefore, now, BATCH);
        for (const id of ids) {
          const done = await deps.repository.deleteMedia(deps.serverName, id);
          result.local += 1;
          result.files += done.filesDeleted;
        }
        if (ids.length < BATCH) break;
      }
      if (deps.remoteLifetimeMs !== undefined) {
        for (;;) {
          const expired = await expiredRemoteMedia(deps.db, now - deps.remoteLifetimeMs, BATCH);
          for (const media of expired) {
            const done = await deps.repository.deleteMedia(media.origin, media.mediaId);
            result.remote += 1;
            result.files += done.filesDeleted;
          }
          if (expired.length < BATCH) break;
        }
      }
      result.previews = await deleteExpiredUrlPreviews(deps.db, now);
      if (result.local + result.remote + result.previews > 0) deps.log.info({ ...result }, "media retention removed expired media");
      return result;
    },
  };
}
