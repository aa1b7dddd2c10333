// The default search backend: PostgreSQL full-text search over event_search
// (tsvector in the configured text search configuration, GIN index,
// ts_rank_cd ranking, websearch_to_tsquery parsing). It needs no setup: the
// table comes with the migrations, and the indexer writes it inside the
// transaction that moves the position, so the index and the position never
// disagree.
import { ConfigError } from "../config/config-error.ts";
import type { Database } from "../storage/database.ts";
import { countSearchRows, deleteAllSearchRows, deleteSearchRows, searchRows, textSearchConfigExists, upsertSearchRows } from "../storage/search.ts";
import type { IndexChanges, SearchBackend } from "./backend.ts";

export const START = "\u0001";
export const STOP = "\u0002";

/** The words ts_headline marked (\u0001word\u0002), lower-cased. */
export function markedWords(headline: string): string[] {
  const words: string[] = [];
  for (let at = headline.indexOf(START); at >= 0; at = headline.indexOf(START, at + 1)) {
    const end = headline.indexOf(STOP, at);
    if (end < 0) break;
    const word = headline.slice(at + 1, end).toLowerCase();
    if (word.length > 0) words.push(word);
  }
  return words;
}

export function createPostgresBackend(deps: { db: Database; language: string }): SearchBackend {
  const { db, language } = deps;
  const write = async (tx: Parameters<SearchBackend["write"]>[0], changes: IndexChanges) => {
    await deleteSearchRows(tx, changes.deletes);
    await upsertSearchRows(tx, language, changes.upserts);
  };
  return {
    name: "postgres",
    async start() {
      if (!(await textSearchConfigExists(db, language))) throw new ConfigError(`search.language "${language}" is not a PostgreSQL text search configuration (see \\dF in psql)`);
    },
    write,
    async rebuild(tx) {
      // The old rows stay visible to searches until the reindex transaction commits.
      await deleteAllSearchRows(tx);
      return { write: (changes) => write(tx, changes), finish: async () => undefined, abort: async () => undefined };
    },
    async search(query) {
      const rowsQuery = { ...query, language };
      const [hits, count] = await Promise.all([searchRows(db, rowsQuery), countSearchRows(db, rowsQuery)]);
      return {
        hits: hits.map((h) => ({ eventId: h.eventId, roomId: h.roomId, rank: h.rank, streamOrdering: h.streamOrdering, highlights: markedWords(h.headline) })),
        count,
      };
    },
    async close() {},
  };
}
