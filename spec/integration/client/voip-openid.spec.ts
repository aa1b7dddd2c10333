// GET /voip/turnServer and the OpenID token round trip, called through
// matrix-js-sdk (as a calling client and a widget host would) against a real
// server process, with every answer checked against the spec.
import { createHmac } from "node:crypto";
import { expect } from "chai";
import { createClient, type MatrixClient } from "matrix-js-sdk";
import { registerUser, type TestUser } from "../../support/accounts.ts";
import { federationRequest, startFederatedServer, type FederatedServer } from "../../support/federation.ts";
import { TestClient } from "../../support/http-client.ts";
import { expectSpecResponse } from "../../support/openapi.ts";
import { startServer, type RunningServer } from "../../support/server-process.ts";
import { quietLogger } from "../../interop/sdk-harness.ts";

const SECRET = "coturn-static-auth-secret";
const URIS = ["turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349?transport=tcp"];

/** The SDK's fetch, with each answer of a spec endpoint validated. */
function checkedFetch(): typeof fetch {
  return async (input, init) => {
    const res = await fetch(input, init);
    const url = new URL(typeof input === "string" ? input : input instanceof URL ? input.href : input.url);
    const copy = res.clone();
    if ((copy.headers.get("content-type") ?? "").includes("application/json")) expectSpecResponse(init?.method ?? "GET", url.pathname, copy.status, await copy.json());
    return res;
  };
}

function sdkClient(server: RunningServer, user: TestUser): MatrixClient {
  return createClient({
    baseUrl: server.baseUrl,
    accessToken: user.access_token,
    userId: user.user_id,
    deviceId: user.device_id,
    fetchFn: checkedFetch(),
    logger: quietLogger(user.user_id, []),
  });
}

describe("VoIP TURN credentials and OpenID tokens (matrix-js-sdk)", function () {
  this.timeout(60_000);

  describe("with a TURN shared secret", () => {
    let server: FederatedServer;
    let api: TestClient;
    before(async () => {
      // The federation listener serves userinfo, over TLS with the test CA.
      server = await startFederatedServer({
        config: { voip: { turn_uris: URIS, turn_shared_secret: SECRET, turn_user_lifetime_ms: 86_400_000 }, auth: { openid_token_lifetime_ms: 2000 } },
      });
      api = new TestClient(server.baseUrl);
    });
    after(async () => {
      await server?.destroy();
    });

    it("hands out time-limited credentials coturn accepts (username expiry:user, HMAC-SHA1 password)", async () => {
      const user = await registerUser(api);
      const client = sdkClient(server, user);
      const before = Math.floor(Date.now() / 1000);
      const turn = await client.turnServer();
      expect(turn.uris).to.deep.equal(URIS);
      expect(turn.ttl).to.equal(86_400);
      const [expiry, ...rest] = turn.username.split(":");
      expect(rest.join(":")).to.equal(user.user_id);
      expect(Number(expiry)).to.be.within(before + 86_400, before + 86_400 + 5);
      // What coturn computes with use-auth-secret / static-auth-secret.
      expect(turn.password).to.equal(createHmac("sha1", SECRET).update(turn.username).digest("base64"));
      client.stopClient();
    });

    it("refuses the endpoint without a token", async () => {
      const res = await api.get("/_matrix/client/v3/voip/turnServer");
      expect(res.status).to.equal(401);
      expect(res.body.errcode).to.equal("M_MISSING_TOKEN");
    });

    it("issues an OpenID token that the federation listener's userinfo accepts until it expires", async () => {
      const user = await registerUser(api);
      const client = sdkClient(server, user);
      const token = await client.getOpenIdToken();
      expect(token.matrix_server_name).to.equal(server.serverName);
      expect(token.token_type).to.equal("Bearer");
      expect(token.expires_in).to.equal(2);
      const info = await federationRequest(server.federationUrl!, "GET", `/_matrix/federation/v1/openid/userinfo?access_token=${encodeURIComponent(token.access_token)}`);
      expect(info.status).to.equal(200);
      expect(info.body).to.deep.equal({ sub: user.user_id });
      expectSpecResponse("GET", "/_matrix/federation/v1/openid/userinfo", info.status, info.body);
      // Checked again: a token may be verified more than once while it lives.
      expect((await federationRequest(server.federationUrl!, "GET", `/_matrix/federation/v1/openid/userinfo?access_token=${encodeURIComponent(token.access_token)}`)).status).to.equal(200);

      const wrong = await federationRequest(server.federationUrl!, "GET", `/_matrix/federation/v1/openid/userinfo?access_token=${encodeURIComponent(token.access_token + "x")}`);
      expect(wrong.status).to.equal(401);
      expect((wrong.body as { errcode: string }).errcode).to.equal("M_UNKNOWN_TOKEN");
      const missing = await federationRequest(server.federationUrl!, "GET", "/_matrix/federation/v1/openid/userinfo");
      expect(missing.status).to.equal(401);

      await new Promise((done) => setTimeout(done, 2100));
      const expired = await federationRequest(server.federationUrl!, "GET", `/_matrix/federation/v1/openid/userinfo?access_token=${encodeURIComponent(token.access_token)}`);
      expect(expired.status).to.equal(401);
      expect((expired.body as { errcode: string }).errcode).to.equal("M_UNKNOWN_TOKEN");
      client.stopClient();
    });

    it("refuses an OpenID token for another user", async () => {
      const user = await registerUser(api);
      const res = await api.post(`/_matrix/client/v3/user/${encodeURIComponent(`@other:${server.serverName}`)}/openid/request_token`, {}, { token: user.access_token });
      expect(res.status).to.equal(403);
      expect(res.body.errcode).to.equal("M_FORBIDDEN");
    });
  });

  describe("with static TURN credentials", () => {
    let server: RunningServer;
    before(async () => {
      server = await startServer({ config: { voip: { turn_uris: [URIS[0]], turn_username: "static-user", turn_password: "static-pass" } } });
    });
    after(async () => {
      await server?.stop();
    });

    it("returns the configured username and password with the default one-hour ttl", async () => {
      const user = await registerUser(new TestClient(server.baseUrl));
      const client = sdkClient(server, user);
      const turn = await client.turnServer();
      expect(turn).to.deep.equal({ username: "static-user", password: "static-pass", uris: [URIS[0]], ttl: 3600 });
      client.stopClient();
    });
  });

  describe("without TURN", () => {
    let server: RunningServer;
    before(async () => {
      server = await startServer();
    });
    after(async () => {
      await server?.stop();
    });

    // The spec defines no answer for a server without TURN; Synapse's {} is what
    // clients (matrix-js-sdk, Element) take as "no TURN servers", so it is kept.
    it("answers an empty object (nothing to offer), as Synapse does", async () => {
      const api = new TestClient(server.baseUrl);
      const user = await registerUser(api);
      const res = await api.get("/_matrix/client/v3/voip/turnServer", { token: user.access_token, unspecified: true });
      expect(res.status).to.equal(200);
      expect(res.body).to.deep.equal({});
    });
  });

  it("refuses a config with both a shared secret and static credentials, in one line", async () => {
    const server = await startServer({ expectExit: true, config: { voip: { turn_uris: URIS, turn_shared_secret: SECRET, turn_username: "u", turn_password: "p" } } });
    const { code } = await server.exited;
    expect(code).to.equal(2);
    expect(server.stderr.join("\n")).to.match(/turn_shared_secret/);
  });
});
