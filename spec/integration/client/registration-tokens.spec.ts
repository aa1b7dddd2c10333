// Token-authenticated registration: the m.login.registration_token stage, the
// validity endpoint, and Synapse's admin API for managing tokens, on a server
// that requires a token to register.
import { expect } from "chai";
import { adminRegisterMac, uniqueLocalpart } from "../../support/accounts.ts";
import { TestClient, type ApiResponse } from "../../support/http-client.ts";
import { startServer, type RunningServer } from "../../support/server-process.ts";

const V3 = "/_matrix/client/v3";
const VALIDITY = "/_matrix/client/v1/register/m.login.registration_token/validity";
const ADMIN = "/_synapse/admin/v1/registration_tokens";
const SECRET = "test-shared-secret-0123456789";

interface TokenInfo {
  token: string;
  uses_allowed: number | null;
  pending: number;
  completed: number;
  expiry_time: number | null;
}

describe("registration tokens (real server process)", function () {
  this.timeout(60_000);
  let server: RunningServer;
  let api: TestClient;
  let admin: string;
  let plain: string;

  /** An account made with shared-secret registration, which needs no token. */
  async function sharedSecretAccount(isAdmin: boolean): Promise<string> {
    const { body } = await api.get<{ nonce: string }>("/_synapse/admin/v1/register", { unspecified: true });
    const username = uniqueLocalpart(isAdmin ? "admin" : "plain");
    const res = await api.post<{ access_token: string }>(
      "/_synapse/admin/v1/register",
      { nonce: body.nonce, username, password: "pw", admin: isAdmin, mac: adminRegisterMac(SECRET, body.nonce, username, "pw", isAdmin) },
      { unspecified: true },
    );
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    return res.body.access_token;
  }

  const adminCall = <T = Record<string, unknown>>(method: string, path: string, json?: unknown, token = admin): Promise<ApiResponse<T>> =>
    api.request<T>(method, path, { token, unspecified: true, ...(json !== undefined ? { json } : {}) });

  async function newToken(body: Record<string, unknown>): Promise<TokenInfo> {
    const res = await adminCall<TokenInfo>("POST", `${ADMIN}/new`, body);
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    return res.body;
  }

  /** The two round trips of a token registration; returns the final response. */
  async function registerWithToken(token: string, username = uniqueLocalpart("tok")): Promise<ApiResponse> {
    const first = await api.post<{ session: string }>(`${V3}/register`, { username, password: "pw-123456" });
    expect(first.status).to.equal(401);
    return api.post(`${V3}/register`, { username, password: "pw-123456", auth: { type: "m.login.registration_token", token, session: first.body.session } });
  }

  before(async () => {
    server = await startServer({ config: { registration: { enabled: true, require_token: true } } });
    api = new TestClient(server.baseUrl);
    [admin, plain] = await Promise.all([sharedSecretAccount(true), sharedSecretAccount(false)]);
  });
  after(async () => {
    await server?.stop();
  });

  describe("registration", () => {
    it("offers only the registration-token flow", async () => {
      const res = await api.post<{ flows: Array<{ stages: string[] }> }>(`${V3}/register`, { username: uniqueLocalpart(), password: "pw" });
      expect(res.status).to.equal(401);
      expect(res.body.flows).to.deep.equal([{ stages: ["m.login.registration_token"] }]);
    });

    it("registers with a valid token, counting the use as completed, until the uses run out", async () => {
      const { token } = await newToken({ uses_allowed: 1 });
      expect((await api.get<{ valid: boolean }>(`${VALIDITY}?token=${token}`)).body).to.deep.equal({ valid: true });

      const done = await registerWithToken(token);
      expect(done.status, JSON.stringify(done.body)).to.equal(200);
      const whoami = await api.get(`${V3}/account/whoami`, { token: done.body.access_token as string });
      expect(whoami.body.user_id).to.equal(done.body.user_id);

      const info = await adminCall<TokenInfo>("GET", `${ADMIN}/${token}`);
      expect(info.body).to.deep.equal({ token, uses_allowed: 1, pending: 0, completed: 1, expiry_time: null });
      expect((await api.get<{ valid: boolean }>(`${VALIDITY}?token=${token}`)).body).to.deep.equal({ valid: false });

      const username = uniqueLocalpart("late");
      const refused = await registerWithToken(token, username);
      expect(refused.status).to.equal(401);
      expect(refused.body).to.include({ errcode: "M_UNAUTHORIZED" });
      expect((await api.get<{ available: boolean }>(`${V3}/register/available?username=${username}`)).body.available).to.equal(true);
    });

    it("lets only one of two simultaneous registrations take a single-use token", async () => {
      const { token } = await newToken({ uses_allowed: 1 });
      const results = await Promise.all([registerWithToken(token), registerWithToken(token)]);
      expect(results.map((r) => r.status).sort()).to.deep.equal([200, 401]);
      expect(results.find((r) => r.status === 401)!.body).to.include({ errcode: "M_UNAUTHORIZED" });
      const info = await adminCall<TokenInfo>("GET", `${ADMIN}/${token}`);
      expect(info.body).to.include({ pending: 0, completed: 1 });
    });

    it("refuses an unknown token, a missing token and a missing session inside the UIA answer", async () => {
      const unknown = await registerWithToken("no-such-token");
      expect(unknown.status).to.equal(401);
      expect(unknown.body).to.include({ errcode: "M_UNAUTHORIZED" });
      expect(unknown.body.session).to.be.a("string");

      const first = await api.post<{ session: string }>(`${V3}/register`, { username: uniqueLocalpart(), password: "pw" });
      const missing = await api.post(`${V3}/register`, { password: "pw", auth: { type: "m.login.registration_token", session: first.body.session } });
      expect(missing.status).to.equal(401);
      expect(missing.body).to.include({ errcode: "M_MISSING_PARAM" });

      const { token } = await newToken({});
      const sessionless = await api.post(`${V3}/register`, { password: "pw", auth: { type: "m.login.registration_token", token } });
      expect(sessionless.status).to.equal(401);
      expect(sessionless.body).to.include({ errcode: "M_MISSING_PARAM" });
      expect((await adminCall<TokenInfo>("GET", `${ADMIN}/${token}`)).body).to.include({ pending: 0, completed: 0 });
    });

    it("stops accepting a token once it has expired", async () => {
      const { token } = await newToken({ expiry_time: Date.now() + 1500 });
      expect((await api.get<{ valid: boolean }>(`${VALIDITY}?token=${token}`)).body.valid).to.equal(true);
      await new Promise((resolve) => setTimeout(resolve, 1700));
      expect((await api.get<{ valid: boolean }>(`${VALIDITY}?token=${token}`)).body.valid).to.equal(false);
      const refused = await registerWithToken(token);
      expect(refused.status).to.equal(401);
      expect(refused.body).to.include({ errcode: "M_UNAUTHORIZED" });
      const invalid = await adminCall<{ registration_tokens: TokenInfo[] }>("GET", `${ADMIN}?valid=false`);
      expect(invalid.body.registration_tokens.map((t) => t.token)).to.include(token);
      const valid = await adminCall<{ registration_tokens: TokenInfo[] }>("GET", `${ADMIN}?valid=true`);
      expect(valid.body.registration_tokens.map((t) => t.token)).not.to.include(token);
    });
  });

  describe("GET /register/m.login.registration_token/validity", () => {
    it("answers false for an unknown token and 400 M_MISSING_PARAM without one", async () => {
      expect((await api.get<{ valid: boolean }>(`${VALIDITY}?token=unknown`)).body).to.deep.equal({ valid: false });
      const missing = await api.get(VALIDITY);
      expect(missing.status).to.equal(400);
      expect(missing.body).to.include({ errcode: "M_MISSING_PARAM" });
    });
  });

  describe("admin API", () => {
    it("creates a random 16-character token by default, or one of a requested length", async () => {
      const created = await newToken({});
      expect(created.token).to.match(/^[A-Za-z0-9._~-]{16}$/);
      expect(created).to.include({ uses_allowed: null, pending: 0, completed: 0, expiry_time: null });
      expect((await newToken({ length: 40 })).token).to.have.length(40);
    });

    it("creates a named token once and validates every field", async () => {
      const name = `tok.${Date.now()}_~-`;
      const expiry = Date.now() + 3_600_000;
      expect(await newToken({ token: name, uses_allowed: 3, expiry_time: expiry })).to.deep.equal({
        token: name,
        uses_allowed: 3,
        pending: 0,
        completed: 0,
        expiry_time: expiry,
      });
      const cases: Array<Record<string, unknown>> = [
        { token: name },
        { token: "has space" },
        { token: "" },
        { token: "x".repeat(65) },
        { token: 5 },
        { length: 0 },
        { length: 65 },
        { length: "8" },
        { uses_allowed: -1 },
        { uses_allowed: 1.5 },
        { expiry_time: Date.now() - 1000 },
        { expiry_time: "soon" },
      ];
      for (const body of cases) {
        const res = await adminCall("POST", `${ADMIN}/new`, body);
        expect(res.status, JSON.stringify(body)).to.equal(400);
        expect(res.body, JSON.stringify(body)).to.include({ errcode: "M_INVALID_PARAM" });
      }
    });

    it("lists, updates and deletes tokens", async () => {
      const { token } = await newToken({ uses_allowed: 2 });
      const listed = await adminCall<{ registration_tokens: TokenInfo[] }>("GET", ADMIN);
      expect(listed.body.registration_tokens.find((t) => t.token === token)).to.deep.equal({ token, uses_allowed: 2, pending: 0, completed: 0, expiry_time: null });

      const expiry = Date.now() + 86_400_000;
      const updated = await adminCall<TokenInfo>("PUT", `${ADMIN}/${token}`, { expiry_time: expiry });
      expect(updated.body).to.include({ uses_allowed: 2, expiry_time: expiry });
      const unchanged = await adminCall<TokenInfo>("PUT", `${ADMIN}/${token}`, {});
      expect(unchanged.body).to.include({ uses_allowed: 2, expiry_time: expiry });
      // uses_allowed 0 disables a token without deleting it.
      const disabled = await adminCall<TokenInfo>("PUT", `${ADMIN}/${token}`, { uses_allowed: 0, expiry_time: null });
      expect(disabled.body).to.include({ uses_allowed: 0, expiry_time: null });
      expect((await api.get<{ valid: boolean }>(`${VALIDITY}?token=${token}`)).body.valid).to.equal(false);
      const bad = await adminCall("PUT", `${ADMIN}/${token}`, { uses_allowed: "many" });
      expect(bad.status).to.equal(400);
      expect(bad.body).to.include({ errcode: "M_INVALID_PARAM" });

      expect((await adminCall("DELETE", `${ADMIN}/${token}`)).body).to.deep.equal({});
      for (const [method, json] of [["GET", undefined], ["PUT", { uses_allowed: 1 }], ["DELETE", undefined]] as const) {
        const gone = await adminCall(method, `${ADMIN}/${token}`, json);
        expect(gone.status, method).to.equal(404);
        expect(gone.body, method).to.include({ errcode: "M_NOT_FOUND" });
      }
    });

    it("is for server admins only", async () => {
      for (const [method, path] of [["GET", ADMIN], ["POST", `${ADMIN}/new`], ["GET", `${ADMIN}/abc`], ["PUT", `${ADMIN}/abc`], ["DELETE", `${ADMIN}/abc`]] as const) {
        const res = await adminCall(method, path, method === "GET" || method === "DELETE" ? undefined : {}, plain);
        expect(res.status, `${method} ${path}`).to.equal(403);
        expect(res.body, `${method} ${path}`).to.include({ errcode: "M_FORBIDDEN" });
        const anonymous = await api.request(method, path, { unspecified: true });
        expect(anonymous.status, `${method} ${path}`).to.equal(401);
        expect(anonymous.body, `${method} ${path}`).to.include({ errcode: "M_MISSING_TOKEN" });
      }
    });
  });
});

describe("registration token validity with registration disabled (real server process)", function () {
  this.timeout(60_000);

  it("answers 403 M_FORBIDDEN: every token is invalid", async () => {
    const server = await startServer({ config: { registration: { enabled: false } } });
    try {
      const res = await new TestClient(server.baseUrl).get(`${VALIDITY}?token=abc`);
      expect(res.status).to.equal(403);
      expect(res.body).to.include({ errcode: "M_FORBIDDEN" });
    } finally {
      await server.stop();
    }
  });
});
