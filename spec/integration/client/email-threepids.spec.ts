// E-mail identifiers end to end: a real server process sends its validation
// mails through its email worker over SMTP to a real SMTP server process
// (spec/support/smtp-sink.ts); the test reads each mail and follows its link.
// Registration with an address, login by address, adding and removing an
// address, the password reset, and the bad cases: expired and reused links,
// reused sessions, an address of another account, unknown sessions,
// send_attempt, the rate limit, a mail server that is down.
import { expect } from "chai";
import { registerUser, uniqueLocalpart, type TestUser } from "../../support/accounts.ts";
import { TestClient } from "../../support/http-client.ts";
import { expectStandardError } from "../../support/openapi.ts";
import { freePort } from "../../support/ports.ts";
import { startServer, type RunningServer } from "../../support/server-process.ts";
import { linkIn, startSmtpSink, type SmtpSink } from "../../support/smtp-sink.ts";
import { deleteRedisKeys } from "../../support/redis-keys.ts";
import { testRedisPrefix } from "../../support/test-env.ts";

const V3 = "/_matrix/client/v3";

interface Uia {
  flows: Array<{ stages: string[] }>;
  session: string;
  errcode?: string;
  completed?: string[];
}

let serial = 0;
const newAddress = () => `${uniqueLocalpart("mail")}${(serial += 1)}@example.org`;
const secret = () => `secret${Date.now()}${(serial += 1)}`;

/** A server whose link base is its real client address, with SMTP pointed at the sink. */
async function emailServer(sink: SmtpSink, email: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Promise<RunningServer> {
  const port = await freePort();
  return startServer({
    config: {
      public_baseurl: `http://127.0.0.1:${port}`,
      listeners: { client: { port } },
      email: { smtp_host: "127.0.0.1", smtp_port: sink.port, notif_from: "Myelin <noreply@example.org>", send_wait_ms: 5000, ...email },
      rate_limits: { threepid_validation: { per_second: 0.01, burst_count: 3 } },
      ...extra,
    },
  });
}

describe("e-mail identifiers through a real SMTP server", function () {
  this.timeout(90_000);
  let sink: SmtpSink;
  let server: RunningServer;
  let api: TestClient;

  before(async () => {
    sink = await startSmtpSink();
    server = await emailServer(sink);
    api = new TestClient(server.baseUrl);
  });
  after(async () => {
    await server?.stop();
    await sink?.stop();
  });

  const requestToken = (path: string, email: string, clientSecret: string, sendAttempt = 1, extra: Record<string, unknown> = {}) =>
    api.post<{ sid: string; errcode?: string; retry_after_ms?: number }>(`${V3}/${path}/email/requestToken`, { email, client_secret: clientSecret, send_attempt: sendAttempt, ...extra });

  /** Asks for a mail, reads it from the sink and follows its link. */
  async function validate(path: string, email: string, clientSecret = secret()): Promise<{ sid: string; clientSecret: string; link: URL }> {
    const since = sink.mails.length;
    const res = await requestToken(path, email, clientSecret);
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    const mail = await sink.waitForMail(email, { since });
    const link = linkIn(mail);
    expect(link.origin).to.equal(server.baseUrl);
    const page = await fetch(link);
    expect(page.status).to.equal(200);
    expect(await page.text()).to.contain("validated");
    return { sid: res.body.sid, clientSecret, link };
  }

  const passwordAuth = (user: TestUser, session?: string) => ({ type: "m.login.password", identifier: { type: "m.id.user", user: user.user_id }, password: user.password, ...(session ? { session } : {}) });

  /** POST /account/3pid/add through UIA (m.login.password). */
  async function add(user: TestUser, creds: { sid: string; clientSecret: string }) {
    const first = await api.post<Uia>(`${V3}/account/3pid/add`, { sid: creds.sid, client_secret: creds.clientSecret }, { token: user.access_token });
    if (first.status !== 401) return first;
    expect(first.body.flows).to.deep.equal([{ stages: ["m.login.password"] }]);
    return api.post<Uia>(`${V3}/account/3pid/add`, { sid: creds.sid, client_secret: creds.clientSecret, auth: passwordAuth(user, first.body.session) }, { token: user.access_token });
  }

  const threepids = async (user: TestUser) =>
    (await api.get<{ threepids: Array<{ medium: string; address: string; validated_at: number; added_at: number }> }>(`${V3}/account/3pid`, { token: user.access_token })).body.threepids;

  it("sends a mail whose subject and text come from the templates, with a link to our submit page", async () => {
    const email = newAddress();
    const since = sink.mails.length;
    const res = await requestToken("account/3pid", email, secret());
    expect(res.status).to.equal(200);
    expect(res.body.sid).to.match(/^[0-9a-zA-Z.=_-]+$/);
    expect(res.body).to.not.have.property("submit_url");
    const mail = await sink.waitForMail(email, { since });
    expect(mail.from).to.equal("noreply@example.org");
    expect(mail.subject).to.equal("[localhost] Validate your email");
    expect(mail.text).to.contain("add this email to your Matrix account on localhost");
    expect(mail.text).to.contain("expires in 1 hour");
    expect(linkIn(mail).pathname).to.equal("/_synapse/client/email/submit_token");
  });

  it("registers an account with a validated address, which then logs in by address", async () => {
    const email = newAddress();
    const localpart = uniqueLocalpart("reg");
    const password = "register with mail";
    const first = await api.post<Uia>(`${V3}/register`, { username: localpart, password });
    expect(first.status).to.equal(401);
    expect(first.body.flows.map((f) => f.stages)).to.deep.include(["m.login.email.identity"]);

    const clientSecret = secret();
    const since = sink.mails.length;
    const token = await requestToken("register", email, clientSecret);
    const threepidCreds = { sid: token.body.sid, client_secret: clientSecret };
    // Before the link is followed the stage fails, inside the UIA answer.
    const early = await api.post<Uia>(`${V3}/register`, { username: localpart, password, auth: { type: "m.login.email.identity", threepid_creds: threepidCreds, session: first.body.session } });
    expect(early.status).to.equal(401);
    expect(early.body.errcode).to.equal("M_THREEPID_AUTH_FAILED");

    expect((await fetch(linkIn(await sink.waitForMail(email, { since })))).status).to.equal(200);
    const done = await api.post<TestUser>(`${V3}/register`, { username: localpart, password, auth: { type: "m.login.email.identity", threepid_creds: threepidCreds, session: first.body.session } });
    expect(done.status, JSON.stringify(done.body)).to.equal(200);
    const user = { ...done.body, password };
    const bound = await threepids(user);
    expect(bound.map((t) => [t.medium, t.address])).to.deep.equal([["email", email]]);
    expect(bound[0]!.validated_at).to.be.a("number");

    const byAddress = await api.post<TestUser>(`${V3}/login`, { type: "m.login.password", identifier: { type: "m.id.thirdparty", medium: "email", address: email.toUpperCase() }, password });
    expect(byAddress.status).to.equal(200);
    expect(byAddress.body.user_id).to.equal(user.user_id);
    const wrong = await api.post(`${V3}/login`, { type: "m.login.password", identifier: { type: "m.id.thirdparty", medium: "email", address: email }, password: "wrong" });
    expect(wrong.status).to.equal(403);
    const nobody = await api.post(`${V3}/login`, { type: "m.login.password", identifier: { type: "m.id.thirdparty", medium: "email", address: newAddress() }, password });
    expect(nobody.status).to.equal(403);
    expect(nobody.body.errcode).to.equal("M_FORBIDDEN");

    // The address is taken now: registering it again is refused at requestToken.
    const again = await requestToken("register", email, secret());
    expect(again.status).to.equal(400);
    expect(again.body.errcode).to.equal("M_THREEPID_IN_USE");
  });

  it("adds an address behind UIA, lists it, refuses it to another account, and deletes it", async () => {
    const user = await registerUser(api);
    const other = await registerUser(api);
    const email = newAddress();
    const creds = await validate("account/3pid", email);
    const added = await add(user, creds);
    expect(added.status, JSON.stringify(added.body)).to.equal(200);
    expect((await threepids(user)).map((t) => t.address)).to.deep.equal([email]);

    // The same session cannot be used again, by anyone.
    const reused = await add(other, creds);
    expect(reused.status).to.equal(400);
    expect(reused.body.errcode).to.equal("M_THREEPID_AUTH_FAILED");
    // Another account cannot even ask for a link for it.
    const taken = await requestToken("account/3pid", email, secret());
    expect(taken.body.errcode).to.equal("M_THREEPID_IN_USE");

    expect((await api.post(`${V3}/account/3pid/unbind`, { medium: "email", address: email }, { token: user.access_token })).body).to.deep.equal({ id_server_unbind_result: "no-support" });
    const bind = await api.post(`${V3}/account/3pid/bind`, { client_secret: creds.clientSecret, sid: creds.sid, id_server: "id.example.org", id_access_token: "x" }, { token: user.access_token });
    expect(bind.status).to.equal(403);
    expect(bind.body.errcode).to.equal("M_THREEPID_DENIED");

    const deleted = await api.post(`${V3}/account/3pid/delete`, { medium: "email", address: email }, { token: user.access_token });
    expect(deleted.body).to.deep.equal({ id_server_unbind_result: "no-support" });
    expect(await threepids(user)).to.deep.equal([]);
    // Free again: the other account can take it.
    expect((await add(other, await validate("account/3pid", email))).status).to.equal(200);
    expect((await threepids(other)).map((t) => t.address)).to.deep.equal([email]);
  });

  it("refuses an address validated for one account once another account has bound it (no half-made binding)", async () => {
    const first = await registerUser(api);
    const second = await registerUser(api);
    const email = newAddress();
    // Both validate before either adds.
    const a = await validate("account/3pid", email);
    const b = await validate("account/3pid", email);
    expect((await add(first, a)).status).to.equal(200);
    const refused = await add(second, b);
    expect(refused.status).to.equal(400);
    expect(refused.body.errcode).to.equal("M_THREEPID_IN_USE");
    expect(await threepids(second)).to.deep.equal([]);
  });

  it("resets a forgotten password by e-mail and logs every device out", async () => {
    const user = await registerUser(api);
    const email = newAddress();
    expect((await add(user, await validate("account/3pid", email))).status).to.equal(200);

    const creds = await validate("account/password", email);
    const newPassword = "reset by mail";
    const first = await api.post<Uia>(`${V3}/account/password`, { new_password: newPassword });
    expect(first.status).to.equal(401);
    expect(first.body.flows).to.deep.equal([{ stages: ["m.login.email.identity"] }]);
    const reset = await api.post(`${V3}/account/password`, {
      new_password: newPassword,
      auth: { type: "m.login.email.identity", threepid_creds: { sid: creds.sid, client_secret: creds.clientSecret }, session: first.body.session },
    });
    expect(reset.status, JSON.stringify(reset.body)).to.equal(200);
    expect((await api.get(`${V3}/account/whoami`, { token: user.access_token })).status).to.equal(401);
    const login = (password: string) => api.post(`${V3}/login`, { type: "m.login.password", identifier: { type: "m.id.user", user: user.user_id }, password });
    expect((await login(newPassword)).status).to.equal(200);
    expect((await login(user.password)).status).to.equal(403);

    const unknown = await requestToken("account/password", newAddress(), secret());
    expect(unknown.status).to.equal(400);
    expect(unknown.body.errcode).to.equal("M_THREEPID_NOT_FOUND");
  });

  it("spends a link once, and refuses unknown sessions and wrong secrets", async () => {
    const user = await registerUser(api);
    const creds = await validate("account/3pid", newAddress());
    const again = await fetch(creds.link);
    expect(again.status).to.equal(400);
    expect(await again.text()).to.contain("invalid");
    const unknown = await add(user, { sid: "no-such-session", clientSecret: creds.clientSecret });
    expect(unknown.status).to.equal(400);
    expect(unknown.body.errcode).to.equal("M_THREEPID_AUTH_FAILED");
    const wrongSecret = await add(user, { sid: creds.sid, clientSecret: "another-secret" });
    expect(wrongSecret.body.errcode).to.equal("M_THREEPID_AUTH_FAILED");
    const submitted = await api.request("POST", "/_synapse/client/email/submit_token", { json: { sid: creds.sid, client_secret: creds.clientSecret, token: "guess" }, unspecified: true });
    expect(submitted.status).to.equal(400);
    expect(submitted.body.errcode).to.equal("M_THREEPID_AUTH_FAILED");
  });

  it("honours send_attempt: a repeat sends nothing and keeps the sid, a higher one sends a new link and kills the old", async () => {
    const email = newAddress();
    const clientSecret = secret();
    const since = sink.mails.length;
    const first = await requestToken("account/3pid", email, clientSecret, 1);
    const oldLink = linkIn(await sink.waitForMail(email, { since }));
    const repeat = await requestToken("account/3pid", email, clientSecret, 1);
    expect(repeat.body.sid).to.equal(first.body.sid);
    const next = sink.mails.length;
    const higher = await requestToken("account/3pid", email, clientSecret, 2);
    expect(higher.body.sid).to.equal(first.body.sid);
    const newLink = linkIn(await sink.waitForMail(email, { since: next }));
    expect(sink.mails.slice(since).filter((m) => m.to.includes(email))).to.have.length(2);
    expect((await fetch(oldLink)).status).to.equal(400);
    expect((await fetch(newLink)).status).to.equal(200);
  });

  it("rate-limits new mails to one address with retry_after_ms", async () => {
    const email = newAddress();
    const statuses: number[] = [];
    let last: Awaited<ReturnType<typeof requestToken>> | undefined;
    for (let attempt = 1; attempt <= 4; attempt += 1) {
      last = await requestToken("account/3pid", email, secret(), attempt);
      statuses.push(last.status);
    }
    expect(statuses).to.deep.equal([200, 200, 200, 429]);
    expect(last!.body.errcode).to.equal("M_LIMIT_EXCEEDED");
    expect(last!.body.retry_after_ms).to.be.a("number");
  });

  it("refuses bad input before sending anything", async () => {
    const bad = [
      { email: "not an address", client_secret: "s", send_attempt: 1 },
      { email: newAddress(), client_secret: "bad secret!", send_attempt: 1 },
      { email: newAddress(), client_secret: "s", send_attempt: "1" },
      { email: newAddress(), client_secret: "s", send_attempt: 1, next_link: "javascript:alert(1)" },
      { client_secret: "s", send_attempt: 1 },
    ];
    const since = sink.mails.length;
    for (const json of bad) {
      const res = await api.post(`${V3}/account/3pid/email/requestToken`, json);
      expect(res.status, JSON.stringify(json)).to.equal(400);
    }
    await new Promise((done) => setTimeout(done, 200));
    expect(sink.mails.length).to.equal(since);
  });

  it("advertises m.3pid_changes", async () => {
    const user = await registerUser(api);
    const caps = await api.get<{ capabilities: Record<string, unknown> }>(`${V3}/capabilities`, { token: user.access_token });
    expect(caps.body.capabilities["m.3pid_changes"]).to.deep.equal({ enabled: true });
  });

  it("answers M_EMAIL_SEND_ERROR while the mail server is down, binds nothing, and delivers once it is back", async () => {
    const user = await registerUser(api);
    const email = newAddress();
    const clientSecret = secret();
    const port = sink.port;
    await sink.stop();
    try {
      const down = await requestToken("account/3pid", email, clientSecret);
      expect(down.status).to.equal(502);
      expect(down.body.errcode).to.equal("M_EMAIL_SEND_ERROR");
      expect(await threepids(user)).to.deep.equal([]);
    } finally {
      sink = await startSmtpSink(port);
    }
    // The job retries (2 s, then 4 s …) and the mail arrives.
    const mail = await sink.waitForMail(email, { timeoutMs: 20_000 });
    const repeat = await requestToken("account/3pid", email, clientSecret);
    expect(repeat.status).to.equal(200);
    const sid = repeat.body.sid;
    const early = await add(user, { sid, clientSecret });
    expect(early.body.errcode).to.equal("M_THREEPID_AUTH_FAILED");
    expect(await threepids(user)).to.deep.equal([]);
    expect((await fetch(linkIn(mail))).status).to.equal(200);
    expect((await add(user, { sid, clientSecret })).status).to.equal(200);
    expect((await threepids(user)).map((t) => t.address)).to.deep.equal([email]);
  });

  describe("with a short link lifetime", () => {
    let short: RunningServer;
    before(async () => {
      // Its own Redis prefix: otherwise the first server's worker, sharing the queue, would send this server's mails with its templates.
      short = await emailServer(
        sink,
        { validation_token_lifetime_ms: 2000, templates: { add_threepid: { subject: "Confirm {server_name}", text: "Token {token}: {link} (valid {lifetime})" } } },
        { redis: { key_prefix: `${testRedisPrefix}short:` } },
      );
    });
    after(async () => {
      await short?.stop();
    });

    it("uses the configured template, and refuses the link once it has expired", async () => {
      const email = newAddress();
      const client = new TestClient(short.baseUrl);
      const since = sink.mails.length;
      const res = await client.post(`${V3}/account/3pid/email/requestToken`, { email, client_secret: secret(), send_attempt: 1 });
      expect(res.status).to.equal(200);
      const mail = await sink.waitForMail(email, { since });
      expect(mail.subject).to.equal("Confirm localhost");
      const link = linkIn(mail);
      expect(mail.text.trim()).to.equal(`Token ${link.searchParams.get("token")}: ${link.href} (valid 2 seconds)`);
      await new Promise((done) => setTimeout(done, 2200));
      const page = await fetch(linkIn(mail));
      expect(page.status).to.equal(400);
    });
  });

  describe("with the email worker in its own process", () => {
    const started: RunningServer[] = [];
    after(async () => {
      await Promise.all(started.map((s) => s.stop()));
    });

    it("queues from the API process, and a worker started after Redis lost the job re-sends from PostgreSQL with a new token", async () => {
      const prefix = `${testRedisPrefix}roles:`;
      const port = await freePort();
      const config = {
        public_baseurl: `http://127.0.0.1:${port}`,
        listeners: { client: { port } },
        redis: { key_prefix: prefix },
        email: { smtp_host: "127.0.0.1", smtp_port: sink.port, notif_from: "Myelin <noreply@example.org>", send_wait_ms: 300 },
      };
      const apiOnly = await startServer({ config, args: ["--role", "api"] });
      started.push(apiOnly);
      const client = new TestClient(apiOnly.baseUrl);
      const email = newAddress();
      const since = sink.mails.length;
      // No worker: the answer comes once the wait is over, and no mail goes.
      const res = await client.post<{ sid: string }>(`${V3}/account/3pid/email/requestToken`, { email, client_secret: secret(), send_attempt: 1 });
      expect(res.status).to.equal(200);
      await new Promise((done) => setTimeout(done, 300));
      expect(sink.mails.slice(since).filter((m) => m.to.includes(email))).to.deep.equal([]);

      await deleteRedisKeys(prefix);
      const worker = await startServer({ config, args: ["--role", "worker:email"], workerOnly: true });
      started.push(worker);
      const mail = await sink.waitForMail(email, { since });
      expect(worker.logs().some((l) => l.msg === "validation mails re-queued from PostgreSQL")).to.equal(true);
      const page = await fetch(linkIn(mail));
      expect(page.status).to.equal(200);
    });
  });

  describe("without a mail server", () => {
    let plain: RunningServer;
    before(async () => {
      plain = await startServer();
    });
    after(async () => {
      await plain?.stop();
    });

    it("answers M_THREEPID_MEDIUM_NOT_SUPPORTED, offers no e-mail flows, keeps /account/password behind a token", async () => {
      const client = new TestClient(plain.baseUrl);
      for (const path of ["register", "account/password", "account/3pid"]) {
        const res = await client.post(`${V3}/${path}/email/requestToken`, { email: newAddress(), client_secret: "s", send_attempt: 1 });
        expect(res.body.errcode, path).to.equal("M_THREEPID_MEDIUM_NOT_SUPPORTED");
      }
      const register = await client.post<Uia>(`${V3}/register`, { username: uniqueLocalpart(), password: "p" });
      expect(register.body.flows).to.deep.equal([{ stages: ["m.login.dummy"] }]);
      // The spec's 401 here is the UIA answer; without e-mail there is none to give, only the standard error.
      const reset = await client.post(`${V3}/account/password`, { new_password: "x" }, { unspecified: true });
      expectStandardError("POST", `${V3}/account/password`, reset.status, reset.body);
      expect(reset.status).to.equal(401);
      expect(reset.body.errcode).to.equal("M_MISSING_TOKEN");
      const user = await registerUser(client);
      expect((await client.get<{ threepids: unknown[] }>(`${V3}/account/3pid`, { token: user.access_token })).body.threepids).to.deep.equal([]);
    });
  });
});
