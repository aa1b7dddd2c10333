// The HTTP skeleton through a real server process: versions, well-known,
// CORS, request ids, 404/405 and the health, readiness and metrics endpoints.
import { expect } from "chai";
import { decodeBase64 } from "../../../server/protocol/base64.ts";
import type { JsonObject } from "../../../server/protocol/json.ts";
import { verifyJsonSignature } from "../../../server/protocol/signing.ts";
import { TestClient } from "../../support/http-client.ts";
import { startServer, type RunningServer } from "../../support/server-process.ts";

describe("HTTP skeleton (real server process)", function () {
  let server: RunningServer;
  let api: TestClient;

  before(async function () {
    this.timeout(60_000);
    server = await startServer();
    api = new TestClient(server.baseUrl);
  });
  after(async () => {
    await server?.stop();
  });

  it("serves GET /_matrix/client/versions with spec versions, matching the spec schema", async () => {
    const res = await api.get<{ versions: string[]; unstable_features: Record<string, boolean> }>("/_matrix/client/versions");
    expect(res.status).to.equal(200);
    expect(res.body.versions).to.include("v1.19");
    expect(res.body.versions.every((v) => /^(v\d+\.\d+|r\d+\.\d+\.\d+)$/.test(v))).to.equal(true);
    expect(res.body.unstable_features).to.be.an("object");
  });

  it("answers an unknown endpoint with 404 M_UNRECOGNIZED", async () => {
    const res = await api.get("/_matrix/client/v3/no/such/endpoint");
    expect(res.status).to.equal(404);
    expect(res.body).to.include({ errcode: "M_UNRECOGNIZED" });
  });

  it("answers a known path with the wrong method with 405 M_UNRECOGNIZED and an Allow header", async () => {
    const res = await api.request("DELETE", "/_matrix/client/versions");
    expect(res.status).to.equal(405);
    expect(res.body).to.include({ errcode: "M_UNRECOGNIZED" });
    expect(res.headers.get("allow")).to.contain("GET");
  });

  it("answers a CORS preflight exactly as the spec requires", async () => {
    const res = await api.request("OPTIONS", "/_matrix/client/v3/login", {
      headers: { Origin: "https://app.element.io", "Access-Control-Request-Method": "POST" },
    });
    expect(res.status).to.equal(204);
    expect(res.headers.get("access-control-allow-origin")).to.equal("*");
    expect(res.headers.get("access-control-allow-methods")).to.equal("GET, POST, PUT, DELETE, OPTIONS");
    expect(res.headers.get("access-control-allow-headers")).to.equal("X-Requested-With, Content-Type, Authorization");
  });

  it("puts the CORS headers on ordinary responses too", async () => {
    const res = await api.get("/_matrix/client/versions");
    expect(res.headers.get("access-control-allow-origin")).to.equal("*");
  });

  it("echoes a sane X-Request-Id and replaces an unsafe one", async () => {
    const kept = await api.get("/_matrix/client/versions", { headers: { "X-Request-Id": "abc-123" } });
    expect(kept.headers.get("x-request-id")).to.equal("abc-123");
    const replaced = await api.get("/_matrix/client/versions", { headers: { "X-Request-Id": "bad id\twith junk" } });
    expect(replaced.headers.get("x-request-id")).to.match(/^[0-9a-f-]{36}$/);
  });

  it("serves both .well-known documents", async () => {
    const client = await api.get<{ "m.homeserver": { base_url: string } }>("/.well-known/matrix/client", { unspecified: true });
    expect(client.status).to.equal(200);
    expect(client.body["m.homeserver"].base_url).to.match(/^https?:\/\//);
    const fed = await api.get<{ "m.server": string }>("/.well-known/matrix/server", { unspecified: true });
    expect(fed.body["m.server"]).to.equal("localhost:0");
  });

  it("builds the .well-known defaults from the host of a server_name that has a port", async function () {
    this.timeout(60_000);
    const withPort = await startServer({ config: { server_name: "127.0.0.1:38448" } });
    try {
      const other = new TestClient(withPort.baseUrl);
      const client = await other.get<{ "m.homeserver": { base_url: string } }>("/.well-known/matrix/client", { unspecified: true });
      // The listener binds port 0 (any free port); the default names the configured port.
      expect(client.body["m.homeserver"].base_url).to.equal("http://127.0.0.1:0");
      expect(() => new URL(client.body["m.homeserver"].base_url)).not.to.throw();
      const fed = await other.get<{ "m.server": string }>("/.well-known/matrix/server", { unspecified: true });
      expect(fed.body["m.server"]).to.equal("127.0.0.1:0");
    } finally {
      await withPort.stop();
    }
  });

  it("reports liveness and readiness with PostgreSQL and Redis reachable", async () => {
    expect((await api.get("/health", { unspecified: true })).body).to.deep.equal({ status: "ok" });
    const ready = await api.get("/ready", { unspecified: true });
    expect(ready.status).to.equal(200);
    expect(ready.body).to.include({ postgres: true, redis: true, draining: false });
  });

  it("serves Prometheus metrics to loopback, labelled by route template and status", async () => {
    await api.get("/_matrix/client/v3/no/such/endpoint");
    const res = await api.get("/metrics", { unspecified: true });
    expect(res.status).to.equal(200);
    expect(res.headers.get("content-type")).to.contain("text/plain");
    expect(res.text).to.match(/myelin_http_requests_total\{[^}]*route="\/_matrix\/client\/versions"[^}]*status="200"/);
    expect(res.text).to.match(/myelin_http_requests_total\{[^}]*route="unmatched"[^}]*status="404"/);
    expect(res.text).to.contain("myelin_http_request_duration_seconds_bucket");
    expect(res.text).to.contain("myelin_db_pool_connections");
    expect(res.text).to.match(/myelin_stream_connections\{[^}]*\} 0/);
    expect(res.text).to.contain("process_resident_memory_bytes");
  });
});

describe("metrics access control", function () {
  it("refuses /metrics to addresses outside metrics.allow_from", async function () {
    this.timeout(60_000);
    const server = await startServer({ config: { metrics: { allow_from: ["192.0.2.1"] } } });
    try {
      const res = await new TestClient(server.baseUrl).get("/metrics", { unspecified: true });
      expect(res.status).to.equal(403);
      expect(res.body).to.include({ errcode: "M_FORBIDDEN" });
    } finally {
      await server.stop();
    }
  });
});

describe("federation listener", function () {
  it("serves the signed server key and version over TLS", async function () {
    this.timeout(60_000);
    const server = await startServer({ federation: true });
    try {
      process.env.NODE_TLS_REJECT_UNAUTHORIZED = "0";
      const version = await fetch(`${server.federationUrl}/_matrix/federation/v1/version`).then((r) => r.json() as Promise<{ server: { name: string } }>);
      expect(version.server.name).to.equal("Myelin");
      const keys = await fetch(`${server.federationUrl}/_matrix/key/v2/server`).then((r) => r.json() as Promise<Record<string, unknown>>);
      expect(keys.server_name).to.equal("localhost");
      const signatures = keys.signatures as Record<string, Record<string, string>>;
      const verifyKeys = keys.verify_keys as Record<string, { key: string }>;
      const keyId = Object.keys(verifyKeys)[0]!;
      expect(Object.keys(signatures.localhost!)).to.deep.equal([keyId]);
      expect(verifyJsonSignature(keys as JsonObject, "localhost", keyId, decodeBase64(verifyKeys[keyId]!.key))).to.equal(true);
      expect(verifyJsonSignature({ ...(keys as JsonObject), valid_until_ts: 1 }, "localhost", keyId, decodeBase64(verifyKeys[keyId]!.key))).to.equal(false);
    } finally {
      delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
      await server.stop();
    }
  });
});

describe("request bodies (real server process)", function () {
  let server: RunningServer;
  let api: TestClient;
  const login = "/_matrix/client/v3/login";

  before(async function () {
    this.timeout(60_000);
    server = await startServer({ config: { limits: { max_json_body_bytes: 2048 } } });
    api = new TestClient(server.baseUrl);
  });
  after(async () => {
    await server?.stop();
  });

  it("answers unparsable JSON with 400 M_NOT_JSON", async () => {
    const res = await api.request("POST", login, { raw: '{"type": "m.login.password",', headers: { "Content-Type": "application/json" } });
    expect(res.status).to.equal(400);
    expect(res.body).to.include({ errcode: "M_NOT_JSON" });
  });

  it("answers a JSON body that is not an object with 400 M_BAD_JSON", async () => {
    for (const raw of ["[1, 2]", '"text"', "42", "null"]) {
      const res = await api.request("POST", login, { raw, headers: { "Content-Type": "application/json" } });
      expect(res.status, raw).to.equal(400);
      expect(res.body, raw).to.include({ errcode: "M_BAD_JSON" });
    }
  });

  it("answers a missing body where one is required with 400 M_NOT_JSON", async () => {
    const res = await api.request("POST", login);
    expect(res.status).to.equal(400);
    expect(res.body).to.include({ errcode: "M_NOT_JSON" });
  });

  it("answers a body over the configured limit with 413 M_TOO_LARGE", async () => {
    const res = await api.post(login, { type: "m.login.password", padding: "x".repeat(4096) });
    expect(res.status).to.equal(413);
    expect(res.body).to.include({ errcode: "M_TOO_LARGE" });
  });

  it("parses JSON regardless of a missing or wrong Content-Type, as clients expect", async () => {
    const res = await api.request("POST", login, { raw: JSON.stringify({ type: "m.login.password", user: "ghost", password: "pw" }), headers: { "Content-Type": "text/plain" } });
    expect(res.status).to.equal(403);
    expect(res.body).to.include({ errcode: "M_FORBIDDEN" });
  });
});
