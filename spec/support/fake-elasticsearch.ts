// A stand-in for an Elasticsearch node, for the ES search backend's tests
// (no cluster can run here). It records every request and answers the calls
// the backend makes with the response shapes Elasticsearch documents: info,
// index templates, index creation and deletion, aliases, _bulk (NDJSON) and
// _search. Its search is deliberately naive (every word of the query in the
// body, case-insensitive; the filters and sorts the backend sends): enough to
// check that what the server writes is what it later finds.
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage["headers"];
  body: string;
}

interface Doc {
  room_id: string;
  sender: string;
  key: string;
  body: string;
  origin_server_ts: number;
  stream_ordering: number;
}

export interface FakeElasticsearch {
  url: string;
  requests: RecordedRequest[];
  /** Index name → documents by ID. */
  indices: Map<string, Map<string, Doc>>;
  /** Alias → index names. */
  aliases: Map<string, Set<string>>;
  templates: Map<string, unknown>;
  /** Make the next bulk item fail with this error type (mapper_parsing_exception...). */
  failNextBulk?: string;
  close(): Promise<void>;
}

const PRODUCT_HEADERS = { "content-type": "application/json", "x-elastic-product": "Elasticsearch" };

export async function startFakeElasticsearch(): Promise<FakeElasticsearch> {
  const fake: FakeElasticsearch = { url: "", requests: [], indices: new Map(), aliases: new Map(), templates: new Map(), close: async () => undefined };
  const resolveIndex = (name: string): string[] => (fake.aliases.has(name) ? [...fake.aliases.get(name)!] : fake.indices.has(name) ? [name] : []);

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://x");
      const body = Buffer.concat(chunks).toString("utf8");
      fake.requests.push({ method: req.method ?? "", path: url.pathname, query: url.searchParams, headers: req.headers, body });
      const send = (status: number, json?: unknown) => {
        res.writeHead(status, PRODUCT_HEADERS);
        res.end(json === undefined ? undefined : JSON.stringify(json));
      };
      const parts = url.pathname.split("/").filter(Boolean).map(decodeURIComponent);
      const method = req.method ?? "GET";
      try {
        if (method === "GET" && parts.length === 0) {
          return send(200, { name: "fake", cluster_name: "myelin-test", cluster_uuid: "u", version: { number: "9.1.0", build_flavor: "default", lucene_version: "10.2.2", minimum_wire_compatibility_version: "8.19.0", minimum_index_compatibility_version: "8.0.0" }, tagline: "You Know, for Search" });
        }
        if (method === "PUT" && parts[0] === "_index_template" && parts[1]) {
          fake.templates.set(parts[1], JSON.parse(body));
          return send(200, { acknowledged: true });
        }
        if ((method === "HEAD" || method === "GET") && parts[0] === "_alias" && parts[1]) {
          const targets = fake.aliases.get(parts[1]);
          if (!targets || targets.size === 0) return method === "HEAD" ? send(404) : send(404, { error: `alias [${parts[1]}] missing`, status: 404 });
          if (method === "HEAD") return send(200);
          return send(200, Object.fromEntries([...targets].map((index) => [index, { aliases: { [parts[1]!]: {} } }])));
        }
        if (method === "POST" && parts[0] === "_aliases") {
          const { actions } = JSON.parse(body) as { actions: Array<Record<string, { index: string; alias: string }>> };
          for (const action of actions) {
            const [kind, spec] = Object.entries(action)[0]!;
            const set = fake.aliases.get(spec.alias) ?? new Set<string>();
            if (kind === "add") set.add(spec.index);
            if (kind === "remove") set.delete(spec.index);
            fake.aliases.set(spec.alias, set);
          }
          return send(200, { acknowledged: true, errors: false });
        }
        if (method === "POST" && parts[0] === "_bulk") return send(200, bulk(body));
        if (method === "PUT" && parts.length === 1) {
          const index = parts[0]!;
          if (fake.indices.has(index)) return send(400, { error: { type: "resource_already_exists_exception", reason: `index [${index}] already exists` }, status: 400 });
          fake.indices.set(index, new Map());
          const created = body ? (JSON.parse(body) as { aliases?: Record<string, unknown> }) : {};
          for (const alias of Object.keys(created.aliases ?? {})) fake.aliases.set(alias, new Set([...(fake.aliases.get(alias) ?? []), index]));
          return send(200, { acknowledged: true, shards_acknowledged: true, index });
        }
        if (method === "DELETE" && parts.length === 1) {
          const names = parts[0]!.split(",");
          if (!names.every((n) => fake.indices.has(n))) return send(404, { error: { type: "index_not_found_exception", reason: "no such index" }, status: 404 });
          for (const n of names) {
            fake.indices.delete(n);
            for (const set of fake.aliases.values()) set.delete(n);
          }
          return send(200, { acknowledged: true });
        }
        if ((method === "POST" || method === "GET") && parts[1] === "_refresh") return send(200, { _shards: { total: 1, successful: 1, failed: 0 } });
        if ((method === "POST" || method === "GET") && parts[1] === "_search") return send(200, searchIndex(resolveIndex(parts[0]!), JSON.parse(body)));
        return send(400, { error: { type: "illegal_argument_exception", reason: `fake: no route ${method} ${url.pathname}` }, status: 400 });
      } catch (err) {
        return send(500, { error: { type: "fake_failure", reason: String(err) }, status: 500 });
      }
    });
  });

  function bulk(ndjson: string) {
    const lines = ndjson.split("\n").filter((l) => l.length > 0);
    const items: unknown[] = [];
    let errors = false;
    for (let i = 0; i < lines.length; i++) {
      const action = JSON.parse(lines[i]!) as Record<string, { _index: string; _id: string }>;
      const [kind, meta] = Object.entries(action)[0]!;
      const index = resolveIndex(meta._index)[0] ?? meta._index;
      const docs = fake.indices.get(index) ?? new Map<string, Doc>();
      fake.indices.set(index, docs);
      if (kind === "index") {
        const source = JSON.parse(lines[++i]!) as Doc;
        if (fake.failNextBulk) {
          errors = true;
          items.push({ index: { _index: index, _id: meta._id, status: 400, error: { type: fake.failNextBulk, reason: "failed to parse" } } });
          fake.failNextBulk = undefined;
          continue;
        }
        const existed = docs.has(meta._id);
        docs.set(meta._id, source);
        items.push({ index: { _index: index, _id: meta._id, _version: 1, result: existed ? "updated" : "created", status: existed ? 200 : 201, _shards: { total: 1, successful: 1, failed: 0 }, _seq_no: 0, _primary_term: 1 } });
      } else if (kind === "delete") {
        const existed = docs.delete(meta._id);
        if (!existed) errors = true;
        items.push({ delete: { _index: index, _id: meta._id, _version: 1, result: existed ? "deleted" : "not_found", status: existed ? 200 : 404, _shards: { total: 1, successful: 1, failed: 0 }, _seq_no: 0, _primary_term: 1 } });
      }
    }
    return { took: 1, errors, items };
  }

  function searchIndex(indices: string[], request: any) {
    const must = request.query.bool.must[0].simple_query_string;
    const words = String(must.query).toLowerCase().replace(/"/g, "").split(/\s+/).filter(Boolean);
    const filters = request.query.bool.filter as Array<{ terms: Record<string, string[]> }>;
    const mustNot = (request.query.bool.must_not ?? []) as Array<{ terms: Record<string, string[]> }>;
    const hits: Array<{ id: string; doc: Doc; score: number; index: string }> = [];
    for (const index of indices) {
      for (const [id, doc] of fake.indices.get(index) ?? []) {
        const tokens = doc.body.toLowerCase().split(/\W+/);
        if (!words.every((w) => tokens.some((t) => t.startsWith(w)))) continue;
        if (!filters.every((f) => Object.entries(f.terms).every(([field, values]) => values.includes(String(doc[field as keyof Doc]))))) continue;
        if (mustNot.some((f) => Object.entries(f.terms).some(([field, values]) => values.includes(String(doc[field as keyof Doc]))))) continue;
        hits.push({ id, doc, index, score: tokens.filter((t) => words.some((w) => t.startsWith(w))).length });
      }
    }
    const byRank = request.sort[0]._score !== undefined;
    const key = (h: (typeof hits)[number]) => (byRank ? [h.score, h.doc.stream_ordering] : [h.doc.stream_ordering]);
    hits.sort((a, b) => {
      const [ka, kb] = [key(a), key(b)];
      for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i]) return kb[i]! - ka[i]!;
      return 0;
    });
    const after = request.search_after as number[] | undefined;
    const rest = after ? hits.filter((h) => key(h).some((v, i) => key(h).slice(0, i).every((u, j) => u === after[j]) && v < after[i]!)) : hits;
    const page = rest.slice(0, request.size);
    return {
      took: 1,
      timed_out: false,
      _shards: { total: 1, successful: 1, skipped: 0, failed: 0 },
      hits: {
        total: { value: hits.length, relation: "eq" },
        max_score: hits[0]?.score ?? null,
        hits: page.map((h) => ({
          _index: h.index,
          _id: h.id,
          _score: h.score,
          _source: { room_id: h.doc.room_id, stream_ordering: h.doc.stream_ordering },
          sort: key(h),
          highlight: { body: [h.doc.body.replace(/\w+/g, (t) => (words.some((w) => t.toLowerCase().startsWith(w)) ? `\u0001${t}\u0002` : t))] },
        })),
      },
    };
  }

  await new Promise<void>((ready) => server.listen(0, "127.0.0.1", ready));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fake.close = () => new Promise((done) => server.close(() => done()));
  return fake;
}
