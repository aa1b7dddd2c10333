// Makes one URL preview and caches it in url_previews, success or failure,
// for url_preview.cache_duration_ms. Idempotent: a fresh cached answer ends
// the job.
import type { PreviewError } from "../../server/media/url-preview.ts";
import type { Database } from "../../server/storage/database.ts";
import { getUrlPreview, storeUrlPreview } from "../../server/storage/media.ts";
import type { JobHandler } from "../bullmq.ts";
import type { UrlPreviewPayload } from "./queue.ts";

export interface UrlPreviewHandlerDeps {
  db: Database;
  previewer: { preview(url: string, userId: string): Promise<Record<string, unknown>> };
  cacheMs: number;
  /** Failures are kept for less time than previews. */
  errorCacheMs: number;
}

export function createUrlPreviewHandler(deps: UrlPreviewHandlerDeps): JobHandler<UrlPreviewPayload> {
  return async (job) => {
    const now = Date.now();
    const cached = await getUrlPreview(deps.db, job.url);
    if (cached && cached.expiresTs > now) return;
    try {
      const og = await deps.previewer.preview(job.url, job.userId);
      await storeUrlPreview(deps.db, job.url, og, null, now, now + deps.cacheMs);
    } catch (err) {
      const failure = (err as PreviewError).failure ?? "unreachable";
      await storeUrlPreview(deps.db, job.url, null, failure, now, now + deps.errorCacheMs);
    }
  };
}
