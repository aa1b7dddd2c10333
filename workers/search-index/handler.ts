// Runs the indexer from the stored position. Idempotent: when another run
// (another process, or an earlier job) already got past `position`, there is
// nothing to read and the job ends at once.
import type { SearchIndexer } from "../../server/search/indexer.ts";
import type { SearchPosition } from "../../server/storage/search.ts";
import type { JobHandler } from "../bullmq.ts";
import type { SearchIndexPayload } from "./queue.ts";

export function createSearchIndexHandler(deps: { indexer: Pick<SearchIndexer, "catchUp">; position: () => Promise<SearchPosition> }): JobHandler<SearchIndexPayload> {
  return async (payload) => {
    if (payload.position > 0 && (await deps.position()).stream >= payload.position) return;
    await deps.indexer.catchUp();
  };
}
