// The search backend port: what the indexer writes and what POST /search
// reads. Two implementations: PostgreSQL full-text search (the default,
// server/search/postgres-backend.ts) and Elasticsearch
// (server/search/elasticsearch-backend.ts). Visibility is never the
// backend's business: it returns candidates in the user's joined rooms, and
// server/search/search-service.ts keeps only what the user may read.
import type { Queryable } from "../storage/database.ts";

export const SEARCH_KEYS = ["content.body", "content.name", "content.topic"] as const;
export type SearchKey = (typeof SEARCH_KEYS)[number];

/** One indexed event (for an edited message: the original, with the latest edit's text). */
export interface SearchDocument {
  eventId: string;
  roomId: string;
  sender: string;
  key: SearchKey;
  body: string;
  originServerTs: number;
  streamOrdering: number;
}

export interface IndexChanges {
  upserts: SearchDocument[];
  deletes: string[];
}

/** Where a page ended: rank (order_by rank only) and stream position, both descending. */
export interface SearchCursor {
  rank?: number;
  stream: number;
}

export interface SearchQuery {
  term: string;
  roomIds: readonly string[];
  keys: readonly SearchKey[];
  senders?: readonly string[];
  notSenders: readonly string[];
  order: "rank" | "recent";
  after?: SearchCursor;
  limit: number;
}

export interface SearchHit {
  eventId: string;
  roomId: string;
  rank: number;
  streamOrdering: number;
  /** Words of this hit's text that matched the query (stemming may make them differ from the term). */
  highlights: string[];
}

export interface SearchPage {
  hits: SearchHit[];
  /** Matches in the searched rooms, before visibility filtering (the spec's "approximate count"). */
  count: number;
}

/** A rebuild in progress: writes go to a new index that replaces the old one at `finish`. */
export interface Rebuild {
  write(changes: IndexChanges): Promise<void>;
  finish(): Promise<void>;
  abort(): Promise<void>;
}

export interface SearchBackend {
  readonly name: "postgres" | "elasticsearch";
  /** Checks the backend can be used (ES: reachable, template and alias in place); throws with one line otherwise. */
  start(): Promise<void>;
  /** Applies changes. `tx` is the indexer's transaction, which holds the position row: PostgreSQL writes in it. */
  write(tx: Queryable, changes: IndexChanges): Promise<void>;
  /** Starts replacing the whole index (admin-cli search reindex). */
  rebuild(tx: Queryable): Promise<Rebuild>;
  search(query: SearchQuery): Promise<SearchPage>;
  close(): Promise<void>;
}
