// Accounts through the public API: registration with UIA, login, whoami,
// logout, refresh-token expiry, shared-secret registration and rate limits.
import { expect } from "chai";
import { adminRegisterMac, registerUser, uniqueLocalpart } from "../../support/accounts.ts";
import { TestClient } from "../../support/http-client.ts";
import { startServer, type RunningServer } from "../../support/server-process.ts";

const V3 = "/_matrix/client/v3";
const SECRET = "test-shared-secret-0123456789";

describe("accounts (real server process)", function () {
  this.timeout(60_000);
  let server: RunningServer;
  let api: TestClient;

  before(async () => {
    server = await startServer({ config: { auth: { refreshable_access_token_lifetime_ms: 1500 } } });
    api = new TestClient(server.baseUrl);
  });
  after(async () => {
    await server?.stop();
  });

  describe("POST /register", () => {
    it("starts UIA with the m.login.dummy flow, then creates the account and logs it in", async () => {
      const localpart = uniqueLocalpart("reg");
      const first = await api.post<{ flows: Array<{ stages: string[] }>; session: string }>(`${V3}/register`, { username: localpart, password: "pw-123456" });
      expect(first.status).to.equal(401);
      expect(first.body.flows).to.deep.equal([{ stages: ["m.login.dummy"] }]);
      expect(first.body.session).to.be.a("string");
      const done = await api.post<{ user_id: string; access_token: string; device_id: string }>(`${V3}/register`, {
        username: localpart,
        password: "pw-123456",
        initial_device_display_name: "test phone",
        auth: { type: "m.login.dummy", session: first.body.session },
      });
      expect(done.status).to.equal(200);
      expect(done.body.user_id).to.equal(`@${localpart}:localhost`);
      const whoami = await api.get<{ user_id: string; device_id: string }>(`${V3}/account/whoami`, { token: done.body.access_token });
      expect(whoami.body).to.include({ user_id: done.body.user_id, device_id: done.body.device_id });
    });

    it("refuses a taken username with M_USER_IN_USE before starting UIA", async () => {
      const user = await registerUser(api);
      const res = await api.post(`${V3}/register`, { username: user.user_id.slice(1).split(":")[0], password: "x" });
      expect(res.status).to.equal(400);
      expect(res.body).to.include({ errcode: "M_USER_IN_USE" });
    });

    it("refuses an invalid username with M_INVALID_USERNAME", async () => {
      for (const username of ["Ünicode", "has space", "colon:inside", "x".repeat(300)]) {
        const res = await api.post(`${V3}/register`, { username, password: "x" });
        expect(res.status, username).to.equal(400);
        expect(res.body, username).to.include({ errcode: "M_INVALID_USERNAME" });
      }
    });

    it("lower-cases the requested localpart, as Synapse does", async () => {
      const localpart = uniqueLocalpart("Mixed");
      const user = await registerUser(api, localpart);
      expect(user.user_id).to.equal(`@${localpart.toLowerCase()}:localhost`);
    });

    it("returns only user_id with inhibit_login", async () => {
      const localpart = uniqueLocalpart("inhibit");
      const first = await api.post<{ session: string }>(`${V3}/register`, { username: localpart, password: "pw" });
      const res = await api.post<Record<string, unknown>>(`${V3}/register`, {
        username: localpart,
        password: "pw",
        inhibit_login: true,
        auth: { type: "m.login.dummy", session: first.body.session },
      });
      expect(res.status).to.equal(200);
      expect(res.body.user_id).to.equal(`@${localpart}:localhost`);
      expect(res.body).not.to.have.property("access_token");
    });

    it("rejects an unknown UIA session and an unsupported stage", async () => {
      const unknown = await api.post(`${V3}/register`, { username: uniqueLocalpart(), password: "pw", auth: { type: "m.login.dummy", session: "nope" } });
      expect(unknown.status).to.equal(400);
      const first = await api.post<{ session: string }>(`${V3}/register`, { username: uniqueLocalpart(), password: "pw" });
      const bad = await api.post<{ errcode: string; session: string }>(`${V3}/register`, { password: "pw", auth: { type: "m.login.email.identity", session: first.body.session } });
      expect(bad.status).to.equal(401);
      expect(bad.body.errcode).to.equal("M_UNRECOGNIZED");
      expect(bad.body.session).to.equal(first.body.session);
    });

    it("answers GET /register/available", async () => {
      const free = await api.get<{ available: boolean }>(`${V3}/register/available?username=${uniqueLocalpart("free")}`);
      expect(free.body.available).to.equal(true);
      const user = await registerUser(api);
      const taken = await api.get(`${V3}/register/available?username=${user.user_id.slice(1).split(":")[0]}`);
      expect(taken.status).to.equal(400);
      expect(taken.body).to.include({ errcode: "M_USER_IN_USE" });
    });
  });

  describe("login and logout", () => {
    it("advertises m.login.password", async () => {
      const res = await api.get<{ flows: Array<{ type: string }> }>(`${V3}/login`);
      expect(res.body.flows.map((f) => f.type)).to.include("m.login.password");
    });

    it("logs in with an m.id.user identifier, a plain localpart, or a full user ID (any case)", async () => {
      const user = await registerUser(api);
      const localpart = user.user_id.slice(1).split(":")[0]!;
      for (const identifier of [{ type: "m.id.user", user: localpart }, { type: "m.id.user", user: user.user_id.toUpperCase().replace("LOCALHOST", "localhost") }]) {
        const res = await api.post<{ user_id: string; access_token: string }>(`${V3}/login`, { type: "m.login.password", identifier, password: user.password });
        expect(res.status, JSON.stringify(identifier)).to.equal(200);
        expect(res.body.user_id).to.equal(user.user_id);
      }
      const legacy = await api.post<{ user_id: string }>(`${V3}/login`, { type: "m.login.password", user: localpart, password: user.password });
      expect(legacy.body.user_id).to.equal(user.user_id);
    });

    it("refuses a wrong password and an unknown user alike with 403 M_FORBIDDEN", async () => {
      const user = await registerUser(api);
      const wrong = await api.post(`${V3}/login`, { type: "m.login.password", identifier: { type: "m.id.user", user: user.user_id }, password: "nope" });
      const unknown = await api.post(`${V3}/login`, { type: "m.login.password", identifier: { type: "m.id.user", user: "nobody-at-all" }, password: "nope" });
      for (const res of [wrong, unknown]) {
        expect(res.status).to.equal(403);
        expect(res.body).to.deep.equal({ errcode: "M_FORBIDDEN", error: "Invalid username or password" });
      }
    });

    it("rejects a wrongly typed field with M_BAD_JSON and an unknown login type with 400", async () => {
      const badType = await api.post(`${V3}/login`, { type: "m.login.password", user: "a", password: 5 });
      expect(badType.status).to.equal(400);
      expect(badType.body).to.include({ errcode: "M_BAD_JSON" });
      const unknown = await api.post(`${V3}/login`, { type: "m.login.carrier_pigeon" });
      expect(unknown.status).to.equal(400);
    });

    it("re-using a device_id revokes the device's earlier token", async () => {
      const user = await registerUser(api);
      const login = () => api.post<{ access_token: string; device_id: string }>(`${V3}/login`, { type: "m.login.password", user: user.user_id, password: user.password, device_id: "PHONE" });
      const first = await login();
      const second = await login();
      expect(second.body.device_id).to.equal("PHONE");
      expect((await api.get(`${V3}/account/whoami`, { token: first.body.access_token })).status).to.equal(401);
      expect((await api.get(`${V3}/account/whoami`, { token: second.body.access_token })).status).to.equal(200);
    });

    it("answers a missing token with M_MISSING_TOKEN and a bad one with M_UNKNOWN_TOKEN", async () => {
      const none = await api.get(`${V3}/account/whoami`);
      expect(none.status).to.equal(401);
      expect(none.body).to.include({ errcode: "M_MISSING_TOKEN" });
      const bad = await api.get(`${V3}/account/whoami`, { token: "myat_not-a-real-token" });
      expect(bad.status).to.equal(401);
      expect(bad.body).to.include({ errcode: "M_UNKNOWN_TOKEN" });
    });

    it("does not accept the token in the query string (removed from the spec, MSC4127)", async () => {
      const user = await registerUser(api);
      const res = await api.get(`${V3}/account/whoami?access_token=${user.access_token}`);
      expect(res.status).to.equal(401);
      expect(res.body).to.include({ errcode: "M_MISSING_TOKEN" });
    });

    it("logout revokes only that device; logout/all revokes every device", async () => {
      const user = await registerUser(api);
      const second = await api.post<{ access_token: string }>(`${V3}/login`, { type: "m.login.password", user: user.user_id, password: user.password });
      const third = await api.post<{ access_token: string }>(`${V3}/login`, { type: "m.login.password", user: user.user_id, password: user.password });
      expect((await api.post(`${V3}/logout`, {}, { token: user.access_token })).status).to.equal(200);
      expect((await api.get(`${V3}/account/whoami`, { token: user.access_token })).status).to.equal(401);
      expect((await api.get(`${V3}/account/whoami`, { token: second.body.access_token })).status).to.equal(200);
      expect((await api.request("POST", `${V3}/logout/all`, { token: second.body.access_token })).status).to.equal(200);
      for (const token of [second.body.access_token, third.body.access_token]) {
        expect((await api.get(`${V3}/account/whoami`, { token })).status).to.equal(401);
      }
    });

    it("expires an access token issued with a refresh token as a soft logout", async () => {
      const user = await registerUser(api);
      const res = await api.post<{ access_token: string; refresh_token: string; expires_in_ms: number }>(`${V3}/login`, {
        type: "m.login.password",
        user: user.user_id,
        password: user.password,
        refresh_token: true,
      });
      expect(res.body.expires_in_ms).to.equal(1500);
      expect(res.body.refresh_token).to.be.a("string");
      expect((await api.get(`${V3}/account/whoami`, { token: res.body.access_token })).status).to.equal(200);
      await new Promise((r) => setTimeout(r, 1700));
      const expired = await api.get(`${V3}/account/whoami`, { token: res.body.access_token });
      expect(expired.status).to.equal(401);
      expect(expired.body).to.deep.include({ errcode: "M_UNKNOWN_TOKEN", soft_logout: true });
    });
  });

  describe("shared-secret registration (/_synapse/admin/v1/register)", () => {
    const path = "/_synapse/admin/v1/register";

    it("registers an admin with a valid MAC, once per nonce", async () => {
      const { body } = await api.get<{ nonce: string }>(path, { unspecified: true });
      const username = uniqueLocalpart("admin");
      const payload = { nonce: body.nonce, username, password: "pw-admin", admin: true, mac: adminRegisterMac(SECRET, body.nonce, username, "pw-admin", true) };
      const ok = await api.post<{ user_id: string; access_token: string }>(path, payload, { unspecified: true });
      expect(ok.status).to.equal(200);
      expect(ok.body.user_id).to.equal(`@${username}:localhost`);
      const whoami = await api.get(`/_matrix/client/v3/account/whoami`, { token: ok.body.access_token });
      expect(whoami.status).to.equal(200);
      const replay = await api.post(path, payload, { unspecified: true });
      expect(replay.status).to.equal(400);
    });

    it("refuses a wrong MAC with 403 and does not create the user", async () => {
      const { body } = await api.get<{ nonce: string }>(path, { unspecified: true });
      const username = uniqueLocalpart("mallory");
      const res = await api.post(path, { nonce: body.nonce, username, password: "pw", admin: true, mac: adminRegisterMac(SECRET, body.nonce, username, "pw", false) }, { unspecified: true });
      expect(res.status).to.equal(403);
      const available = await api.get<{ available: boolean }>(`${V3}/register/available?username=${username}`);
      expect(available.body.available).to.equal(true);
    });
  });
});

describe("registration and rate limits under their defaults (real server process)", function () {
  this.timeout(60_000);

  it("refuses registration when it is disabled", async () => {
    const server = await startServer({ config: { registration: { enabled: false } } });
    try {
      const res = await new TestClient(server.baseUrl).post(`${V3}/register`, { username: uniqueLocalpart(), password: "pw" });
      expect(res.status).to.equal(403);
      expect(res.body).to.include({ errcode: "M_FORBIDDEN" });
    } finally {
      await server.stop();
    }
  });

  it("limits login attempts with 429 M_LIMIT_EXCEEDED and retry_after_ms", async () => {
    // A slow refill (one attempt per 50 s), so a loaded machine taking seconds per login cannot earn one back mid-test.
    const server = await startServer({ config: { rate_limits: { login: { per_second: 0.02, burst_count: 3 } } } });
    try {
      const api = new TestClient(server.baseUrl);
      const statuses: number[] = [];
      let limited: Record<string, unknown> | undefined;
      for (let i = 0; i < 5; i++) {
        const res = await api.post(`${V3}/login`, { type: "m.login.password", user: "nobody", password: "pw" });
        statuses.push(res.status);
        if (res.status === 429) limited = res.body;
      }
      expect(statuses.slice(0, 3)).to.deep.equal([403, 403, 403]);
      expect(statuses.slice(3)).to.deep.equal([429, 429]);
      expect(limited).to.include({ errcode: "M_LIMIT_EXCEEDED" });
      expect(limited!.retry_after_ms).to.be.within(1, 50_000);
    } finally {
      await server.stop();
    }
  });
});
