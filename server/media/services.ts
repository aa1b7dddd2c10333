// The media composition root: the store, the repository, the remote fetcher,
// the URL previewer, retention and the admin functions, plus the job handlers
// for workers/media.ts. Built once per process by server/main.ts.
import type { HomeserverConfig } from "../config/schema.ts";
import { durationMs } from "../config/schema.ts";
import { createDnsResolver } from "../net/dns.ts";
import { GuardedHttpsAgent } from "../net/guarded-agent.ts";
import { GuardedHttpAgent, guardedGet } from "../net/guarded-fetch.ts";
import { createAddressPolicy, type AddressPolicy } from "../net/ip-range.ts";
import type { Logger } from "../observability/logger.ts";
import type { Database } from "../storage/database.ts";
import { insertLocalMedia } from "../storage/media.ts";
import type { JobQueues } from "../../workers/bullmq.ts";
import { createRetentionHandler } from "../../workers/media-retention/handler.ts";
import { createRemoteMediaHandler } from "../../workers/media-remote/handler.ts";
import { remoteMediaQueue } from "../../workers/media-remote/queue.ts";
import { createThumbnailHandler } from "../../workers/media-thumbnails/handler.ts";
import { thumbnailQueue } from "../../workers/media-thumbnails/queue.ts";
import { createUrlPreviewHandler } from "../../workers/url-preview/handler.ts";
import { urlPreviewQueue } from "../../workers/url-preview/queue.ts";
import type { MediaWorkersDeps } from "../../workers/media.ts";
import { createMediaAdmin } from "./admin.ts";
import { normaliseDeclared } from "./content-types.ts";
import { createMediaRepository, newMediaId } from "./media-repository.ts";
import { createRemoteFetcher } from "./remote-fetch.ts";
import { createMediaRetention } from "./retention.ts";
import { createLocalMediaStore } from "./store/local-store.ts";
import type { MediaStore } from "./store/media-store.ts";
import { createS3MediaStore } from "./store/s3-store.ts";
import { createUrlPreviewer } from "./url-preview.ts";
import type { StreamResponse } from "../net/guarded-fetch.ts";

/** Failed previews are cached for a minute at most (Synapse caches errors too). */
const PREVIEW_ERROR_CACHE_MS = 60_000;

export interface MediaServicesDeps {
  config: HomeserverConfig;
  db: Database;
  queues: JobQueues;
  /** FederationClient.stream, for remote media. */
  federationStream(destination: string, path: string, options: { query?: Record<string, string | boolean>; timeoutMs?: number }): Promise<StreamResponse>;
  log: Logger;
}

export function createMediaStore(config: HomeserverConfig): MediaStore {
  const media = config.media;
  if (media.store === "s3") {
    if (!media.s3) throw new Error("media.store is s3 but media.s3 is missing");
    return createS3MediaStore(media.s3, media.store_path);
  }
  return createLocalMediaStore(media.store_path);
}

function agentsFor(policy: AddressPolicy, config: HomeserverConfig) {
  const dns = createDnsResolver(config.federation.dns_servers ? { servers: config.federation.dns_servers } : {});
  return {
    httpAgent: new GuardedHttpAgent({ policy, dns }),
    httpsAgent: new GuardedHttpsAgent({ policy, dns, keepAlive: false, rejectUnauthorized: config.federation.verify_certificates }),
  };
}

export type MediaServices = ReturnType<typeof createMediaServices>;

export function createMediaServices(deps: MediaServicesDeps) {
  const { config, db, queues, log } = deps;
  const store = createMediaStore(config);
  const repository = createMediaRepository({
    db,
    store,
    serverName: config.server_name,
    config: config.media,
    log: log.child({ component: "media" }),
    jobs: {
      thumbnail: (job) => queues.enqueue(thumbnailQueue, job),
      fetchRemote: (origin, mediaId) => queues.enqueue(remoteMediaQueue, { origin, mediaId }),
    },
  });

  const federationPolicy = createAddressPolicy({
    ...(config.federation.ip_range_blocklist ? { blocklist: config.federation.ip_range_blocklist } : {}),
    allowlist: config.federation.ip_range_allowlist,
  });
  const federationAgents = agentsFor(federationPolicy, config);
  const timeoutMs = config.media.remote_fetch_timeout_ms;
  const fetcher = createRemoteFetcher({
    stream: deps.federationStream,
    get: (url) => guardedGet(url, { ...federationAgents, maxRedirects: 5, headersTimeoutMs: timeoutMs, idleTimeoutMs: timeoutMs }),
    timeoutMs,
  });

  const preview = config.url_preview;
  const previewPolicy = createAddressPolicy({ ...(preview.ip_range_blocklist ? { blocklist: preview.ip_range_blocklist } : {}), allowlist: preview.ip_range_allowlist });
  const previewAgents = agentsFor(previewPolicy, config);
  const previewer = createUrlPreviewer({
    get: (url) =>
      guardedGet(url, {
        ...previewAgents,
        maxRedirects: preview.max_redirects,
        headersTimeoutMs: preview.timeout_ms,
        idleTimeoutMs: preview.timeout_ms,
        headers: { "User-Agent": "Myelin URL preview", Accept: "text/html, image/*;q=0.9, */*;q=0.5" },
      }),
    maxBytes: preview.max_spider_size,
    timeoutMs: preview.timeout_ms,
    storeImage: async (userId, body, declaredType) => {
      const mediaId = newMediaId();
      const stored = await repository.storeContent(body, preview.max_spider_size, async (tx, staged, sniffedType) => {
        await insertLocalMedia(
          tx,
          { mediaId, userId, declaredType: normaliseDeclared(declaredType ?? undefined), sniffedType, uploadName: null, size: staged.size, sha256: staged.sha256, authenticatedOnly: config.media.enable_authenticated_media },
          Date.now(),
        );
        return { size: staged.size, sniffedType, head: staged.head };
      });
      await repository.queueThumbnails(config.server_name, mediaId, stored.sniffedType);
      return { mxc: `mxc://${config.server_name}/${mediaId}`, ...stored };
    },
  });

  const retention = createMediaRetention({
    db,
    serverName: config.server_name,
    repository,
    localLifetimeMs: durationMs(config.media_retention.local_media_lifetime),
    remoteLifetimeMs: durationMs(config.media_retention.remote_media_lifetime),
    log: log.child({ component: "media-retention" }),
  });
  const admin = createMediaAdmin({ db, serverName: config.server_name, repository });

  const workerLog = log.child({ component: "media-worker" });
  const workers: MediaWorkersDeps = {
    queues,
    db,
    serverName: config.server_name,
    media: config.media,
    handlers: {
      thumbnails: createThumbnailHandler({ db, store, repository, serverName: config.server_name, maxImagePixels: config.media.max_image_pixels, log: workerLog }),
      remote: createRemoteMediaHandler({ db, fetcher, repository, maxBytes: config.media.max_upload_size, log: workerLog }),
      ...(preview.enabled ? { previews: createUrlPreviewHandler({ db, previewer, cacheMs: preview.cache_duration_ms, errorCacheMs: Math.min(PREVIEW_ERROR_CACHE_MS, preview.cache_duration_ms) }) } : {}),
      retention: createRetentionHandler({ retention }),
    },
    concurrency: { thumbnails: config.workers.thumbnail_concurrency, remote: config.workers.remote_media_concurrency, previews: config.workers.url_preview_concurrency },
    retentionIntervalMs: config.media_retention.interval_ms,
    log: workerLog,
  };

  return {
    store,
    repository,
    admin,
    retention,
    workers,
    /** Asks the url-preview worker for a preview of `url` (collapsed per URL). */
    requestPreview: (url: string, userId: string) => queues.enqueue(urlPreviewQueue, { url, userId }),
    close() {
      for (const agents of [federationAgents, previewAgents]) {
        agents.httpAgent.destroy();
        agents.httpsAgent.destroy();
      }
    },
  };
}
