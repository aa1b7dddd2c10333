// Account management through real HTTP against a real server process:
// refresh-token rotation, password change and deactivation behind UIA
// (m.login.password), and the capabilities the server advertises.
import { expect } from "chai";
import { registerUser, uniqueLocalpart, type TestUser } from "../../support/accounts.ts";
import { TestClient } from "../../support/http-client.ts";
import { startServer, type RunningServer } from "../../support/server-process.ts";

const V3 = "/_matrix/client/v3";

interface UiaBody {
  flows: Array<{ stages: string[] }>;
  session: string;
  errcode?: string;
}

interface Tokens {
  access_token: string;
  refresh_token: string;
  expires_in_ms: number;
  device_id: string;
}

describe("account management (real server process)", function () {
  this.timeout(60_000);
  let server: RunningServer;
  let api: TestClient;

  before(async () => {
    server = await startServer();
    api = new TestClient(server.baseUrl);
  });
  after(async () => {
    await server?.stop();
  });

  const login = (user: { user_id: string; password: string }, extra: Record<string, unknown> = {}) =>
    api.post<Tokens & { errcode?: string }>(`${V3}/login`, { type: "m.login.password", identifier: { type: "m.id.user", user: user.user_id }, password: user.password, ...extra });
  const whoamiStatus = async (token: string) => (await api.get(`${V3}/account/whoami`, { token })).status;
  const refresh = (refreshToken: string) => api.post<Tokens & { errcode?: string }>(`${V3}/refresh`, { refresh_token: refreshToken });
  const passwordAuth = (user: TestUser, session: string, password = user.password) => ({
    type: "m.login.password",
    identifier: { type: "m.id.user", user: user.user_id },
    password,
    session,
  });

  describe("GET /capabilities", () => {
    it("advertises room versions, password change and profile changes, but no 3PID changes or login tokens", async () => {
      const user = await registerUser(api);
      const res = await api.get<{ capabilities: Record<string, unknown> }>(`${V3}/capabilities`, { token: user.access_token });
      expect(res.status).to.equal(200);
      const caps = res.body.capabilities;
      expect(caps["m.change_password"]).to.deep.equal({ enabled: true });
      expect(caps["m.set_displayname"]).to.deep.equal({ enabled: true });
      expect(caps["m.set_avatar_url"]).to.deep.equal({ enabled: true });
      expect(caps["m.3pid_changes"]).to.deep.equal({ enabled: false });
      expect(caps["m.get_login_token"]).to.deep.equal({ enabled: true });
      const versions = caps["m.room_versions"] as { default: string; available: Record<string, string> };
      expect(versions.default).to.equal("12");
      expect(Object.keys(versions.available)).to.include.members(["1", "10", "11", "12"]);
      expect(versions.available[versions.default]).to.equal("stable");
    });

    it("needs an access token", async () => {
      const res = await api.get(`${V3}/capabilities`);
      expect(res.status).to.equal(401);
      expect(res.body).to.include({ errcode: "M_MISSING_TOKEN" });
    });
  });

  describe("POST /refresh", () => {
    it("rotates the pair; the old refresh token is refused once the new access token is used, and the old access token stops working", async () => {
      const user = await registerUser(api);
      const first = (await login(user, { refresh_token: true })).body;
      const second = await refresh(first.refresh_token);
      expect(second.status).to.equal(200);
      expect(second.body.refresh_token).to.be.a("string").and.not.equal(first.refresh_token);
      expect(second.body.access_token).to.be.a("string").and.not.equal(first.access_token);
      expect(second.body.expires_in_ms).to.equal(300_000);

      // Until the new pair is used, the old access token still works (a lost answer can be retried).
      expect(await whoamiStatus(first.access_token)).to.equal(200);
      const whoami = await api.get<{ user_id: string; device_id: string }>(`${V3}/account/whoami`, { token: second.body.access_token });
      expect(whoami.body).to.include({ user_id: user.user_id, device_id: first.device_id });

      const reused = await refresh(first.refresh_token);
      expect(reused.status).to.equal(401);
      expect(reused.body).to.include({ errcode: "M_UNKNOWN_TOKEN" });
      expect(await whoamiStatus(first.access_token)).to.equal(401);
      expect(await whoamiStatus(second.body.access_token)).to.equal(200);
    });

    it("lets a client retry with the old refresh token while the new pair is unused; the retry supersedes the lost pair", async () => {
      const user = await registerUser(api);
      const first = (await login(user, { refresh_token: true })).body;
      const lost = await refresh(first.refresh_token);
      expect(lost.status).to.equal(200);
      const retry = await refresh(first.refresh_token);
      expect(retry.status).to.equal(200);
      expect(retry.body.refresh_token).not.to.equal(lost.body.refresh_token);

      expect(await whoamiStatus(lost.body.access_token)).to.equal(401);
      expect((await refresh(lost.body.refresh_token)).status).to.equal(401);
      expect(await whoamiStatus(retry.body.access_token)).to.equal(200);
      expect((await refresh(first.refresh_token)).status).to.equal(401);
    });

    it("refreshing with the new refresh token also retires the old one", async () => {
      const user = await registerUser(api);
      const first = (await login(user, { refresh_token: true })).body;
      const second = (await refresh(first.refresh_token)).body;
      const third = await refresh(second.refresh_token);
      expect(third.status).to.equal(200);
      expect((await refresh(first.refresh_token)).status).to.equal(401);
      expect(await whoamiStatus(first.access_token)).to.equal(401);
      expect(await whoamiStatus(third.body.access_token)).to.equal(200);
    });

    it("refuses an unknown token with 401 M_UNKNOWN_TOKEN, a missing one with 400 M_MISSING_PARAM, and a logged-out device's token", async () => {
      const unknown = await refresh("myrt_not-a-real-token");
      expect(unknown.status).to.equal(401);
      expect(unknown.body).to.include({ errcode: "M_UNKNOWN_TOKEN" });
      const missing = await api.post(`${V3}/refresh`, {});
      expect(missing.status).to.equal(400);
      expect(missing.body).to.include({ errcode: "M_MISSING_PARAM" });

      const user = await registerUser(api);
      const session = (await login(user, { refresh_token: true })).body;
      expect((await api.post(`${V3}/logout`, {}, { token: session.access_token })).status).to.equal(200);
      const afterLogout = await refresh(session.refresh_token);
      expect(afterLogout.status).to.equal(401);
      expect(afterLogout.body).to.include({ errcode: "M_UNKNOWN_TOKEN" });
    });
  });

  describe("POST /account/password", () => {
    it("changes the password behind UIA and logs out the other devices but not the requester", async () => {
      const user = await registerUser(api);
      const other = (await login(user)).body;
      const newPassword = "a much better passphrase";

      const first = await api.post<UiaBody>(`${V3}/account/password`, { new_password: newPassword }, { token: user.access_token });
      expect(first.status).to.equal(401);
      expect(first.body.flows).to.deep.equal([{ stages: ["m.login.password"] }]);

      const wrong = await api.post<UiaBody>(`${V3}/account/password`, { new_password: newPassword, auth: passwordAuth(user, first.body.session, "guess") }, { token: user.access_token });
      expect(wrong.status).to.equal(401);
      expect(wrong.body.errcode).to.equal("M_FORBIDDEN");
      expect(wrong.body.session).to.equal(first.body.session);
      expect((await login(user)).status, "password unchanged after a failed attempt").to.equal(200);

      const done = await api.post(`${V3}/account/password`, { new_password: newPassword, auth: passwordAuth(user, first.body.session) }, { token: user.access_token });
      expect(done.status).to.equal(200);
      expect(done.body).to.deep.equal({});

      const oldLogin = await login(user);
      expect(oldLogin.status).to.equal(403);
      expect(oldLogin.body).to.include({ errcode: "M_FORBIDDEN" });
      expect((await login({ user_id: user.user_id, password: newPassword })).status).to.equal(200);

      expect(await whoamiStatus(user.access_token)).to.equal(200);
      expect(await whoamiStatus(other.access_token)).to.equal(401);
    });

    it("keeps the other devices with logout_devices: false", async () => {
      const user = await registerUser(api);
      const other = (await login(user)).body;
      const first = await api.post<UiaBody>(`${V3}/account/password`, { new_password: "next-pass", logout_devices: false }, { token: user.access_token });
      const done = await api.post(`${V3}/account/password`, { new_password: "next-pass", logout_devices: false, auth: passwordAuth(user, first.body.session) }, { token: user.access_token });
      expect(done.status).to.equal(200);
      expect(await whoamiStatus(other.access_token)).to.equal(200);
      expect((await login({ user_id: user.user_id, password: "next-pass" })).status).to.equal(200);
    });

    it("checks new_password before UIA and needs an access token", async () => {
      const user = await registerUser(api);
      const missing = await api.post(`${V3}/account/password`, {}, { token: user.access_token });
      expect(missing.status).to.equal(400);
      expect(missing.body).to.include({ errcode: "M_MISSING_PARAM" });
      const wrongType = await api.post(`${V3}/account/password`, { new_password: 12345 }, { token: user.access_token });
      expect(wrongType.status).to.equal(400);
      expect(wrongType.body).to.include({ errcode: "M_BAD_JSON" });
      // The spec lets this endpoint run without a token (e-mail reset through UIA),
      // so its 401 schema is the UIA body; we keep no e-mail addresses and answer
      // M_MISSING_TOKEN like every other authenticated endpoint, hence no schema check.
      const anonymous = await api.post(`${V3}/account/password`, { new_password: "x" }, { unspecified: true });
      expect(anonymous.status).to.equal(401);
      expect(anonymous.body).to.include({ errcode: "M_MISSING_TOKEN" });
    });

    it("will not complete with a UIA session started for another operation", async () => {
      const user = await registerUser(api);
      const started = await api.post<UiaBody>(`${V3}/account/deactivate`, {}, { token: user.access_token });
      const res = await api.post(`${V3}/account/password`, { new_password: "other", auth: passwordAuth(user, started.body.session) }, { token: user.access_token });
      expect(res.status).to.equal(403);
      expect(res.body).to.include({ errcode: "M_FORBIDDEN" });
      expect((await login(user)).status).to.equal(200);
    });
  });

  describe("POST /account/deactivate", () => {
    it("deactivates behind UIA: every token dies, login answers 403 M_USER_DEACTIVATED, the user ID stays taken", async () => {
      const localpart = uniqueLocalpart("leaver");
      const user = await registerUser(api, localpart);
      const other = (await login(user, { refresh_token: true })).body;

      const first = await api.post<UiaBody>(`${V3}/account/deactivate`, {}, { token: user.access_token });
      expect(first.status).to.equal(401);
      expect(first.body.flows).to.deep.equal([{ stages: ["m.login.password"] }]);
      const wrong = await api.post<UiaBody>(`${V3}/account/deactivate`, { auth: passwordAuth(user, first.body.session, "nope") }, { token: user.access_token });
      expect(wrong.status).to.equal(401);
      expect(wrong.body.errcode).to.equal("M_FORBIDDEN");
      expect(await whoamiStatus(user.access_token)).to.equal(200);

      const done = await api.post(`${V3}/account/deactivate`, { auth: passwordAuth(user, first.body.session), erase: false }, { token: user.access_token });
      expect(done.status).to.equal(200);
      expect(done.body).to.deep.equal({ id_server_unbind_result: "success" });

      for (const token of [user.access_token, other.access_token]) {
        const res = await api.get(`${V3}/account/whoami`, { token });
        expect(res.status).to.equal(401);
        expect(res.body).to.include({ errcode: "M_UNKNOWN_TOKEN" });
      }
      expect((await refresh(other.refresh_token)).status).to.equal(401);

      const again = await login(user);
      expect(again.status).to.equal(403);
      expect(again.body).to.include({ errcode: "M_USER_DEACTIVATED" });
      // A wrong password does not reveal that the account exists (or was deactivated).
      const wrongLogin = await login({ user_id: user.user_id, password: "wrong" });
      expect(wrongLogin.status).to.equal(403);
      expect(wrongLogin.body).to.include({ errcode: "M_FORBIDDEN" });

      const available = await api.get(`${V3}/register/available?username=${localpart}`);
      expect(available.status).to.equal(400);
      expect(available.body).to.include({ errcode: "M_USER_IN_USE" });
    });

    it("needs an access token and a JSON body", async () => {
      // As for /account/password: M_MISSING_TOKEN (as Synapse answers here), not the UIA body the spec's schema expects.
      const anonymous = await api.post(`${V3}/account/deactivate`, {}, { unspecified: true });
      expect(anonymous.status).to.equal(401);
      expect(anonymous.body).to.include({ errcode: "M_MISSING_TOKEN" });
      const user = await registerUser(api);
      const noBody = await api.request("POST", `${V3}/account/deactivate`, { token: user.access_token });
      expect(noBody.status).to.equal(400);
      expect(noBody.body).to.include({ errcode: "M_NOT_JSON" });
    });
  });
});

describe("password attempts through UIA are rate limited (real server process)", function () {
  this.timeout(60_000);

  it("answers 429 M_LIMIT_EXCEEDED once the login bucket of the user is empty", async () => {
    const server = await startServer({ config: { rate_limits: { login: { per_second: 0.1, burst_count: 2 } } } });
    try {
      const api = new TestClient(server.baseUrl);
      const user = await registerUser(api);
      const first = await api.post<UiaBody>(`${V3}/account/password`, { new_password: "x-new" }, { token: user.access_token });
      expect(first.status).to.equal(401);
      const statuses: number[] = [];
      let limited: Record<string, unknown> | undefined;
      for (let i = 0; i < 3; i++) {
        const res = await api.post<Record<string, unknown>>(
          `${V3}/account/password`,
          { new_password: "x-new", auth: { type: "m.login.password", identifier: { type: "m.id.user", user: user.user_id }, password: `guess ${i}`, session: first.body.session } },
          { token: user.access_token },
        );
        statuses.push(res.status);
        if (res.status === 429) limited = res.body;
      }
      expect(statuses).to.deep.equal([401, 401, 429]);
      expect(limited).to.include({ errcode: "M_LIMIT_EXCEEDED" });
      expect(limited!.retry_after_ms).to.be.a("number");
    } finally {
      await server.stop();
    }
  });
});
