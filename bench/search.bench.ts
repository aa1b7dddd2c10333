// Search benchmark (not a test): run with
//   bash scripts/run.sh bench/search.bench.ts [--messages 1000000] [--runs 20]
// 1. Fills a throwaway database with --messages m.room.message events in 50
//    rooms from 200 senders (one bulk INSERT … generate_series per 100,000;
//    bodies of 6–20 words drawn from a chat vocabulary with a skewed, Zipf-like
//    distribution, so a few words are in a third of the messages and most
//    are rare).
// 2. Indexes them with the PostgreSQL backend through the worker's own code
//    path (createSearchIndexer(...).catchUp(): read past the position, build
//    documents, upsert event_search, move the position) and reports events/s.
// 3. Times the backend's search (the page of 20 candidates a /search of 10
//    asks for, and its count) for terms of falling frequency, in both orders,
//    across all 50 rooms: p50 and p99 of --runs runs after two warm-ups.
// The database is dropped afterwards.
import { cpus, loadavg } from "node:os";
import { parseArgs } from "node:util";
import { createLogger } from "../server/observability/logger.ts";
import { createSearchIndexer } from "../server/search/indexer.ts";
import { createPostgresBackend } from "../server/search/postgres-backend.ts";
import { createDatabase } from "../server/storage/database.ts";
import { runBench, withThrowawayDatabase } from "./throwaway-database.ts";

const { values: args } = parseArgs({ options: { messages: { type: "string", default: "1000000" }, runs: { type: "string", default: "20" } } });
const MESSAGES = Number(args.messages);
const RUNS = Number(args.runs);
const ROOMS = 50;
const CHUNK = 100_000;

// Most frequent first: the draw favours the start of the list.
const VOCABULARY = `the i you to and a it is that we for on in this have be with just
meeting can do not so what are was will at but if think know get me my about
today now release from there one time all good like need should work make up
see out yes no going back tomorrow lunch call notes team people thanks here
when then still again also really thing maybe sure okay code review let look
week some because new build test fix bug deploy server issue change branch pull
request merge main please someone anyone help doc documentation design idea plan
morning afternoon evening coffee break later soon done working problem error
failed passing green red ticket update version upgrade config setting database
query index cache memory disk network latency timeout retry queue worker job
login password account user users room rooms message messages search result
results page next previous first last list table column row schema migration
backup restore monitor alert graph metric dashboard log logs trace span client
api endpoint request response header body token session device key keys crypto
encryption signature verify federation homeserver synapse matrix element bridge
bot invite join leave kick ban power level admin moderator policy spam report
holiday weekend friday monday vacation birthday party dinner movie music game
football weather rain snow sunny train bus flight hotel airport ticket passport
kubernetes terraform ansible prometheus grafana postgres redis elasticsearch
rust python typescript javascript golang kotlin swift haskell erlang elixir
zebra giraffe octopus pelican walrus narwhal axolotl quokka pangolin capybara`.split(/\s+/);

const TERMS = ["meeting", "deploy", "prometheus", "capybara", "release notes", '"pull request"'];

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function fill(db: ReturnType<typeof createDatabase>): Promise<number> {
  const started = Date.now();
  await db.query(
    `INSERT INTO rooms (room_id, room_version, creator, created_ts) SELECT '!room' || r || ':bench', '12', '@user0:bench', 0 FROM generate_series(0, $1 - 1) AS r`,
    [ROOMS],
  );
  for (let from = 1; from <= MESSAGES; from += CHUNK) {
    const to = Math.min(MESSAGES, from + CHUNK - 1);
    await db.query(
      `INSERT INTO events (event_id, room_id, type, sender, origin_server_ts, depth, stream_ordering, pdu)
       SELECT '$bench' || i, '!room' || (i % $3) || ':bench', 'm.room.message', '@user' || (i % 200) || ':bench', 1700000000000 + i * 1000, i, i,
              json_build_object('type', 'm.room.message', 'room_id', '!room' || (i % $3) || ':bench', 'sender', '@user' || (i % 200) || ':bench',
                                'origin_server_ts', 1700000000000 + i * 1000, 'content', json_build_object('msgtype', 'm.text', 'body', b.body))::text
         FROM generate_series($1::bigint, $2::bigint) AS i
        CROSS JOIN LATERAL (SELECT string_agg(($4::text[])[1 + floor(power(random(), 4) * array_length($4::text[], 1))::int], ' ') AS body
                              FROM generate_series(1, 6 + (i % 15)::int) WHERE i > 0) b`,
      [from, to, ROOMS, VOCABULARY],
    );
    process.stderr.write(`filled ${to}\n`);
  }
  await db.query(`UPDATE stream_head SET position = $1`, [MESSAGES]);
  await db.query(`ANALYZE events`);
  return (Date.now() - started) / 1000;
}

runBench(async () => {
  await withThrowawayDatabase("myelin_search_bench", async (url) => {
    const db = createDatabase(url, { max: 4 });
    const log = createLogger({ level: "warn", format: "json" });
    const load = { before: loadavg(), during: [] as number[][] };
    try {
      const fillSeconds = await fill(db);
      const backend = createPostgresBackend({ db, language: "english" });
      await backend.start();
      const indexer = createSearchIndexer({ db, backend, batchSize: 500, log });
      const timer = setInterval(() => load.during.push(loadavg()), 10_000);
      const indexStarted = Date.now();
      const { events } = await indexer.catchUp();
      const indexSeconds = (Date.now() - indexStarted) / 1000;
      clearInterval(timer);
      await db.query(`ANALYZE event_search`);
      const size = await db.query<{ table: string; index: string }>(
        `SELECT pg_size_pretty(pg_table_size('event_search')) AS table, pg_size_pretty(pg_indexes_size('event_search')) AS index`,
      );

      const roomIds = Array.from({ length: ROOMS }, (_, r) => `!room${r}:bench`);
      const queries: Array<Record<string, unknown>> = [];
      for (const term of TERMS) {
        for (const order of ["recent", "rank"] as const) {
          const query = { term, roomIds, keys: ["content.body" as const], notSenders: [], order, limit: 20 };
          let count = 0;
          for (let i = 0; i < 2; i++) count = (await backend.search(query)).count;
          const times: number[] = [];
          for (let i = 0; i < RUNS; i++) {
            const t = process.hrtime.bigint();
            await backend.search(query);
            times.push(Number(process.hrtime.bigint() - t) / 1e6);
          }
          times.sort((a, b) => a - b);
          queries.push({ term, order, matches: count, p50_ms: Number(percentile(times, 50).toFixed(1)), p99_ms: Number(percentile(times, 99).toFixed(1)) });
          process.stderr.write(`${term} ${order}: ${JSON.stringify(queries.at(-1))}\n`);
        }
      }
      const result = {
        machine: { cpus: cpus().length, model: cpus()[0]?.model, loadavg_before: load.before, loadavg_during_indexing: load.during, loadavg_after: loadavg() },
        messages: MESSAGES,
        fill_seconds: fillSeconds,
        indexed_events: events,
        index_seconds: indexSeconds,
        events_per_second: Math.round(events / indexSeconds),
        event_search_size: size.rows[0],
        queries,
      };
      console.log(JSON.stringify(result, null, 2));
    } finally {
      await db.close();
    }
  });
});
