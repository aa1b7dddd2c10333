// Queue search-index: a wake-up for the search indexer, queued after each
// commit (and on a schedule). The payload only says how far the stream had
// got; the handler indexes from the position stored in PostgreSQL, so a lost
// job loses nothing and one job can cover many commits.
import type { QueueDefinition } from "../bullmq.ts";

export interface SearchIndexPayload {
  /** The committed stream position that caused the job; 0 for the scheduled catch-up. */
  position: number;
}

export const searchIndexQueue: QueueDefinition<SearchIndexPayload> = {
  name: "search-index",
  // One job per position: a job already running never swallows a later commit's wake-up.
  jobId: (p) => (p.position > 0 ? `upto-${p.position}` : "catch-up"),
  options: { attempts: 5 },
};
