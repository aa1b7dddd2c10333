// The Elasticsearch search backend (search.backend: elasticsearch), through
// the official client. Layout:
//
//   index template <index>-template   analyzers and mappings for <index>-v*
//   alias <index>                     what searches and the worker use
//   indices <index>-v1, -v2, …        one live at a time; a reindex fills the
//                                     next one, then swaps the alias in one
//                                     updateAliases call and drops the old one,
//                                     so searches never see a half-built index
//
// Documents are keyed by event ID (an edit overwrites its original's
// document) and written with the bulk API. Tested against a recording HTTP
// server that answers as Elasticsearch documents (spec/integration/search/
// elasticsearch.spec.ts); no live cluster has been run here.
import { readFileSync } from "node:fs";
import { Client, type estypes } from "@elastic/elasticsearch";
import { ConfigError, UNAVAILABLE_EXIT_CODE } from "../config/config-error.ts";
import type { ElasticsearchConfig } from "../config/schema.ts";
import type { IndexChanges, SearchBackend, SearchDocument, SearchQuery } from "./backend.ts";
import { markedWords } from "./postgres-backend.ts";

/** The index template: one analyzer (standard tokenizer, lower case, ASCII folding, the language's stemmer) and strict mappings. */
export function indexTemplate(config: Pick<ElasticsearchConfig, "index">, language: string): estypes.IndicesPutIndexTemplateRequest {
  return {
    name: `${config.index}-template`,
    index_patterns: [`${config.index}-v*`],
    priority: 100,
    template: {
      settings: {
        number_of_shards: 1,
        analysis: {
          filter: { myelin_stemmer: { type: "stemmer", language } },
          analyzer: { myelin_text: { type: "custom", tokenizer: "standard", filter: ["lowercase", "asciifolding", "myelin_stemmer"] } },
        },
      },
      mappings: {
        dynamic: "strict",
        properties: {
          room_id: { type: "keyword" },
          sender: { type: "keyword" },
          key: { type: "keyword" },
          body: { type: "text", analyzer: "myelin_text" },
          origin_server_ts: { type: "long" },
          stream_ordering: { type: "long" },
        },
      },
    },
  };
}

const source = (d: SearchDocument) => ({ room_id: d.roomId, sender: d.sender, key: d.key, body: d.body, origin_server_ts: d.originServerTs, stream_ordering: d.streamOrdering });

/** The bulk operations of a change set: index (create or replace) each upsert, delete each removal. */
export function bulkOperations(index: string, changes: IndexChanges): estypes.BulkRequest["operations"] {
  const ops: NonNullable<estypes.BulkRequest["operations"]> = [];
  for (const id of changes.deletes) ops.push({ delete: { _index: index, _id: id } });
  for (const doc of changes.upserts) ops.push({ index: { _index: index, _id: doc.eventId } }, source(doc));
  return ops;
}

/** The search request of a query: simple_query_string (words AND-ed, "phrases", -negation, as websearch_to_tsquery) inside filters. */
export function searchRequest(index: string, query: SearchQuery): estypes.SearchRequest {
  const filter: estypes.QueryDslQueryContainer[] = [{ terms: { room_id: [...query.roomIds] } }, { terms: { key: [...query.keys] } }];
  if (query.senders) filter.push({ terms: { sender: [...query.senders] } });
  const rank = query.order === "rank";
  return {
    index,
    size: query.limit,
    track_total_hits: true,
    track_scores: true,
    _source: ["room_id", "stream_ordering"],
    query: {
      bool: {
        must: [{ simple_query_string: { query: query.term, fields: ["body"], default_operator: "and" } }],
        filter,
        ...(query.notSenders.length > 0 ? { must_not: [{ terms: { sender: [...query.notSenders] } }] } : {}),
      },
    },
    sort: rank ? [{ _score: { order: "desc" } }, { stream_ordering: { order: "desc" } }] : [{ stream_ordering: { order: "desc" } }],
    ...(query.after ? { search_after: rank ? [query.after.rank ?? 0, query.after.stream] : [query.after.stream] } : {}),
    highlight: { pre_tags: ["\u0001"], post_tags: ["\u0002"], fields: { body: { number_of_fragments: 0 } } },
  };
}

export function createElasticsearchBackend(deps: { config: ElasticsearchConfig; language: string; client?: Client }): SearchBackend {
  const { config, language } = deps;
  const alias = config.index;
  const client =
    deps.client ??
    new Client({
      node: config.node,
      requestTimeout: config.request_timeout_ms,
      maxRetries: 2,
      ...(config.api_key ? { auth: { apiKey: config.api_key } } : config.username ? { auth: { username: config.username, password: config.password! } } : {}),
      ...(config.ca_bundle_path ? { tls: { ca: readFileSync(config.ca_bundle_path, "utf8") } } : {}),
    });

  async function bulk(changes: IndexChanges, index: string): Promise<void> {
    const operations = bulkOperations(index, changes);
    if (!operations || operations.length === 0) return;
    const response = await client.bulk({ operations });
    if (!response.errors) return;
    // Deleting what is not there (a redaction of an event never indexed) is not a failure.
    const failed = response.items.map((item) => Object.values(item)[0]!).filter((r) => r.error && !(r.status === 404));
    if (failed.length > 0) throw new Error(`Elasticsearch bulk: ${failed.length} failed, first: ${failed[0]!.error?.type}: ${failed[0]!.error?.reason}`);
  }

  /** The indices behind the alias now. */
  async function aliasTargets(): Promise<string[]> {
    return Object.keys(await client.indices.getAlias({ name: alias }));
  }

  const versionOf = (index: string) => Number(/-v(\d+)$/.exec(index)?.[1] ?? 0);

  return {
    name: "elasticsearch",
    async start() {
      try {
        await client.info({}, { maxRetries: 0, requestTimeout: Math.min(config.request_timeout_ms, 10_000) });
      } catch (err) {
        const reason = (err instanceof Error ? err.message : String(err)).split("\n")[0];
        throw new ConfigError(`search.backend is elasticsearch but the cluster at ${config.node} cannot be reached: ${reason}`, UNAVAILABLE_EXIT_CODE);
      }
      await client.indices.putIndexTemplate(indexTemplate(config, language));
      if (!(await client.indices.existsAlias({ name: alias }))) {
        await client.indices.create({ index: `${alias}-v1`, aliases: { [alias]: {} } });
      }
    },
    write: (_tx, changes) => bulk(changes, alias),
    async rebuild() {
      const old = await aliasTargets();
      const next = `${alias}-v${Math.max(0, ...old.map(versionOf)) + 1}`;
      await client.indices.create({ index: next });
      return {
        write: (changes) => bulk(changes, next),
        async finish() {
          await client.indices.refresh({ index: next });
          // One call: searches go from the old index to the new one with no moment in between.
          await client.indices.updateAliases({ actions: [...old.map((index) => ({ remove: { index, alias } })), { add: { index: next, alias } }] });
          if (old.length > 0) await client.indices.delete({ index: old });
        },
        async abort() {
          await client.indices.delete({ index: next }, { ignore: [404] });
        },
      };
    },
    async search(query) {
      const response = await client.search<{ room_id: string; stream_ordering: number }>(searchRequest(alias, query));
      const total = response.hits.total;
      return {
        count: typeof total === "number" ? total : (total?.value ?? 0),
        hits: response.hits.hits.map((hit) => ({
          eventId: hit._id!,
          roomId: hit._source!.room_id,
          rank: hit._score ?? 0,
          streamOrdering: hit._source!.stream_ordering,
          highlights: (hit.highlight?.body ?? []).flatMap(markedWords),
        })),
      };
    },
    async close() {
      await client.close();
    },
  };
}
