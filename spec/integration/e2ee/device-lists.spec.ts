// Device-list tracking through the public API: a user's key upload, device
// deletion or rename shows in device_lists.changed of everyone sharing a
// room (and wakes their long-polls), not of strangers; joins and leaves
// show in changed and left; GET /keys/changes answers the same between two
// sync tokens.
import { expect } from "chai";
import { registerUser, type TestUser } from "../../support/accounts.ts";
import { TestDevice, V3 } from "../../support/e2ee.ts";
import { TestClient } from "../../support/http-client.ts";
import { createRoom, join, sync } from "../../support/rooms.ts";
import { startServer, type RunningServer } from "../../support/server-process.ts";

type Lists = { changed: string[]; left: string[] };

describe("E2EE device lists (real server process)", function () {
  this.timeout(60_000);
  let server: RunningServer;
  let api: TestClient;
  let alice: TestUser;
  let bob: TestUser;
  let carol: TestUser;
  let roomId: string;

  before(async () => {
    server = await startServer();
    api = new TestClient(server.baseUrl);
    [alice, bob, carol] = await Promise.all([registerUser(api), registerUser(api), registerUser(api)]);
    roomId = await createRoom(api, alice, { preset: "public_chat" });
    await join(api, bob, roomId);
  });
  after(async () => {
    await server?.stop();
  });

  const token = async (user: TestUser) => (await sync(api, user)).next_batch;
  const listsSince = async (user: TestUser, since: string, timeout = 0): Promise<Lists & { next_batch: string }> => {
    const s = (await sync(api, user, `?since=${since}&timeout=${timeout}`)) as unknown as { device_lists: Lists; next_batch: string };
    return { ...s.device_lists, next_batch: s.next_batch };
  };
  const changes = async (user: TestUser, from: string, to: string) => {
    const res = await api.get<Lists>(`${V3}/keys/changes?from=${from}&to=${to}`, { token: user.access_token });
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    return res.body;
  };
  const login = async (user: TestUser) => {
    const res = await api.post<TestUser>(`${V3}/login`, { type: "m.login.password", identifier: { type: "m.id.user", user: user.user_id }, password: user.password });
    return { ...res.body, password: user.password };
  };

  it("shows a key upload to the uploader and to roommates, not to strangers; /keys/changes agrees", async () => {
    const [bobFrom, carolFrom, aliceFrom] = await Promise.all([token(bob), token(carol), token(alice)]);
    const device = new TestDevice(alice);
    expect((await device.upload(api, { device_keys: device.deviceKeys() })).status).to.equal(200);
    const bobs = await listsSince(bob, bobFrom);
    expect(bobs.changed).to.deep.equal([alice.user_id]);
    expect((await listsSince(alice, aliceFrom)).changed, "own change").to.include(alice.user_id);
    expect((await listsSince(carol, carolFrom)).changed).to.deep.equal([]);
    expect((await changes(bob, bobFrom, bobs.next_batch)).changed).to.deep.equal([alice.user_id]);
    expect((await changes(carol, carolFrom, bobs.next_batch)).changed).to.deep.equal([]);
    // Nothing new after the token that covered the change; one-time keys alone are not a device-list change.
    await device.upload(api, { one_time_keys: device.oneTimeKeys(2) });
    expect((await listsSince(bob, bobs.next_batch)).changed).to.deep.equal([]);
    expect((await changes(bob, bobs.next_batch, bobs.next_batch)).changed).to.deep.equal([]);
  });

  it("wakes a roommate's long-poll when a new device uploads keys", async () => {
    const from = await token(bob);
    const phone = await login(alice);
    const started = Date.now();
    const poll = listsSince(bob, from, 20_000);
    await new Promise((r) => setTimeout(r, 300));
    const device = new TestDevice(phone);
    await device.upload(api, { device_keys: device.deviceKeys() });
    const lists = await poll;
    expect(lists.changed).to.deep.equal([alice.user_id]);
    expect(Date.now() - started, "answered on the change, not at the timeout").to.be.below(10_000);
    const q = await api.post<Record<string, any>>(`${V3}/keys/query`, { device_keys: { [alice.user_id]: [] } }, { token: bob.access_token });
    expect(Object.keys(q.body.device_keys[alice.user_id])).to.include(phone.device_id);
  });

  it("shows deleting and renaming a device as a change, and the deleted device's keys are gone", async () => {
    const phone = await login(alice);
    const device = new TestDevice(phone);
    await device.upload(api, { device_keys: device.deviceKeys() });
    let from = await token(bob);
    const renamed = await api.put(`${V3}/devices/${phone.device_id}`, { display_name: "renamed" }, { token: phone.access_token });
    expect(renamed.status).to.equal(200);
    const afterRename = await listsSince(bob, from);
    expect(afterRename.changed).to.deep.equal([alice.user_id]);
    const q1 = await api.post<Record<string, any>>(`${V3}/keys/query`, { device_keys: { [alice.user_id]: [phone.device_id] } }, { token: bob.access_token });
    expect(q1.body.device_keys[alice.user_id][phone.device_id].unsigned).to.deep.equal({ device_display_name: "renamed" });
    from = afterRename.next_batch;
    expect((await api.post(`${V3}/logout`, {}, { token: phone.access_token })).status).to.equal(200);
    expect((await listsSince(bob, from)).changed).to.deep.equal([alice.user_id]);
    const q2 = await api.post<Record<string, any>>(`${V3}/keys/query`, { device_keys: { [alice.user_id]: [] } }, { token: bob.access_token });
    expect(Object.keys(q2.body.device_keys[alice.user_id])).not.to.include(phone.device_id);
  });

  it("lists users who start sharing a room as changed and those who stop as left", async () => {
    const from = await token(bob);
    await join(api, carol, roomId);
    const joined = await listsSince(bob, from);
    expect(joined.changed).to.include(carol.user_id);
    expect(joined.left).to.deep.equal([]);
    // Carol, who just joined, is told about everyone already there.
    expect((await changes(carol, from, joined.next_batch)).changed).to.include.members([alice.user_id, bob.user_id]);
    const leave = await api.post(`${V3}/rooms/${encodeURIComponent(roomId)}/leave`, {}, { token: carol.access_token });
    expect(leave.status).to.equal(200);
    const left = await listsSince(bob, joined.next_batch);
    expect(left.left).to.deep.equal([carol.user_id]);
    expect(left.changed).not.to.include(carol.user_id);
    expect((await changes(carol, joined.next_batch, left.next_batch)).left).to.include.members([alice.user_id, bob.user_id]);
  });

  it("answers /keys/changes with the spec's errors for missing or malformed tokens", async () => {
    const missing = await api.get<Record<string, string>>(`${V3}/keys/changes?to=s1`, { token: bob.access_token });
    expect(missing.status).to.equal(400);
    expect(missing.body.errcode).to.equal("M_MISSING_PARAM");
    const bad = await api.get<Record<string, string>>(`${V3}/keys/changes?from=yesterday&to=s1`, { token: bob.access_token });
    expect(bad.status).to.equal(400);
    expect(bad.body.errcode).to.equal("M_INVALID_PARAM");
  });
});
