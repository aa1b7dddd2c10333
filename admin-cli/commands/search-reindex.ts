// admin-cli search reindex: rebuilds the configured search backend's index
// from PostgreSQL. PostgreSQL: the rows are replaced inside one transaction,
// so searches see the old index until it commits. Elasticsearch: a new
// versioned index is filled and the alias swapped to it at the end. Either
// way the search workers wait on the position row meanwhile and go on from
// where the rebuild stopped.
import { createProgress } from "../progress.ts";
import { createSearchBackend } from "../../server/search/services.ts";
import { createSearchIndexer } from "../../server/search/indexer.ts";
import type { AdminCommand } from "../command.ts";

export const searchReindex: AdminCommand = {
  name: "search reindex",
  summary: "rebuild the search index from PostgreSQL (zero downtime)",
  usage: "search reindex [--json]   --json: print the result as one JSON object on stdout",
  options: { json: { type: "boolean" } },
  async run({ config, db, log, out, err }, options) {
    const backend = await createSearchBackend(config.search, db);
    await backend.start();
    try {
      const indexer = createSearchIndexer({ db, backend, batchSize: config.search.batch_size, log });
      const progress = createProgress(err, `reindex (${backend.name})`);
      const started = Date.now();
      const result = await indexer.reindex((done, total) => progress.update(done, total));
      progress.finish();
      const summary = { backend: backend.name, events: result.events, documents: result.documents, position: result.position, seconds: (Date.now() - started) / 1000 };
      out.write(options.json ? `${JSON.stringify(summary)}\n` : `reindexed ${summary.documents} documents from ${summary.events} events into ${summary.backend} in ${summary.seconds.toFixed(1)} s (position ${summary.position})\n`);
    } finally {
      await backend.close();
    }
  },
};
