// m.login.token: a logged-in device re-authenticates, obtains a short-lived
// token, and another device logs in with it exactly once.
import { expect } from "chai";
import { registerUser } from "../../support/accounts.ts";
import { TestClient } from "../../support/http-client.ts";
import { V3 } from "../../support/rooms.ts";
import { startServer, type RunningServer } from "../../support/server-process.ts";

describe("login tokens (real server process)", function () {
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

  it("advertises m.login.token with get_login_token", async () => {
    const res = await api.get<{ flows: Array<Record<string, unknown>> }>(`${V3}/login`);
    expect(res.body.flows).to.deep.include({ type: "m.login.token", get_login_token: true });
  });

  it("issues a token after UIA and logs another device in with it once", async () => {
    const user = await registerUser(api);
    const path = "/_matrix/client/v1/login/get_token";
    const challenge = await api.post<{ session: string; flows: unknown }>(path, {}, { token: user.access_token });
    expect(challenge.status).to.equal(401);
    const wrong = await api.post(path, { auth: { type: "m.login.password", identifier: { type: "m.id.user", user: user.user_id }, password: "nope", session: challenge.body.session } }, { token: user.access_token });
    expect(wrong.status).to.equal(401);
    expect(wrong.body).to.include({ errcode: "M_FORBIDDEN" });
    const issued = await api.post<{ login_token: string; expires_in_ms: number }>(
      path,
      { auth: { type: "m.login.password", identifier: { type: "m.id.user", user: user.user_id }, password: user.password, session: challenge.body.session } },
      { token: user.access_token },
    );
    expect(issued.status).to.equal(200);
    expect(issued.body.expires_in_ms).to.equal(120_000);
    const login = await api.post<{ user_id: string; device_id: string; access_token: string }>(`${V3}/login`, { type: "m.login.token", token: issued.body.login_token });
    expect(login.status).to.equal(200);
    expect(login.body.user_id).to.equal(user.user_id);
    expect(login.body.device_id).not.to.equal(user.device_id);
    const reused = await api.post(`${V3}/login`, { type: "m.login.token", token: issued.body.login_token });
    expect(reused.status).to.equal(403);
    expect(reused.body).to.include({ errcode: "M_FORBIDDEN" });
    const bogus = await api.post(`${V3}/login`, { type: "m.login.token", token: "mylt_bogus" });
    expect(bogus.status).to.equal(403);
    const missing = await api.post(`${V3}/login`, { type: "m.login.token" });
    expect(missing.status).to.equal(400);
  });
});
