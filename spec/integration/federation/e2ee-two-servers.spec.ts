// End-to-end encryption across two real server processes: the federation
// key endpoints (/user/keys/query, /user/keys/claim, /user/devices), remote
// users in /keys/query and /keys/claim (answered from the device-list cache
// once tracked), m.device_list_update and m.signing_key_update reaching the
// other server's /sync and /keys/changes, a resync after an update was lost,
// to-device messages across servers delivered exactly once, and the cache
// dropped with `left` once no room is shared.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import { authorizationHeader } from "../../../federation/transport/federation-client.ts";
import type { JsonObject } from "../../../server/protocol/json.ts";
import { parseSigningKeyFile, publicKeyBase64, signJson, type SigningKey } from "../../../server/protocol/signing.ts";
import { createDatabase, type Database } from "../../../server/storage/database.ts";
import { loginDevice, registerUser, type TestUser } from "../../support/accounts.ts";
import { dropDatabase } from "../../support/admin-db.ts";
import { crossSigningSet, TestDevice } from "../../support/e2ee.ts";
import { eventually } from "../../support/eventually.ts";
import { federationRequest, startFederatedServer, type FederatedServer, type RawResponse } from "../../support/federation.ts";
import { TestClient } from "../../support/http-client.ts";
import { expectSpecResponse } from "../../support/openapi.ts";
import { createRoom, nextTxnId, room, V3 } from "../../support/rooms.ts";
import { databaseUrl } from "../../support/test-env.ts";

type Lists = { changed: string[]; left: string[] };
type Body = Record<string, any>;

describe("end-to-end encryption across two server processes", function () {
  this.timeout(120_000);
  let a: FederatedServer;
  let b: FederatedServer;
  let apiA: TestClient;
  let apiB: TestClient;
  let dbA: Database;
  let dbB: Database;
  let keyB: SigningKey;
  let alice: TestUser;
  let bob: TestUser;
  let aliceDevice: TestDevice;
  let bobDevice: TestDevice;
  let aliceKeys: ReturnType<typeof crossSigningSet>;
  let roomId: string;
  let serial = 0;

  before(async () => {
    [a, b] = await Promise.all([startFederatedServer(), startFederatedServer()]);
    apiA = new TestClient(a.baseUrl);
    apiB = new TestClient(b.baseUrl);
    dbA = createDatabase(databaseUrl(a.databaseName), { max: 2 });
    dbB = createDatabase(databaseUrl(b.databaseName), { max: 2 });
    keyB = parseSigningKeyFile(readFileSync(join(b.dir, "signing.key"), "utf8"))[0]!;
    [alice, bob] = await Promise.all([registerUser(apiA), registerUser(apiB)]);
    aliceDevice = new TestDevice(alice);
    bobDevice = new TestDevice(bob);
    expect((await aliceDevice.upload(apiA, { device_keys: aliceDevice.deviceKeys(), one_time_keys: aliceDevice.oneTimeKeys(3) })).status).to.equal(200);
    expect((await bobDevice.upload(apiB, { device_keys: bobDevice.deviceKeys(), one_time_keys: bobDevice.oneTimeKeys(3) })).status).to.equal(200);
    roomId = await createRoom(apiA, alice, { preset: "public_chat" });
    const joined = await apiB.post(`${V3}/join/${encodeURIComponent(roomId)}?server_name=${encodeURIComponent(a.serverName)}`, {}, { token: bob.access_token });
    expect(joined.status, JSON.stringify(joined.body)).to.equal(200);
  });
  after(async () => {
    await Promise.all([dbA?.close(), dbB?.close()]);
    await Promise.all([a?.destroy(), b?.stop()]);
    if (b) await dropDatabase(b.databaseName);
  });

  /** A federation request to A as server B, signed with B's real key. */
  async function asB(method: "GET" | "POST" | "PUT", path: string, body?: JsonObject): Promise<RawResponse> {
    return federationRequest(a.federationUrl!, method, path, {
      ...(body ? { json: body } : {}),
      headers: { Authorization: authorizationHeader(b.serverName, a.serverName, keyB, method, path, body) },
    });
  }
  /** A transaction of EDUs from B to A. */
  const edusAsB = (edus: JsonObject[]) => asB("PUT", `/_matrix/federation/v1/send/e2ee-${Date.now()}-${++serial}`, { origin: b.serverName, origin_server_ts: Date.now(), pdus: [], edus });

  const query = async (api: TestClient, viewer: TestUser, userIds: string[]): Promise<Body> => {
    const res = await api.post<Body>(`${V3}/keys/query`, { device_keys: Object.fromEntries(userIds.map((u) => [u, []])) }, { token: viewer.access_token });
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    return res.body;
  };
  const token = async (api: TestClient, user: TestUser): Promise<string> => (await api.get<Body>(`${V3}/sync?timeout=0`, { token: user.access_token })).body.next_batch;
  const listsSince = async (api: TestClient, user: TestUser, since: string): Promise<Lists> =>
    (await api.get<Body>(`${V3}/sync?since=${since}&timeout=0`, { token: user.access_token })).body.device_lists as Lists;
  const changes = async (api: TestClient, user: TestUser, from: string): Promise<Lists> => {
    const to = await token(api, user);
    return (await api.get<Lists>(`${V3}/keys/changes?from=${from}&to=${to}`, { token: user.access_token })).body;
  };
  /** Requests server A logged for this route template (A logs each request it answered). */
  const requestsOnA = (route: string) => a.logs().filter((l) => l.route === route).length;
  const cachedOnB = async (userId: string) => (await dbB.query<{ stream_id: number }>(`SELECT stream_id FROM e2e_remote_device_lists WHERE user_id = $1`, [userId])).rows[0];
  const login = (api: TestClient, user: TestUser): Promise<TestUser> => loginDevice(api, user);

  it("gives bob's /keys/query on B alice's keys through A, then answers from B's cache while they share a room", async () => {
    const first = await query(apiB, bob, [alice.user_id, bob.user_id]);
    expect(first.failures).to.deep.equal({});
    expect(first.device_keys[alice.user_id][alice.device_id].keys[`ed25519:${alice.device_id}`]).to.equal(aliceDevice.ed25519);
    expect(first.device_keys[alice.user_id][alice.device_id].unsigned, "no device names over federation").to.deep.equal({});
    expect(Object.keys(first.device_keys[bob.user_id])).to.deep.equal([bob.device_id]);
    // Bob shares a room with alice: B fetched her whole list (GET /user/devices) and keeps it.
    expect(await cachedOnB(alice.user_id)).to.not.equal(undefined);
    const before = requestsOnA("/_matrix/federation/v1/user/devices/:userId") + requestsOnA("/_matrix/federation/v1/user/keys/query");
    const again = await query(apiB, bob, [alice.user_id]);
    expect(again.device_keys[alice.user_id]).to.deep.equal(first.device_keys[alice.user_id]);
    expect(requestsOnA("/_matrix/federation/v1/user/devices/:userId") + requestsOnA("/_matrix/federation/v1/user/keys/query"), "answered from B's cache").to.equal(before);
  });

  it("claims one-time keys of a remote user through its server, each once", async () => {
    const claim = async () => {
      const res = await apiB.post<Body>(`${V3}/keys/claim`, { one_time_keys: { [alice.user_id]: { [alice.device_id]: "signed_curve25519" } } }, { token: bob.access_token });
      expect(res.status).to.equal(200);
      expect(res.body.failures).to.deep.equal({});
      return Object.keys(res.body.one_time_keys[alice.user_id][alice.device_id]);
    };
    const [one, two] = [await claim(), await claim()];
    expect(one).to.have.length(1);
    expect(two).to.have.length(1);
    expect(one[0]).to.not.equal(two[0]);
    // And the other way: alice claims bob's key through B.
    const res = await apiA.post<Body>(`${V3}/keys/claim`, { one_time_keys: { [bob.user_id]: { [bob.device_id]: "signed_curve25519" } } }, { token: alice.access_token });
    expect(Object.keys(res.body.one_time_keys[bob.user_id][bob.device_id])[0]).to.match(/^signed_curve25519:/);
  });

  it("reports a new device of alice in bob's /sync and /keys/changes on B, and B's cache serves it (m.device_list_update)", async () => {
    const from = await token(apiB, bob);
    const phone = await login(apiA, alice);
    const phoneDevice = new TestDevice(phone);
    await phoneDevice.upload(apiA, { device_keys: phoneDevice.deviceKeys() });
    const lists = await eventually("alice in bob's device_lists.changed", async () => {
      const l = await listsSince(apiB, bob, from);
      return l.changed.includes(alice.user_id) ? l : undefined;
    });
    expect(lists.changed).to.deep.equal([alice.user_id]);
    expect((await changes(apiB, bob, from)).changed).to.deep.equal([alice.user_id]);
    const q = await query(apiB, bob, [alice.user_id]);
    expect(Object.keys(q.device_keys[alice.user_id]).sort()).to.deep.equal([alice.device_id, phone.device_id].sort());
    // The phone logs out: the deletion reaches B too.
    const since = await token(apiB, bob);
    expect((await apiA.post(`${V3}/logout`, {}, { token: phone.access_token })).status).to.equal(200);
    await eventually("the phone gone from B's answer", async () => {
      const l = await listsSince(apiB, bob, since);
      if (!l.changed.includes(alice.user_id)) return undefined;
      return Object.keys((await query(apiB, bob, [alice.user_id])).device_keys[alice.user_id]).includes(phone.device_id) ? undefined : true;
    });
    const cached = await cachedOnB(alice.user_id);
    const onA = (await dbA.query<{ stream_id: number }>(`SELECT stream_id FROM e2e_device_list_stream_ids WHERE user_id = $1`, [alice.user_id])).rows[0];
    expect(cached?.stream_id, "B holds A's latest version of the list").to.equal(onA?.stream_id);
  });

  it("carries alice's cross-signing keys and her self-signature on a device to B (m.signing_key_update)", async () => {
    const from = await token(apiB, bob);
    aliceKeys = crossSigningSet(alice);
    expect((await apiA.post(`${V3}/keys/device_signing/upload`, aliceKeys.body, { token: alice.access_token })).status).to.equal(200);
    const masterId = `ed25519:${publicKeyBase64(aliceKeys.master)}`;
    await eventually("alice's master key on B", async () => ((await query(apiB, bob, [alice.user_id])).master_keys[alice.user_id]?.keys[masterId] ? true : undefined));
    expect((await listsSince(apiB, bob, from)).changed).to.include(alice.user_id);
    const q = await query(apiB, bob, [alice.user_id]);
    expect(q.self_signing_keys[alice.user_id].usage).to.deep.equal(["self_signing"]);
    expect(q.user_signing_keys, "the user-signing key never leaves A").to.deep.equal({});
    // Alice signs her device with her self-signing key: B's answer carries the signature.
    const stored = (await query(apiA, alice, [alice.user_id])).device_keys[alice.user_id][alice.device_id];
    const { unsigned: _u, ...storedKeys } = stored;
    const signed = signJson(storedKeys, alice.user_id, aliceKeys.selfSigning);
    const up = await apiA.post<Body>(`${V3}/keys/signatures/upload`, { [alice.user_id]: { [alice.device_id]: signed } }, { token: alice.access_token });
    expect(up.body.failures).to.deep.equal({});
    const sskId = `ed25519:${publicKeyBase64(aliceKeys.selfSigning)}`;
    await eventually("the self-signature on B", async () => ((await query(apiB, bob, [alice.user_id])).device_keys[alice.user_id][alice.device_id].signatures[alice.user_id][sskId] ? true : undefined));
  });

  it("answers /user/keys/query, /user/keys/claim and /user/devices for its own users only, as the spec shapes them", async () => {
    const path = "/_matrix/federation/v1/user/keys/query";
    const q = await asB("POST", path, { device_keys: { [alice.user_id]: [] } });
    expect(q.status, JSON.stringify(q.body)).to.equal(200);
    expectSpecResponse("POST", path, 200, q.body);
    expect(Object.keys(q.body.device_keys[alice.user_id])).to.deep.equal([alice.device_id]);
    expect(q.body.master_keys[alice.user_id].keys).to.have.property(`ed25519:${publicKeyBase64(aliceKeys.master)}`);
    expect(q.body).to.not.have.property("user_signing_keys");

    const devicesPath = `/_matrix/federation/v1/user/devices/${encodeURIComponent(alice.user_id)}`;
    const d = await asB("GET", devicesPath);
    expect(d.status).to.equal(200);
    expectSpecResponse("GET", devicesPath, 200, d.body);
    expect(d.body.user_id).to.equal(alice.user_id);
    expect(d.body.stream_id).to.be.a("number").and.greaterThan(0);
    expect(d.body.devices.map((x: Body) => x.device_id)).to.deep.equal([alice.device_id]);
    expect(d.body.devices[0]).to.not.have.property("device_display_name");
    expect(d.body.master_key.usage).to.deep.equal(["master"]);
    expect(d.body.self_signing_key.usage).to.deep.equal(["self_signing"]);

    const claimPath = "/_matrix/federation/v1/user/keys/claim";
    const c = await asB("POST", claimPath, { one_time_keys: { [alice.user_id]: { [alice.device_id]: "signed_curve25519" } } });
    expect(c.status).to.equal(200);
    expectSpecResponse("POST", claimPath, 200, c.body);
    expect(Object.keys(c.body.one_time_keys[alice.user_id][alice.device_id])).to.have.length(1);

    // Another server's users, malformed bodies and unsigned requests are refused.
    for (const res of [
      await asB("POST", path, { device_keys: { [bob.user_id]: [] } }),
      await asB("POST", claimPath, { one_time_keys: { [bob.user_id]: { [bob.device_id]: "signed_curve25519" } } }),
      await asB("GET", `/_matrix/federation/v1/user/devices/${encodeURIComponent(bob.user_id)}`),
    ]) {
      expect(res.status).to.equal(400);
      expect(res.body.errcode).to.equal("M_INVALID_PARAM");
    }
    expect((await asB("POST", path, { device_keys: [] as unknown as JsonObject })).body.errcode).to.equal("M_BAD_JSON");
    expect((await asB("POST", path, {})).body.errcode).to.equal("M_MISSING_PARAM");
    expect((await federationRequest(a.federationUrl!, "GET", devicesPath)).status).to.equal(401);
  });

  it("delivers to-device messages across servers exactly once, both ways", async () => {
    const aliceFrom = await token(apiA, alice);
    const bobFrom = await token(apiB, bob);
    const toDevice = async (events: Body[]) => events.filter((e) => e.type === "org.example.test");
    const txnId = nextTxnId();
    const send = () =>
      apiB.put(`${V3}/sendToDevice/org.example.test/${txnId}`, { messages: { [alice.user_id]: { "*": { n: "from bob" } } } }, { token: bob.access_token });
    expect((await send()).status).to.equal(200);
    expect((await send()).status, "a retried transaction").to.equal(200);
    const got = await eventually("bob's message on A", async () => {
      const s = await apiA.get<Body>(`${V3}/sync?since=${aliceFrom}&timeout=0`, { token: alice.access_token });
      const events = await toDevice(s.body.to_device.events);
      return events.length > 0 ? events : undefined;
    });
    expect(got).to.deep.equal([{ sender: bob.user_id, type: "org.example.test", content: { n: "from bob" } }]);
    // Alice answers bob's device by name.
    expect((await apiA.put(`${V3}/sendToDevice/org.example.test/${nextTxnId()}`, { messages: { [bob.user_id]: { [bob.device_id]: { n: "from alice" } } } }, { token: alice.access_token })).status).to.equal(200);
    const back = await eventually("alice's message on B", async () => {
      const s = await apiB.get<Body>(`${V3}/sync?since=${bobFrom}&timeout=0`, { token: bob.access_token });
      const events = await toDevice(s.body.to_device.events);
      return events.length > 0 ? events : undefined;
    });
    expect(back).to.deep.equal([{ sender: alice.user_id, type: "org.example.test", content: { n: "from alice" } }]);
    // Nothing more arrives later: still one message from bob on A.
    await new Promise((r) => setTimeout(r, 1000));
    const later = await apiA.get<Body>(`${V3}/sync?since=${aliceFrom}&timeout=0`, { token: alice.access_token });
    expect(await toDevice(later.body.to_device.events)).to.have.length(1);
  });

  it("delivers a resent to-device EDU once, and ignores one whose sender is not the origin's", async () => {
    const from = await token(apiA, alice);
    const edu = (messageId: string, sender: string): JsonObject => ({
      edu_type: "m.direct_to_device",
      content: { sender, type: "org.example.edu", message_id: messageId, messages: { [alice.user_id]: { [alice.device_id]: { id: messageId } } } },
    });
    const id = `m${Date.now()}`;
    for (let i = 0; i < 2; i++) expect((await edusAsB([edu(id, bob.user_id)])).status).to.equal(200);
    expect((await edusAsB([edu(`${id}-spoof`, alice.user_id)])).status).to.equal(200);
    const s = await apiA.get<Body>(`${V3}/sync?since=${from}&timeout=0`, { token: alice.access_token });
    expect(s.body.to_device.events.filter((e: Body) => e.type === "org.example.edu")).to.deep.equal([{ sender: bob.user_id, type: "org.example.edu", content: { id } }]);
  });

  it("keeps to-device messages for a server that is down, resyncs with GET /user/devices when an update was lost, and ignores updates about users it shares no room with", async () => {
    // B goes down; alice adds a device; the update owed to B is lost (as when it waited past the outbox's retention).
    await b.stop();
    const tablet = await login(apiA, alice);
    const tabletDevice = new TestDevice(tablet);
    await tabletDevice.upload(apiA, { device_keys: tabletDevice.deviceKeys() });
    // A to-device message for bob waits in A's outbox too (it is not lost).
    expect((await apiA.put(`${V3}/sendToDevice/org.example.test/${nextTxnId()}`, { messages: { [bob.user_id]: { "*": { n: "while B was down" } } } }, { token: alice.access_token })).status).to.equal(200);
    const lost = await dbA.query(`DELETE FROM federation_edu_outbox WHERE destination = $1 AND edu_type = 'm.device_list_update'`, [b.serverName]);
    expect(lost.rowCount, "the tablet's update was waiting for B").to.be.greaterThan(0);
    b = await startFederatedServer({
      serverName: b.serverName,
      federationPort: b.federationPort,
      databaseName: b.databaseName,
      config: { signing_key_path: join(b.dir, "signing.key") },
    });
    apiB = new TestClient(b.baseUrl);
    // Any request from B ends A's backoff for it.
    await query(apiB, bob, [alice.user_id]);
    await eventually("the waiting to-device message on B", async () => {
      const s = await apiB.get<Body>(`${V3}/sync?timeout=0`, { token: bob.access_token });
      return s.body.to_device.events.some((e: Body) => e.content.n === "while B was down") ? true : undefined;
    });
    expect(Object.keys((await query(apiB, bob, [alice.user_id])).device_keys[alice.user_id]), "B still holds the list it had").to.not.include(tablet.device_id);

    // The next update names a prev_id B never saw: B fetches the whole list.
    const from = await token(apiB, bob);
    const fetchesBefore = requestsOnA("/_matrix/federation/v1/user/devices/:userId");
    const laptop = await login(apiA, alice);
    const laptopDevice = new TestDevice(laptop);
    await laptopDevice.upload(apiA, { device_keys: laptopDevice.deviceKeys() });
    await eventually("both new devices on B", async () => {
      const ids = Object.keys((await query(apiB, bob, [alice.user_id])).device_keys[alice.user_id]);
      return ids.includes(tablet.device_id) && ids.includes(laptop.device_id) ? true : undefined;
    });
    expect(requestsOnA("/_matrix/federation/v1/user/devices/:userId"), "a resync").to.be.greaterThan(fetchesBefore);
    expect(b.logs().some((l) => l.msg === "device list update after a gap: resyncing")).to.equal(true);
    expect((await listsSince(apiB, bob, from)).changed).to.include(alice.user_id);

    // An update about a user of B who shares no room with A's users is not kept.
    const carol = await registerUser(apiB);
    const res = await edusAsB([{ edu_type: "m.device_list_update", content: { user_id: carol.user_id, device_id: carol.device_id, stream_id: 1, prev_id: [] } }]);
    expect(res.status).to.equal(200);
    expect((await dbA.query(`SELECT 1 FROM e2e_remote_device_lists WHERE user_id = $1`, [carol.user_id])).rowCount).to.equal(0);
  });

  it("reports bob as left to alice once no room is shared, and B stops keeping alice's list", async () => {
    const from = await token(apiA, alice);
    expect((await apiB.post(`${room(roomId)}/leave`, {}, { token: bob.access_token })).status).to.equal(200);
    const lists = await eventually("bob in alice's device_lists.left", async () => {
      const l = await listsSince(apiA, alice, from);
      return l.left.includes(bob.user_id) ? l : undefined;
    });
    expect(lists.changed).to.not.include(bob.user_id);
    await eventually("alice's list dropped on B", async () => ((await cachedOnB(alice.user_id)) === undefined ? true : undefined));
    // Keys are still answered, now by asking A each time.
    const q = await query(apiB, bob, [alice.user_id]);
    expect(q.device_keys[alice.user_id]).to.have.property(alice.device_id);
    expect(await cachedOnB(alice.user_id)).to.equal(undefined);
  });
});
