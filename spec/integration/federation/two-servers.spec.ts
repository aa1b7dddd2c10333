// Two real homeserver processes federating over real HTTPS (test CA,
// certificate checks on): profile and alias look-ups both ways, the key
// server and notary, keys served from PostgreSQL with the peer gone, and
// X-Matrix request authentication refusing what it must.
import { expect } from "chai";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { authorizationHeader } from "../../../federation/transport/federation-client.ts";
import { decodeBase64 } from "../../../server/protocol/base64.ts";
import { generateSigningKey, parseSigningKeyFile, publicKeyBase64, verifyJsonSignature, type SigningKey } from "../../../server/protocol/signing.ts";
import { registerUser, type TestUser } from "../../support/accounts.ts";
import { federationRequest, startFederatedServer, waitForLog, type FederatedServer } from "../../support/federation.ts";
import { TestClient } from "../../support/http-client.ts";
import { createRoom, V3 } from "../../support/rooms.ts";

const PROFILE = "/_matrix/federation/v1/query/profile";

describe("federation between two server processes", function () {
  this.timeout(120_000);
  let a: FederatedServer;
  let b: FederatedServer;
  let apiA: TestClient;
  let apiB: TestClient;
  let alice: TestUser;
  let bob: TestUser;
  let keyB: SigningKey;
  const oldKey = generateSigningKey("old1");
  const oldKeys = { "ed25519:old1": { key: publicKeyBase64(oldKey), expired_ts: 1_600_000_000_000 } };

  const profile = (userId: string, key = "") => `${V3}/profile/${encodeURIComponent(userId)}${key ? `/${key}` : ""}`;
  const alias = (name: string) => `${V3}/directory/room/${encodeURIComponent(name)}`;

  before(async () => {
    [a, b] = await Promise.all([startFederatedServer({ config: { old_signing_keys: oldKeys } }), startFederatedServer()]);
    apiA = new TestClient(a.baseUrl);
    apiB = new TestClient(b.baseUrl);
    [alice, bob] = await Promise.all([registerUser(apiA), registerUser(apiB)]);
    await apiA.put(profile(alice.user_id, "displayname"), { displayname: "Alice of A" }, { token: alice.access_token });
    await apiA.put(profile(alice.user_id, "avatar_url"), { avatar_url: "mxc://a.example/alice" }, { token: alice.access_token });
    await apiB.put(profile(bob.user_id, "displayname"), { displayname: "Bob of B" }, { token: bob.access_token });
    keyB = parseSigningKeyFile(readFileSync(join(b.dir, "signing.key"), "utf8"))[0]!;
  });
  after(async () => {
    await Promise.all([a?.destroy(), b?.destroy()]);
  });

  it("looks profiles up on the other server, both ways, whole and by field", async () => {
    const bobFromA = await apiA.get(profile(bob.user_id));
    expect(bobFromA.status, JSON.stringify(bobFromA.body)).to.equal(200);
    expect(bobFromA.body).to.deep.equal({ displayname: "Bob of B" });
    const aliceFromB = await apiB.get(profile(alice.user_id));
    expect(aliceFromB.body).to.deep.equal({ displayname: "Alice of A", avatar_url: "mxc://a.example/alice" });
    expect((await apiB.get(profile(alice.user_id, "avatar_url"))).body).to.deep.equal({ avatar_url: "mxc://a.example/alice" });
    expect((await apiB.get(profile(alice.user_id, "displayname"))).body).to.deep.equal({ displayname: "Alice of A" });
    const noAvatar = await apiA.get(profile(bob.user_id, "avatar_url"));
    expect(noAvatar.status).to.equal(404);
    expect(noAvatar.body.errcode).to.equal("M_NOT_FOUND");
    const nobody = await apiA.get(profile(`@nobody:${b.serverName}`));
    expect(nobody.status).to.equal(404);
    expect(nobody.body.errcode).to.equal("M_NOT_FOUND");
    // Each side logged the other's inbound query with the authenticated origin.
    const inbound = await waitForLog(b, (l) => l.msg === "request" && l.route === PROFILE && l.origin === a.serverName);
    expect(inbound.status).to.equal(200);
  });

  it("resolves aliases on the other server, both ways", async () => {
    const roomA = await createRoom(apiA, alice, { room_alias_name: `fedroom${Date.now()}` });
    const aliasA = `#fedroom${Date.now()}:${a.serverName}`;
    expect((await apiA.put(alias(aliasA), { room_id: roomA }, { token: alice.access_token })).status).to.equal(200);
    const fromB = await apiB.get(alias(aliasA));
    expect(fromB.status, JSON.stringify(fromB.body)).to.equal(200);
    expect(fromB.body).to.deep.equal({ room_id: roomA, servers: [a.serverName] });

    const roomB = await createRoom(apiB, bob);
    const aliasB = `#bobs${Date.now()}:${b.serverName}`;
    expect((await apiB.put(alias(aliasB), { room_id: roomB }, { token: bob.access_token })).status).to.equal(200);
    expect((await apiA.get(alias(aliasB))).body).to.deep.equal({ room_id: roomB, servers: [b.serverName] });

    const missing = await apiA.get(alias(`#nothing-here:${b.serverName}`));
    expect(missing.status).to.equal(404);
    expect(missing.body.errcode).to.equal("M_NOT_FOUND");
  });

  it("publishes old_verify_keys from old_signing_keys, self-signed", async () => {
    const res = await federationRequest(a.federationUrl!, "GET", "/_matrix/key/v2/server");
    expect(res.status).to.equal(200);
    expect(res.body.old_verify_keys).to.deep.equal(oldKeys);
    const keyId = Object.keys(res.body.verify_keys)[0]!;
    expect(verifyJsonSignature(res.body, a.serverName, keyId, decodeBase64(res.body.verify_keys[keyId].key))).to.equal(true);
  });

  it("serves the other server's keys as a notary, signed by both, by GET and POST", async () => {
    const got = await federationRequest(a.federationUrl!, "GET", `/_matrix/key/v2/query/${encodeURIComponent(b.serverName)}`);
    expect(got.status).to.equal(200);
    expect(got.body.server_keys).to.have.length(1);
    const entry = got.body.server_keys[0];
    expect(entry.server_name).to.equal(b.serverName);
    expect(entry.verify_keys[keyB.keyId].key).to.equal(publicKeyBase64(keyB));
    expect(verifyJsonSignature(entry, b.serverName, keyB.keyId, keyB.publicKey), "B's own signature kept").to.equal(true);
    const aKeys = (await federationRequest(a.federationUrl!, "GET", "/_matrix/key/v2/server")).body;
    const aKeyId = Object.keys(aKeys.verify_keys)[0]!;
    expect(verifyJsonSignature(entry, a.serverName, aKeyId, decodeBase64(aKeys.verify_keys[aKeyId].key)), "notary signature").to.equal(true);

    const posted = await federationRequest(b.federationUrl!, "POST", "/_matrix/key/v2/query", {
      json: { server_keys: { [a.serverName]: { [aKeyId]: { minimum_valid_until_ts: Date.now() } }, "256.0.0.1": {} } },
    });
    expect(posted.status).to.equal(200);
    expect(posted.body.server_keys.map((k: { server_name: string }) => k.server_name)).to.deep.equal([a.serverName]);
    expect(posted.body.server_keys[0].old_verify_keys).to.deep.equal(oldKeys);
    expect(verifyJsonSignature(posted.body.server_keys[0], b.serverName, keyB.keyId, keyB.publicKey)).to.equal(true);
    const empty = await federationRequest(b.federationUrl!, "POST", "/_matrix/key/v2/query", { json: { server_keys: {} } });
    expect(empty.body).to.deep.equal({ server_keys: [] });
    const bad = await federationRequest(b.federationUrl!, "POST", "/_matrix/key/v2/query", { json: { server_keys: [] } });
    expect(bad.status).to.equal(400);
  });

  describe("request authentication", () => {
    const sign = (method: string, uri: string, options: { key?: SigningKey; keyId?: string; destination?: string; origin?: string } = {}) => {
      const key = options.key ?? keyB;
      const header = authorizationHeader(options.origin ?? b.serverName, options.destination ?? a.serverName, key, method, uri, undefined);
      return options.keyId ? header.replace(`key="${key.keyId}"`, `key="${options.keyId}"`) : header;
    };
    const uri = () => `${PROFILE}?user_id=${encodeURIComponent(alice.user_id)}`;

    it("accepts a request signed with the origin's key", async () => {
      const res = await federationRequest(a.federationUrl!, "GET", uri(), { headers: { Authorization: sign("GET", uri()) } });
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      expect(res.body.displayname).to.equal("Alice of A");
    });

    for (const [name, header] of [
      ["no Authorization header", () => undefined],
      ["a forged signature (another key under the origin's key id)", () => sign("GET", uri(), { key: generateSigningKey(keyB.version) })],
      ["a wrong destination", () => sign("GET", uri(), { destination: "elsewhere.example" })],
      ["an unknown key id", () => sign("GET", uri(), { keyId: "ed25519:nosuchkey" })],
      ["a signature over another URI", () => sign("GET", `${PROFILE}?user_id=%40someone-else%3Ax`)],
      ["a malformed header", () => `X-Matrix origin="${b.serverName}",key=`],
      ["another scheme", () => "Bearer abc"],
    ] as const) {
      it(`answers 401 M_UNAUTHORIZED to ${name}`, async () => {
        const value = header();
        const res = await federationRequest(a.federationUrl!, "GET", uri(), { headers: value ? { Authorization: value } : {} });
        expect(res.status, JSON.stringify(res.body)).to.equal(401);
        expect(res.body.errcode).to.equal("M_UNAUTHORIZED");
      });
    }

    it("validates query parameters after authentication (400 M_MISSING_PARAM, 404 for users of other servers)", async () => {
      const missing = await federationRequest(a.federationUrl!, "GET", PROFILE, { headers: { Authorization: sign("GET", PROFILE) } });
      expect(missing.status).to.equal(400);
      expect(missing.body.errcode).to.equal("M_MISSING_PARAM");
      const other = `${PROFILE}?user_id=${encodeURIComponent(bob.user_id)}`;
      const notOurs = await federationRequest(a.federationUrl!, "GET", other, { headers: { Authorization: sign("GET", other) } });
      expect(notOurs.status).to.equal(404);
      expect(notOurs.body.errcode).to.equal("M_NOT_FOUND");
    });
  });

  // Last: it stops both servers. (Mocha runs a suite's own tests before its nested suites.)
  describe("key cache and notaries", () => {
    let again: FederatedServer | undefined;
    const extra: FederatedServer[] = [];
    after(async () => {
      await Promise.all([again?.stop(), ...extra.map((s) => s.destroy())]);
    });
    const signedAsB = (destination: string, uri: string) => ({ Authorization: authorizationHeader(b.serverName, destination, keyB, "GET", uri, undefined) });

    it("serves the peer's keys from PostgreSQL after the peer is gone and this server restarted", async () => {
      // A has fetched B's keys by now (it verified B's requests and served them as a notary).
      await b.stop();
      await a.stop();
      again = await startFederatedServer({
        databaseName: a.databaseName,
        federationPort: a.federationPort,
        config: { old_signing_keys: oldKeys, signing_key_path: join(a.dir, "signing.key") },
      });
      const started = performance.now();
      const res = await federationRequest(again.federationUrl!, "GET", `/_matrix/key/v2/query/${encodeURIComponent(b.serverName)}`);
      const ms = performance.now() - started;
      expect(res.status).to.equal(200);
      expect(res.body.server_keys).to.have.length(1);
      expect(res.body.server_keys[0].verify_keys[keyB.keyId].key).to.equal(publicKeyBase64(keyB));
      expect(verifyJsonSignature(res.body.server_keys[0], b.serverName, keyB.keyId, keyB.publicKey)).to.equal(true);
      console.log(`      notary answer from PostgreSQL with the peer stopped: ${ms.toFixed(1)} ms`);
    });

    it("a third server gets the stopped peer's keys through its trusted notary and accepts the peer's request", async () => {
      const keyA = parseSigningKeyFile(readFileSync(join(a.dir, "signing.key"), "utf8"))[0]!;
      const c = await startFederatedServer({ config: { trusted_key_servers: [{ server_name: a.serverName, verify_keys: { [keyA.keyId]: publicKeyBase64(keyA) } }] } });
      extra.push(c);
      const uri = `${PROFILE}?user_id=${encodeURIComponent(`@nobody:${c.serverName}`)}`;
      const timed = async () => {
        const started = performance.now();
        const res = await federationRequest(c.federationUrl!, "GET", uri, { headers: signedAsB(c.serverName, uri) });
        return { res, ms: performance.now() - started };
      };
      const first = await timed();
      // Authenticated (else 401), then an unknown local user.
      expect(first.res.status, JSON.stringify(first.res.body)).to.equal(404);
      expect(first.res.body.errcode).to.equal("M_NOT_FOUND");
      const second = await timed();
      expect(second.res.status).to.equal(404);
      console.log(`      request auth with the key fetched through the notary: ${first.ms.toFixed(1)} ms; key cached: ${second.ms.toFixed(1)} ms`);
    });

    it("refuses keys from a notary whose signature does not match its configured key (401), and warns when certificate checks are off", async () => {
      const wrong = generateSigningKey();
      const c = await startFederatedServer({
        config: { trusted_key_servers: [{ server_name: a.serverName, verify_keys: { [wrong.keyId]: publicKeyBase64(wrong) } }], federation: { verify_certificates: false } },
      });
      extra.push(c);
      const uri = `${PROFILE}?user_id=${encodeURIComponent(`@nobody:${c.serverName}`)}`;
      const res = await federationRequest(c.federationUrl!, "GET", uri, { headers: signedAsB(c.serverName, uri) });
      expect(res.status).to.equal(401);
      expect(res.body.errcode).to.equal("M_UNAUTHORIZED");
      const warning = await waitForLog(c, (l) => l.msg === "could not fetch server keys");
      expect(JSON.stringify(warning.failures)).to.contain("not signed by");
      expect(c.logs().some((l) => l.level === 40 && String(l.msg).includes("verify_certificates is false"))).to.equal(true);
    });
  });
});
