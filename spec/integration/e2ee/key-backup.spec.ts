// Server-side key backup through the public API: versions (create, get,
// update, delete), keys at the three levels, the spec's rules for replacing
// a stored key, etag and count, and the errors for wrong versions and bad
// input.
import { expect } from "chai";
import { registerUser, type TestUser } from "../../support/accounts.ts";
import { V3 } from "../../support/e2ee.ts";
import { TestClient } from "../../support/http-client.ts";
import { startServer, type RunningServer } from "../../support/server-process.ts";

const ALGORITHM = "m.megolm_backup.v1.curve25519-aes-sha2";
const ROOM = "!backup:localhost";
type Res = { status: number; body: Record<string, any> };

const session = (firstMessageIndex: number, forwardedCount: number, isVerified: boolean, tag = "x") => ({
  first_message_index: firstMessageIndex,
  forwarded_count: forwardedCount,
  is_verified: isVerified,
  session_data: { ephemeral: "ZXBoZW1lcmFs", ciphertext: `Y2lwaGVy${tag}`, mac: "bWFj" },
});

describe("E2EE key backup (real server process)", function () {
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

  const call = (user: TestUser, method: string, path: string, json?: unknown): Promise<Res> =>
    api.request<Record<string, any>>(method, `${V3}/room_keys${path}`, { token: user.access_token, ...(json !== undefined ? { json } : {}) });
  const create = async (user: TestUser, authData: Record<string, unknown> = { public_key: "cHVibGlj", signatures: {} }) => {
    const res = await call(user, "POST", "/version", { algorithm: ALGORITHM, auth_data: authData });
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    return res.body.version as string;
  };
  const expectError = (res: Res, status: number, errcode: string) => {
    expect(res.status, JSON.stringify(res.body)).to.equal(status);
    expect(res.body.errcode).to.equal(errcode);
  };

  it("creates numbered versions; the newest is current, and each user sees only their own", async () => {
    const alice = await registerUser(api);
    const bob = await registerUser(api);
    expectError(await call(alice, "GET", "/version"), 404, "M_NOT_FOUND");
    expect(await create(alice)).to.equal("1");
    expect(await create(alice, { public_key: "c2Vjb25k" })).to.equal("2");
    const current = await call(alice, "GET", "/version");
    expect(current.body).to.deep.equal({ version: "2", algorithm: ALGORITHM, auth_data: { public_key: "c2Vjb25k" }, count: 0, etag: "0" });
    expect((await call(alice, "GET", "/version/1")).body.version).to.equal("1");
    expectError(await call(bob, "GET", "/version"), 404, "M_NOT_FOUND");
    expectError(await call(bob, "GET", "/version/1"), 404, "M_NOT_FOUND");
    expectError(await call(alice, "GET", "/version/nonsense"), 404, "M_NOT_FOUND");
  });

  it("stores and reads keys at all three levels, with count and etag", async () => {
    const alice = await registerUser(api);
    const v = await create(alice);
    const one = await call(alice, "PUT", `/keys/${encodeURIComponent(ROOM)}/s1?version=${v}`, session(0, 0, true, "a"));
    expect(one.body).to.deep.equal({ etag: "1", count: 1 });
    const room = await call(alice, "PUT", `/keys/${encodeURIComponent(ROOM)}?version=${v}`, { sessions: { s2: session(0, 0, false, "b"), s3: session(2, 1, false, "c") } });
    expect(room.body).to.deep.equal({ etag: "2", count: 3 });
    const all = await call(alice, "PUT", `/keys?version=${v}`, { rooms: { "!other:localhost": { sessions: { s4: session(0, 0, false, "d") } } } });
    expect(all.body).to.deep.equal({ etag: "3", count: 4 });

    expect((await call(alice, "GET", `/keys/${encodeURIComponent(ROOM)}/s1?version=${v}`)).body).to.deep.equal(session(0, 0, true, "a"));
    expect(Object.keys((await call(alice, "GET", `/keys/${encodeURIComponent(ROOM)}?version=${v}`)).body.sessions).sort()).to.deep.equal(["s1", "s2", "s3"]);
    const everything = (await call(alice, "GET", `/keys?version=${v}`)).body;
    expect(Object.keys(everything.rooms).sort()).to.deep.equal(["!backup:localhost", "!other:localhost"]);
    expect(everything.rooms["!other:localhost"].sessions.s4).to.deep.equal(session(0, 0, false, "d"));
    expect((await call(alice, "GET", `/keys/${encodeURIComponent("!empty:localhost")}?version=${v}`)).body).to.deep.equal({ sessions: {} });
    expectError(await call(alice, "GET", `/keys/${encodeURIComponent(ROOM)}/nosuch?version=${v}`), 404, "M_NOT_FOUND");
    const info = (await call(alice, "GET", `/version/${v}`)).body;
    expect([info.count, info.etag]).to.deep.equal([4, "3"]);

    expect((await call(alice, "DELETE", `/keys/${encodeURIComponent(ROOM)}/s1?version=${v}`)).body).to.deep.equal({ etag: "4", count: 3 });
    expect((await call(alice, "DELETE", `/keys/${encodeURIComponent(ROOM)}?version=${v}`)).body).to.deep.equal({ etag: "5", count: 1 });
    expect((await call(alice, "DELETE", `/keys?version=${v}`)).body).to.deep.equal({ etag: "6", count: 0 });
    expect((await call(alice, "GET", `/keys?version=${v}`)).body).to.deep.equal({ rooms: {} });
  });

  it("replaces a stored key only by a better one: verified, then lower first_message_index, then lower forwarded_count", async () => {
    const alice = await registerUser(api);
    const v = await create(alice);
    const path = `/keys/${encodeURIComponent(ROOM)}/s?version=${v}`;
    const stored = async () => (await call(alice, "GET", path)).body;
    await call(alice, "PUT", path, session(5, 3, false, "first"));
    const tries: Array<[ReturnType<typeof session>, boolean]> = [
      [session(6, 0, false, "later index"), false],
      [session(5, 4, false, "more forwards"), false],
      [session(5, 2, false, "fewer forwards"), true],
      [session(4, 9, false, "lower index"), true],
      [session(9, 9, true, "verified"), true],
      [session(0, 0, false, "unverified"), false],
      [session(9, 9, true, "same"), false],
    ];
    for (const [candidate, wins] of tries) {
      const before = await stored();
      const res = await call(alice, "PUT", path, candidate);
      expect(res.status).to.equal(200);
      expect(await stored(), candidate.session_data.ciphertext).to.deep.equal(wins ? candidate : before);
      expect(res.body.count).to.equal(1);
    }
  });

  it("writes only to the current version (403 M_WRONG_ROOM_KEYS_VERSION with current_version)", async () => {
    const alice = await registerUser(api);
    expectError(await call(alice, "PUT", `/keys?version=1`, { rooms: {} }), 404, "M_NOT_FOUND");
    const old = await create(alice);
    const current = await create(alice);
    const res = await call(alice, "PUT", `/keys/${encodeURIComponent(ROOM)}/s?version=${old}`, session(0, 0, false));
    expectError(res, 403, "M_WRONG_ROOM_KEYS_VERSION");
    expect(res.body.current_version).to.equal(current);
  });

  it("updates auth_data only, with the same algorithm and version", async () => {
    const alice = await registerUser(api);
    const v = await create(alice);
    expect((await call(alice, "PUT", `/version/${v}`, { algorithm: ALGORITHM, auth_data: { public_key: "bmV3" }, version: v })).status).to.equal(200);
    expect((await call(alice, "GET", `/version/${v}`)).body.auth_data).to.deep.equal({ public_key: "bmV3" });
    expectError(await call(alice, "PUT", `/version/${v}`, { algorithm: "org.example.other", auth_data: {} }), 400, "M_INVALID_PARAM");
    expectError(await call(alice, "PUT", `/version/${v}`, { algorithm: ALGORITHM, auth_data: {}, version: "7" }), 400, "M_INVALID_PARAM");
    expectError(await call(alice, "PUT", `/version/99`, { algorithm: ALGORITHM, auth_data: {} }), 404, "M_NOT_FOUND");
  });

  it("deletes a version with its keys; deleting it again succeeds; the previous version becomes current; numbers are not reused", async () => {
    const alice = await registerUser(api);
    const first = await create(alice);
    const second = await create(alice);
    await call(alice, "PUT", `/keys/${encodeURIComponent(ROOM)}/s?version=${second}`, session(0, 0, false));
    expect((await call(alice, "DELETE", `/version/${second}`)).status).to.equal(200);
    expect((await call(alice, "DELETE", `/version/${second}`)).status, "again").to.equal(200);
    expectError(await call(alice, "DELETE", `/version/99`), 404, "M_NOT_FOUND");
    expectError(await call(alice, "GET", `/version/${second}`), 404, "M_NOT_FOUND");
    expectError(await call(alice, "GET", `/keys?version=${second}`), 404, "M_NOT_FOUND");
    expect((await call(alice, "GET", "/version")).body.version).to.equal(first);
    expect(await create(alice)).to.equal("3");
  });

  it("answers bad input with M_MISSING_PARAM, M_BAD_JSON and M_INVALID_PARAM", async () => {
    const alice = await registerUser(api);
    const v = await create(alice);
    expectError(await call(alice, "GET", "/keys"), 400, "M_MISSING_PARAM");
    expectError(await call(alice, "PUT", `/keys/${encodeURIComponent(ROOM)}/s?version=${v}`, { ...session(0, 0, false), first_message_index: "0" }), 400, "M_BAD_JSON");
    expectError(await call(alice, "PUT", `/keys/${encodeURIComponent(ROOM)}/s?version=${v}`, { ...session(0, 0, false), is_verified: "yes" }), 400, "M_BAD_JSON");
    expectError(await call(alice, "PUT", `/keys/${encodeURIComponent(ROOM)}?version=${v}`, { sessions: [] }), 400, "M_BAD_JSON");
    expectError(await call(alice, "PUT", `/keys?version=${v}`, { rooms: "all" }), 400, "M_BAD_JSON");
    expectError(await call(alice, "POST", "/version", { algorithm: ALGORITHM }), 400, "M_BAD_JSON");
    expectError(await call(alice, "POST", "/version", { auth_data: {} }), 400, "M_BAD_JSON");
    expect((await call(alice, "GET", `/version/${v}`)).body.count).to.equal(0);
  });
});
