// Interop with a real Synapse (spec/support/synapse.ts), through public APIs
// only: the harness itself (Synapse starts, a user registered through it logs
// in) and the first federation point, Synapse acting as a notary for our
// server: it fetches our key over TLS from our federation listener and serves
// it again signed by both servers.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import { decodeBase64 } from "../../server/protocol/base64.ts";
import type { JsonObject } from "../../server/protocol/json.ts";
import { verifyJsonSignature } from "../../server/protocol/signing.ts";
import { TestClient } from "../support/http-client.ts";
import { expectSpecResponse } from "../support/openapi.ts";
import { startServer, type RunningServer } from "../support/server-process.ts";
import { repoRoot } from "../support/spec-data.ts";
import { freePort } from "../support/ports.ts";
import { federationRequest, startSynapse, type RunningSynapse } from "../support/synapse.ts";

const START_TIMEOUT_MS = 150_000;
const PINNED_VERSION = /^matrix-synapse==(\S+)$/m.exec(readFileSync(join(repoRoot, "spec/interop/synapse/requirements.txt"), "utf8"))![1]!;

interface ServerKeys extends JsonObject {
  server_name: string;
  valid_until_ts: number;
  verify_keys: Record<string, { key: string }>;
  signatures: Record<string, Record<string, string>>;
}

/** A federation GET/POST whose JSON answer is checked against the spec's OpenAPI schema. */
async function federationJson(method: string, base: string, path: string, json?: unknown) {
  const res = await federationRequest(method, base + path, json);
  expect(res.body, `${method} ${path} answered ${res.status}: ${res.text.slice(0, 300)}`).to.be.an("object");
  expectSpecResponse(method, path, res.status, res.body);
  return res;
}

/** The only key of a server's own key response, with its public key. */
function onlyKey(keys: ServerKeys): { keyId: string; publicKey: Buffer } {
  const ids = Object.keys(keys.verify_keys);
  expect(ids, `verify_keys of ${keys.server_name}`).to.have.length(1);
  return { keyId: ids[0]!, publicKey: decodeBase64(keys.verify_keys[ids[0]!]!.key) };
}

describe("Synapse harness: a real Synapse beside our server", function () {
  this.timeout(START_TIMEOUT_MS + 30_000);
  let synapse: RunningSynapse | undefined;
  let ours: RunningServer | undefined;
  let ourName = "";

  before(async function () {
    this.timeout(2 * START_TIMEOUT_MS);
    // Our server name must name its federation port (IP literal + port: no DNS, no .well-known),
    // so the port is chosen before the server starts.
    const ourPort = await freePort();
    ourName = `127.0.0.1:${ourPort}`;
    const [peer, own] = await Promise.allSettled([
      startSynapse({ startTimeoutMs: START_TIMEOUT_MS }),
      startServer({ federation: true, config: { server_name: ourName, listeners: { federation: { port: ourPort } } } }),
    ]);
    // Keep whichever started, so after() stops it even when the other failed.
    if (peer.status === "fulfilled") synapse = peer.value;
    if (own.status === "fulfilled") ours = own.value;
    if (peer.status === "rejected") throw peer.reason;
    if (own.status === "rejected") throw own.reason;
  });
  after(async function () {
    this.timeout(60_000);
    await Promise.all([synapse?.stop(), ours?.stop()]);
  });
  afterEach(function () {
    if (this.currentTest?.state === "failed" && synapse) {
      console.error(`--- last Synapse log lines (${synapse.serverName}) ---\n${synapse.logs().split("\n").slice(-30).join("\n")}`);
    }
  });

  it("starts, and a user registered through the harness logs in and is known to whoami", async () => {
    const api = new TestClient(synapse!.clientUrl);
    const alice = await synapse!.registerUser("alice");
    expect(alice.user_id).to.equal(`@alice:${synapse!.serverName}`);

    const whoami = await api.get<{ user_id: string; device_id: string }>("/_matrix/client/v3/account/whoami", { token: alice.access_token });
    expect(whoami.status).to.equal(200);
    expect(whoami.body).to.include({ user_id: alice.user_id, device_id: alice.device_id });

    const login = await api.post<{ user_id: string; access_token: string; device_id: string }>("/_matrix/client/v3/login", {
      type: "m.login.password",
      identifier: { type: "m.id.user", user: "alice" },
      password: alice.password,
    });
    expect(login.status, login.text).to.equal(200);
    expect(login.body.user_id).to.equal(alice.user_id);
    expect(login.body.device_id).to.not.equal(alice.device_id);
    const again = await api.get<{ user_id: string }>("/_matrix/client/v3/account/whoami", { token: login.body.access_token });
    expect(again.body.user_id).to.equal(alice.user_id);

    const wrong = await api.post("/_matrix/client/v3/login", {
      type: "m.login.password",
      identifier: { type: "m.id.user", user: "alice" },
      password: `${alice.password}x`,
    });
    expect(wrong.status).to.equal(403);
    expect(wrong.body.errcode).to.equal("M_FORBIDDEN");
  });

  it("serves its federation version over TLS: Synapse, the pinned release", async () => {
    const res = await federationJson("GET", synapse!.federationUrl, "/_matrix/federation/v1/version");
    expect(res.status).to.equal(200);
    expect(res.body.server.name).to.equal("Synapse");
    expect(res.body.server.version).to.match(new RegExp(`^${PINNED_VERSION.replace(/\./g, "\\.")}\\b`));
  });

  it("acts as a notary for our server: fetches our key over TLS and returns it signed by us and by itself", async () => {
    const synapseKeys = (await federationJson("GET", synapse!.federationUrl, "/_matrix/key/v2/server")).body as ServerKeys;
    expect(synapseKeys.server_name).to.equal(synapse!.serverName);
    const synapseKey = onlyKey(synapseKeys);
    expect(verifyJsonSignature(synapseKeys, synapse!.serverName, synapseKey.keyId, synapseKey.publicKey), "Synapse's self-signature").to.equal(true);

    const ourKeys = (await federationJson("GET", ours!.federationUrl!, "/_matrix/key/v2/server")).body as ServerKeys;
    const ourKey = onlyKey(ourKeys);

    // Synapse fetches on a cache miss only for named key ids (POST, or the deprecated GET with a
    // key id); GET /query/{serverName} alone answers from its cache. So: POST first.
    const fetchesBefore = ourKeyFetches(ours!);
    const query = await federationJson("POST", synapse!.federationUrl, "/_matrix/key/v2/query", {
      server_keys: { [ourName]: { [ourKey.keyId]: { minimum_valid_until_ts: Date.now() } } },
    });
    expect(query.status).to.equal(200);
    const entries = query.body.server_keys as ServerKeys[];
    expect(entries, `Synapse could not fetch our key: ${JSON.stringify(query.body)}`).to.have.length(1);
    const notarised = entries[0]!;
    expect(notarised.server_name).to.equal(ourName);
    expect(notarised.verify_keys).to.deep.equal({ [ourKey.keyId]: { key: ourKeys.verify_keys[ourKey.keyId]!.key } });
    expect(notarised.valid_until_ts).to.be.greaterThan(Date.now());
    expect(Object.keys(notarised.signatures).sort()).to.deep.equal([ourName, synapse!.serverName].sort());
    expect(verifyJsonSignature(notarised, ourName, ourKey.keyId, ourKey.publicKey), "our signature").to.equal(true);
    expect(verifyJsonSignature(notarised, synapse!.serverName, synapseKey.keyId, synapseKey.publicKey), "Synapse's signature").to.equal(true);
    // It came from our federation listener (over TLS), not from somewhere else.
    expect(ourKeyFetches(ours!)).to.be.greaterThan(fetchesBefore);

    // The single-server form now answers the same key from the notary's cache, signed the same way.
    const cachedQuery = await federationJson("GET", synapse!.federationUrl, `/_matrix/key/v2/query/${ourName}`);
    const cached = (cachedQuery.body.server_keys as ServerKeys[]).find((k) => k.server_name === ourName);
    expect(cached, JSON.stringify(cachedQuery.body)).to.not.equal(undefined);
    expect(cached!.verify_keys).to.deep.equal(notarised.verify_keys);
    expect(verifyJsonSignature(cached!, ourName, ourKey.keyId, ourKey.publicKey)).to.equal(true);
    expect(verifyJsonSignature(cached!, synapse!.serverName, synapseKey.keyId, synapseKey.publicKey)).to.equal(true);
  });

  it("returns no key for a server it cannot reach (the notary really asks)", async () => {
    const nobody = `127.0.0.1:${await freePort()}`;
    const query = await federationJson("POST", synapse!.federationUrl, "/_matrix/key/v2/query", {
      server_keys: { [nobody]: { "ed25519:a_none": { minimum_valid_until_ts: Date.now() } } },
    });
    expect(query.status).to.equal(200);
    expect(query.body.server_keys).to.deep.equal([]);
  });
});

/** How many times our federation listener has served GET /_matrix/key/v2/server with 200. */
function ourKeyFetches(server: RunningServer): number {
  return server.logs().filter((l) => l.listener === "federation" && l.route === "/_matrix/key/v2/server" && l.status === 200).length;
}
