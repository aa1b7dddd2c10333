// The search worker (role worker:search): the search-index queue, a
// scheduled catch-up every search.catch_up_interval_ms, and a catch-up at
// start. The position lives in PostgreSQL (search_positions), so after a
// Redis flush the start-up (or the next scheduled) catch-up indexes whatever
// was committed meanwhile. Any number of processes may run it: the position
// row lock serialises them.
import type { Logger } from "../server/observability/logger.ts";
import type { SearchIndexer } from "../server/search/indexer.ts";
import type { JobHandler, JobQueues } from "./bullmq.ts";
import { searchIndexQueue, type SearchIndexPayload } from "./search-index/queue.ts";

export interface SearchWorkersDeps {
  queues: JobQueues;
  indexer: SearchIndexer;
  handler: JobHandler<SearchIndexPayload>;
  catchUpIntervalMs: number;
  log: Logger;
}

export async function startSearchWorkers(deps: SearchWorkersDeps): Promise<void> {
  deps.queues.work(searchIndexQueue, deps.handler, 1);
  await deps.queues.schedule(searchIndexQueue, { position: 0 }, deps.catchUpIntervalMs);
  // In the background: the first start on a large database indexes for minutes, and start-up
  // (listeners, the shutdown handler) must not wait for it.
  void deps.indexer.catchUp().then(
    ({ events, position }) => {
      if (events > 0) deps.log.info({ events, position }, "search index caught up from the stored position");
    },
    (err: unknown) => deps.log.warn({ err }, "search catch-up at start failed; the scheduled catch-up will retry"),
  );
}
