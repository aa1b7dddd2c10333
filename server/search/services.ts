// Composition of search: the configured backend, the indexer, the /search
// service, and the producer that wakes the worker after each commit.
import type { HomeserverConfig } from "../config/schema.ts";
import type { Logger } from "../observability/logger.ts";
import type { RoomService } from "../rooms/room-service.ts";
import type { Database } from "../storage/database.ts";
import { readSearchPosition } from "../storage/search.ts";
import type { JobQueues } from "../../workers/bullmq.ts";
import { createSearchIndexHandler } from "../../workers/search-index/handler.ts";
import { searchIndexQueue } from "../../workers/search-index/queue.ts";
import type { SearchWorkersDeps } from "../../workers/search.ts";
import type { SearchBackend } from "./backend.ts";
import { createSearchIndexer, type SearchIndexer } from "./indexer.ts";
import { createPostgresBackend } from "./postgres-backend.ts";
import { createSearchService, type SearchService } from "./search-service.ts";

/** The configured backend; the Elasticsearch client (about 40 MiB of RSS) is loaded only when chosen. */
export async function createSearchBackend(config: HomeserverConfig["search"], db: Database): Promise<SearchBackend> {
  if (config.backend !== "elasticsearch") return createPostgresBackend({ db, language: config.language });
  const { createElasticsearchBackend } = await import("./elasticsearch-backend.ts");
  return createElasticsearchBackend({ config: config.elasticsearch!, language: config.language });
}

export interface SearchServices {
  backend: SearchBackend;
  indexer: SearchIndexer;
  service(rooms: Pick<RoomService, "roomVersion">): SearchService;
  /** Wakes the worker after a commit; never awaited by the send path. */
  committed(position: number): void;
  workers: SearchWorkersDeps;
}

export async function createSearchServices(deps: { config: HomeserverConfig; db: Database; queues: JobQueues; log: Logger }): Promise<SearchServices> {
  const { config, db, queues, log } = deps;
  const backend = await createSearchBackend(config.search, db);
  const indexer = createSearchIndexer({ db, backend, batchSize: config.search.batch_size, log });
  return {
    backend,
    indexer,
    service: (rooms) => createSearchService({ db, backend, rooms }),
    committed(position) {
      queues.enqueue(searchIndexQueue, { position }).catch((err: unknown) => log.warn({ err, position }, "queueing search indexing failed; the scheduled catch-up will index it"));
    },
    workers: {
      queues,
      indexer,
      handler: createSearchIndexHandler({ indexer, position: () => readSearchPosition(db, backend.name) }),
      catchUpIntervalMs: config.search.catch_up_interval_ms,
      log: log.child({ component: "search" }),
    },
  };
}
