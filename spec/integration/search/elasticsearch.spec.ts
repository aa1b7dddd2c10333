// The Elasticsearch backend with the real @elastic/elasticsearch client
// against a recording stand-in (spec/support/fake-elasticsearch.ts): no
// Elasticsearch cluster can run here, so what is checked is the contract,
// the requests the client sends (index template, alias and versioned
// indices, bulk NDJSON, the query DSL, the alias swap of a reindex) and our
// reading of the documented responses. Then a whole server configured with
// search.backend: elasticsearch, and its one-line failure when the cluster
// cannot be reached.
import { expect } from "chai";
import { createServer } from "node:net";
import type { ElasticsearchConfig } from "../../../server/config/schema.ts";
import type { SearchDocument } from "../../../server/search/backend.ts";
import { createElasticsearchBackend, indexTemplate } from "../../../server/search/elasticsearch-backend.ts";
import type { Queryable } from "../../../server/storage/database.ts";
import { registerUser } from "../../support/accounts.ts";
import { startFakeElasticsearch, type FakeElasticsearch } from "../../support/fake-elasticsearch.ts";
import { TestClient } from "../../support/http-client.ts";
import { createRoom, nextTxnId, room, sendText } from "../../support/rooms.ts";
import { foundIds, search, waitForHits } from "../../support/search.ts";
import { startServer } from "../../support/server-process.ts";
import { testRedisPrefix } from "../../support/test-env.ts";

const noTx = {} as Queryable;

const doc = (eventId: string, body: string, stream: number, extra: Partial<SearchDocument> = {}): SearchDocument => ({
  eventId,
  roomId: "!r:test",
  sender: "@a:test",
  key: "content.body",
  body,
  originServerTs: 1000 + stream,
  streamOrdering: stream,
  ...extra,
});

describe("Elasticsearch search backend (request contract)", function () {
  this.timeout(30_000);
  let fake: FakeElasticsearch;
  let config: ElasticsearchConfig;
  beforeEach(async () => {
    fake = await startFakeElasticsearch();
    config = { node: fake.url, index: "myelin_events", request_timeout_ms: 5000, username: "elastic", password: "changeme" };
  });
  afterEach(async () => {
    await fake.close();
  });

  const calls = () => fake.requests.map((r) => `${r.method} ${r.path}`);

  it("start: checks the cluster, puts the index template, creates <index>-v1 behind the alias", async () => {
    const backend = createElasticsearchBackend({ config, language: "english" });
    await backend.start();
    expect(calls()).to.deep.equal(["GET /", "PUT /_index_template/myelin_events-template", "HEAD /_alias/myelin_events", "PUT /myelin_events-v1"]);
    // Basic auth from the config, and the client's compatibility media type.
    expect(fake.requests[0]!.headers.authorization).to.equal(`Basic ${Buffer.from("elastic:changeme").toString("base64")}`);
    expect(String(fake.requests[1]!.headers["content-type"])).to.match(/^application\/vnd\.elasticsearch\+json; ?compatible-with=9$/);
    const template = JSON.parse(fake.requests[1]!.body);
    const { name: _name, ...expected } = indexTemplate(config, "english");
    expect(template).to.deep.equal(expected);
    expect(template.index_patterns).to.deep.equal(["myelin_events-v*"]);
    expect(template.template.settings.analysis.analyzer.myelin_text).to.deep.equal({ type: "custom", tokenizer: "standard", filter: ["lowercase", "asciifolding", "myelin_stemmer"] });
    expect(template.template.mappings.properties.body).to.deep.equal({ type: "text", analyzer: "myelin_text" });
    expect(JSON.parse(fake.requests[3]!.body)).to.deep.equal({ aliases: { myelin_events: {} } });
    // A second start finds the alias and creates nothing.
    fake.requests.length = 0;
    await backend.start();
    expect(calls()).to.deep.equal(["GET /", "PUT /_index_template/myelin_events-template", "HEAD /_alias/myelin_events"]);
    await backend.close();
  });

  it("writes with one _bulk request of NDJSON: delete actions, then index action + source pairs keyed by event ID", async () => {
    const backend = createElasticsearchBackend({ config: { ...config, username: undefined, password: undefined, api_key: "a2V5OnNlY3JldA==" } as ElasticsearchConfig, language: "english" });
    await backend.start();
    fake.requests.length = 0;
    await backend.write(noTx, { upserts: [doc("$one", "hello world", 1), doc("$two", "second", 2)], deletes: ["$gone"] });
    expect(calls()).to.deep.equal(["POST /_bulk"]);
    const request = fake.requests[0]!;
    expect(request.headers.authorization).to.equal("ApiKey a2V5OnNlY3JldA==");
    expect(String(request.headers["content-type"])).to.match(/^application\/vnd\.elasticsearch\+x-ndjson; ?compatible-with=9$/);
    expect(request.body.endsWith("\n")).to.equal(true);
    expect(request.body.trimEnd().split("\n").map((l) => JSON.parse(l))).to.deep.equal([
      { delete: { _index: "myelin_events", _id: "$gone" } },
      { index: { _index: "myelin_events", _id: "$one" } },
      { room_id: "!r:test", sender: "@a:test", key: "content.body", body: "hello world", origin_server_ts: 1001, stream_ordering: 1 },
      { index: { _index: "myelin_events", _id: "$two" } },
      { room_id: "!r:test", sender: "@a:test", key: "content.body", body: "second", origin_server_ts: 1002, stream_ordering: 2 },
    ]);
    // Deleting what was never indexed (404 items) is fine; any other failed item is an error (the job retries).
    fake.failNextBulk = "mapper_parsing_exception";
    let failure: unknown;
    await backend.write(noTx, { upserts: [doc("$three", "x", 3)], deletes: [] }).catch((err: unknown) => (failure = err));
    expect(String(failure)).to.contain("mapper_parsing_exception");
    await backend.close();
  });

  it("searches with the query DSL: simple_query_string in filters, sorts, search_after, highlights", async () => {
    const backend = createElasticsearchBackend({ config, language: "english" });
    await backend.start();
    await backend.write(noTx, { upserts: [doc("$a", "martians landed", 1), doc("$b", "martians martians everywhere", 2), doc("$c", "nothing here", 3), doc("$d", "martians elsewhere", 4, { roomId: "!other:test" })], deletes: [] });
    fake.requests.length = 0;
    const page = await backend.search({ term: "martians", roomIds: ["!r:test"], keys: ["content.body", "content.name"], notSenders: ["@spam:test"], order: "rank", limit: 1 });
    const request = JSON.parse(fake.requests[0]!.body);
    expect(`${fake.requests[0]!.method} ${fake.requests[0]!.path}`).to.equal("POST /myelin_events/_search");
    expect(request.query).to.deep.equal({
      bool: {
        must: [{ simple_query_string: { query: "martians", fields: ["body"], default_operator: "and" } }],
        filter: [{ terms: { room_id: ["!r:test"] } }, { terms: { key: ["content.body", "content.name"] } }],
        must_not: [{ terms: { sender: ["@spam:test"] } }],
      },
    });
    expect(request.sort).to.deep.equal([{ _score: { order: "desc" } }, { stream_ordering: { order: "desc" } }]);
    expect(request).to.include({ size: 1, track_total_hits: true, track_scores: true });
    expect(request.highlight).to.deep.equal({ pre_tags: ["\u0001"], post_tags: ["\u0002"], fields: { body: { number_of_fragments: 0 } } });
    expect(page.count).to.equal(2);
    expect(page.hits).to.deep.equal([{ eventId: "$b", roomId: "!r:test", rank: 2, streamOrdering: 2, highlights: ["martians", "martians"] }]);

    const next = await backend.search({ term: "martians", roomIds: ["!r:test"], keys: ["content.body"], senders: ["@a:test"], notSenders: [], order: "rank", limit: 1, after: { rank: 2, stream: 2 } });
    const second = JSON.parse(fake.requests[1]!.body);
    expect(second.search_after).to.deep.equal([2, 2]);
    expect(second.query.bool.filter[2]).to.deep.equal({ terms: { sender: ["@a:test"] } });
    expect(second.query.bool.must_not).to.equal(undefined);
    expect(next.hits.map((h) => h.eventId)).to.deep.equal(["$a"]);

    await backend.search({ term: "martians", roomIds: ["!r:test"], keys: ["content.body"], notSenders: [], order: "recent", limit: 5, after: { stream: 9 } });
    const recent = JSON.parse(fake.requests[2]!.body);
    expect(recent.sort).to.deep.equal([{ stream_ordering: { order: "desc" } }]);
    expect(recent.search_after).to.deep.equal([9]);
    await backend.close();
  });

  it("a rebuild fills the next versioned index, then swaps the alias in one call and deletes the old index", async () => {
    const backend = createElasticsearchBackend({ config, language: "english" });
    await backend.start();
    await backend.write(noTx, { upserts: [doc("$old", "stale", 1)], deletes: [] });
    fake.requests.length = 0;
    const rebuild = await backend.rebuild(noTx);
    await rebuild.write({ upserts: [doc("$new", "fresh", 2)], deletes: [] });
    // Until the swap, searches still read the old index.
    expect((await backend.search({ term: "stale", roomIds: ["!r:test"], keys: ["content.body"], notSenders: [], order: "recent", limit: 5 })).count).to.equal(1);
    await rebuild.finish();
    expect(calls()).to.deep.equal(["GET /_alias/myelin_events", "PUT /myelin_events-v2", "POST /_bulk", "POST /myelin_events/_search", "GET /myelin_events-v2/_refresh", "POST /_aliases", "DELETE /myelin_events-v1"]);
    expect(JSON.parse(fake.requests[2]!.body.split("\n")[0]!)).to.deep.equal({ index: { _index: "myelin_events-v2", _id: "$new" } });
    expect(JSON.parse(fake.requests[5]!.body)).to.deep.equal({ actions: [{ remove: { index: "myelin_events-v1", alias: "myelin_events" } }, { add: { index: "myelin_events-v2", alias: "myelin_events" } }] });
    expect([...fake.aliases.get("myelin_events")!]).to.deep.equal(["myelin_events-v2"]);
    expect((await backend.search({ term: "fresh", roomIds: ["!r:test"], keys: ["content.body"], notSenders: [], order: "recent", limit: 5 })).count).to.equal(1);
    // An aborted rebuild drops its half-built index and leaves the alias alone.
    const aborted = await backend.rebuild(noTx);
    await aborted.abort();
    expect(fake.indices.has("myelin_events-v3")).to.equal(false);
    expect([...fake.aliases.get("myelin_events")!]).to.deep.equal(["myelin_events-v2"]);
    await backend.close();
  });
});

describe("a server with search.backend: elasticsearch", function () {
  this.timeout(60_000);

  it("indexes through the worker into the alias, finds, and drops redacted events", async () => {
    const fake = await startFakeElasticsearch();
    // Its own Redis prefix and index, so no other server's worker or position gets involved.
    const server = await startServer({ config: { redis: { key_prefix: `${testRedisPrefix}es:` }, search: { backend: "elasticsearch", elasticsearch: { node: fake.url, index: "myelin_es_test" } } } });
    try {
      const api = new TestClient(server.baseUrl);
      const alice = await registerUser(api);
      const roomId = await createRoom(api, alice);
      const id = await sendText(api, alice, roomId, "quasar observations tonight");
      await waitForHits(api, alice, "quasar", [id]);
      const result = await search(api, alice, { search_term: "quasar" });
      expect(result.highlights).to.deep.equal(["quasar"]);
      expect(fake.indices.get("myelin_es_test-v1")!.get(id)!.body).to.equal("quasar observations tonight");
      const redact = await api.put(`${room(roomId)}/redact/${encodeURIComponent(id)}/${nextTxnId()}`, {}, { token: alice.access_token });
      expect(redact.status).to.equal(200);
      expect(await foundIds(api, alice, "quasar")).to.deep.equal([]);
      await waitForIndexDelete(fake, "myelin_es_test-v1", id);
    } finally {
      await server.stop();
      await fake.close();
    }
  });

  it("fails at start-up with one line when the cluster cannot be reached", async () => {
    const port = await closedPort();
    const server = await startServer({ expectExit: true, config: { search: { backend: "elasticsearch", elasticsearch: { node: `http://127.0.0.1:${port}` } } } });
    const { code } = await server.exited;
    expect(code).to.equal(3);
    const lines = server.stderr.filter((l) => l.trim() !== "");
    expect(lines).to.have.length(1);
    expect(lines[0]).to.match(new RegExp(`^myelin: search.backend is elasticsearch but the cluster at http://127.0.0.1:${port} cannot be reached: `));
  });

  it("refuses an elasticsearch backend without a node URL, with one line", async () => {
    const server = await startServer({ expectExit: true, config: { search: { backend: "elasticsearch" } } });
    expect((await server.exited).code).to.equal(2);
    expect(server.stderr.join("\n")).to.contain("search.elasticsearch.node is not set");
  });
});

describe("search configuration at start-up", function () {
  this.timeout(30_000);

  it("refuses a search.language PostgreSQL has no text search configuration for, with one line", async () => {
    const server = await startServer({ expectExit: true, config: { search: { language: "klingon" } } });
    expect((await server.exited).code).to.equal(2);
    expect(server.stderr.filter((l) => l.trim() !== "")).to.deep.equal(['myelin: search.language "klingon" is not a PostgreSQL text search configuration (see \\dF in psql)']);
  });
});

async function waitForIndexDelete(fake: FakeElasticsearch, index: string, id: string): Promise<void> {
  for (let i = 0; i < 100 && fake.indices.get(index)?.has(id); i++) await new Promise((r) => setTimeout(r, 100));
  expect(fake.indices.get(index)?.has(id)).to.equal(false);
}

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((ready) => probe.listen(0, "127.0.0.1", ready));
  const { port } = probe.address() as { port: number };
  await new Promise((done) => probe.close(done));
  return port;
}
