// /account/3pid/bind, /unbind and /delete against a real HTTPS identity
// server stand-in on loopback (certificate from the test CA): bind forwards
// the user's id_access_token, unbind is X-Matrix signed, remote errors are
// not passed on, untrusted servers are refused, and the SSRF guard keeps the
// server from calling a blocked address even when it is configured.
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { expect } from "chai";
import { registerUser } from "../../support/accounts.ts";
import { TestClient } from "../../support/http-client.ts";
import { startServer, type RunningServer } from "../../support/server-process.ts";
import { testCertificates } from "../../support/test-ca.ts";

const V3 = "/_matrix/client/v3";

interface Seen {
  path: string;
  authorization: string | undefined;
  body: Record<string, any>;
}

describe("identity servers: bind and unbind", function () {
  this.timeout(60_000);
  let identity: Server;
  let idServer: string;
  const seen: Seen[] = [];
  let server: RunningServer;
  let api: TestClient;

  before(async () => {
    const certs = await testCertificates();
    identity = createServer({ cert: certs.certPem, key: certs.keyPem }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as Record<string, any>;
        seen.push({ path: req.url ?? "", authorization: req.headers.authorization, body });
        res.setHeader("Content-Type", "application/json");
        if (req.url === "/_matrix/identity/v2/3pid/bind") {
          if (req.headers.authorization !== "Bearer good-id-token") {
            res.statusCode = 401;
            res.end(JSON.stringify({ errcode: "M_UNAUTHORIZED", error: "secret remote detail" }));
            return;
          }
          res.end(JSON.stringify({ address: "Bound@Example.org", medium: "email", mxid: body.mxid, not_before: 0, not_after: 4102444800000, ts: Date.now(), signatures: {} }));
          return;
        }
        if (req.url === "/_matrix/identity/v2/3pid/unbind") {
          res.statusCode = /^X-Matrix /.test(req.headers.authorization ?? "") ? 200 : 403;
          res.end("{}");
          return;
        }
        res.statusCode = 404;
        res.end("{}");
      });
    });
    await new Promise<void>((ready) => identity.listen(0, "127.0.0.1", () => ready()));
    idServer = `127.0.0.1:${(identity.address() as AddressInfo).port}`;
    server = await startServer({
      config: { identity_servers: [idServer], federation: { ca_bundle_path: certs.caPath, ip_range_allowlist: ["127.0.0.1"] } },
    });
    api = new TestClient(server.baseUrl);
  });
  after(async () => {
    await server?.stop();
    await new Promise((done) => identity?.close(done));
  });

  it("forwards a bind with the user's id_access_token, then unbinds it with a signed request", async () => {
    const user = await registerUser(api);
    const bind = await api.post(`${V3}/account/3pid/bind`, { client_secret: "secret", sid: "idsid", id_server: idServer, id_access_token: "good-id-token" }, { token: user.access_token });
    expect(bind.status, JSON.stringify(bind.body)).to.equal(200);
    const forwarded = seen.at(-1)!;
    expect(forwarded.path).to.equal("/_matrix/identity/v2/3pid/bind");
    expect(forwarded.body).to.deep.equal({ sid: "idsid", client_secret: "secret", mxid: user.user_id });

    const unbind = await api.post(`${V3}/account/3pid/unbind`, { medium: "email", address: "bound@example.org" }, { token: user.access_token });
    expect(unbind.body).to.deep.equal({ id_server_unbind_result: "success" });
    const signed = seen.at(-1)!;
    expect(signed.path).to.equal("/_matrix/identity/v2/3pid/unbind");
    expect(signed.authorization).to.match(/^X-Matrix origin="?localhost"?,/);
    expect(signed.body).to.deep.equal({ mxid: user.user_id, threepid: { medium: "email", address: "bound@example.org" } });
    // Forgotten: nothing left to unbind.
    expect((await api.post(`${V3}/account/3pid/unbind`, { medium: "email", address: "bound@example.org" }, { token: user.access_token })).body).to.deep.equal({ id_server_unbind_result: "no-support" });
  });

  it("asks the identity server to forget an address deleted from the account", async () => {
    const user = await registerUser(api);
    await api.post(`${V3}/account/3pid/bind`, { client_secret: "secret", sid: "idsid", id_server: idServer, id_access_token: "good-id-token" }, { token: user.access_token });
    const deleted = await api.post(`${V3}/account/3pid/delete`, { medium: "email", address: "BOUND@example.org" }, { token: user.access_token });
    expect(deleted.body).to.deep.equal({ id_server_unbind_result: "success" });
    expect(seen.at(-1)!.path).to.equal("/_matrix/identity/v2/3pid/unbind");
  });

  it("unbinds on deactivation", async () => {
    const user = await registerUser(api);
    await api.post(`${V3}/account/3pid/bind`, { client_secret: "secret", sid: "idsid", id_server: idServer, id_access_token: "good-id-token" }, { token: user.access_token });
    const first = await api.post<{ session: string }>(`${V3}/account/deactivate`, {}, { token: user.access_token });
    const auth = { type: "m.login.password", identifier: { type: "m.id.user", user: user.user_id }, password: user.password, session: first.body.session };
    const done = await api.post(`${V3}/account/deactivate`, { auth }, { token: user.access_token });
    expect(done.status, JSON.stringify(done.body)).to.equal(200);
    expect(done.body).to.deep.equal({ id_server_unbind_result: "success" });
    expect(seen.at(-1)!.path).to.equal("/_matrix/identity/v2/3pid/unbind");
    expect(seen.at(-1)!.body.mxid).to.equal(user.user_id);
  });

  it("answers a refusal without the identity server's own text, and refuses untrusted servers before calling", async () => {
    const user = await registerUser(api);
    const refused = await api.post(`${V3}/account/3pid/bind`, { client_secret: "secret", sid: "idsid", id_server: idServer, id_access_token: "bad" }, { token: user.access_token });
    expect(refused.status).to.equal(400);
    expect(refused.body.errcode).to.equal("M_THREEPID_AUTH_FAILED");
    expect(refused.text).to.not.contain("secret remote detail");
    const calls = seen.length;
    const untrusted = await api.post(`${V3}/account/3pid/bind`, { client_secret: "secret", sid: "idsid", id_server: "id.elsewhere.example", id_access_token: "good-id-token" }, { token: user.access_token });
    expect(untrusted.status).to.equal(400);
    expect(untrusted.body.errcode).to.equal("M_SERVER_NOT_TRUSTED");
    expect(seen.length).to.equal(calls);
  });

  it("never connects to a blocked address, even for a configured identity server", async () => {
    const certs = await testCertificates();
    const guarded = await startServer({ config: { identity_servers: [idServer], federation: { ca_bundle_path: certs.caPath } } });
    try {
      const client = new TestClient(guarded.baseUrl);
      const user = await registerUser(client);
      const calls = seen.length;
      const res = await client.post(`${V3}/account/3pid/bind`, { client_secret: "secret", sid: "idsid", id_server: idServer, id_access_token: "good-id-token" }, { token: user.access_token });
      expect(res.status).to.equal(502);
      expect(seen.length).to.equal(calls);
    } finally {
      await guarded.stop();
    }
  });
});
