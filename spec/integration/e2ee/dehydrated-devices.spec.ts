// Dehydrated devices (MSC3814) through the public API: upload with keys,
// download, replacement, deletion, and paging through the device's
// to-device inbox, each page acknowledging the one before.
import { expect } from "chai";
import { registerUser, type TestUser } from "../../support/accounts.ts";
import { TestDevice, V3 } from "../../support/e2ee.ts";
import { TestClient, type ApiResponse } from "../../support/http-client.ts";
import { expectStandardError } from "../../support/openapi.ts";
import { createRoom, join, sync } from "../../support/rooms.ts";
import { startServer, type RunningServer } from "../../support/server-process.ts";

const PREFIX = "/_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device";
type Res = ApiResponse<Record<string, any>>;

describe("E2EE dehydrated devices, MSC3814 (real server process)", function () {
  this.timeout(60_000);
  let server: RunningServer;
  let api: TestClient;
  let counter = 0;

  before(async () => {
    server = await startServer();
    api = new TestClient(server.baseUrl);
  });
  after(async () => {
    await server?.stop();
  });

  // Unstable endpoints have no OpenAPI schema; errors are checked for the standard shape below.
  const call = (user: TestUser, method: string, path: string, json?: unknown): Promise<Res> =>
    api.request<Record<string, any>>(method, `${PREFIX}${path}`, { token: user.access_token, unspecified: true, ...(json !== undefined ? { json } : {}) });
  const expectError = (res: Res, status: number, errcode: string) => {
    expect(res.status, res.text).to.equal(status);
    expectStandardError("", PREFIX, status, res.body);
    expect(res.body.errcode).to.equal(errcode);
  };
  const dehydrated = (user: TestUser) => {
    counter += 1;
    return new TestDevice({ ...user, device_id: `DEHYDRATED${counter}` });
  };
  const putBody = (device: TestDevice, extra: Record<string, unknown> = {}) => ({
    device_id: device.user.device_id,
    device_data: { algorithm: "org.example.pickle", ciphertext: "cGlja2xlZA" },
    initial_device_display_name: "Dehydrated device",
    device_keys: device.deviceKeys({ dehydrated: true }),
    one_time_keys: device.oneTimeKeys(3),
    fallback_keys: device.fallbackKey(),
    ...extra,
  });
  const queryDevices = async (viewer: TestUser, userId: string) =>
    Object.keys((await api.post<Record<string, any>>(`${V3}/keys/query`, { device_keys: { [userId]: [] } }, { token: viewer.access_token })).body.device_keys[userId]);

  it("answers 404 M_NOT_FOUND before one exists (how clients detect support) and advertises org.matrix.msc3814", async () => {
    const alice = await registerUser(api);
    expectError(await call(alice, "GET", ""), 404, "M_NOT_FOUND");
    const versions = await api.get<{ unstable_features: Record<string, boolean> }>("/_matrix/client/versions");
    expect(versions.body.unstable_features["org.matrix.msc3814"]).to.equal(true);
  });

  it("stores a dehydrated device with its keys, which others query and claim like any device's", async () => {
    const alice = await registerUser(api);
    const bob = await registerUser(api);
    const device = dehydrated(alice);
    const body = putBody(device);
    const put = await call(alice, "PUT", "", body);
    expect(put.status, put.text).to.equal(200);
    expect(put.body).to.deep.equal({ device_id: device.user.device_id });
    expect((await call(alice, "GET", "")).body).to.deep.equal({ device_id: device.user.device_id, device_data: body.device_data });
    expect(await queryDevices(bob, alice.user_id)).to.include(device.user.device_id);
    const claimed = await api.post<Record<string, any>>(`${V3}/keys/claim`, { one_time_keys: { [alice.user_id]: { [device.user.device_id]: "signed_curve25519" } } }, { token: bob.access_token });
    expect(Object.keys(claimed.body.one_time_keys[alice.user_id][device.user.device_id])).to.have.length(1);
  });

  it("pages through the to-device messages sent to it; each page acknowledges the previous; no next_batch once drained", async () => {
    const alice = await registerUser(api);
    const bob = await registerUser(api);
    const device = dehydrated(alice);
    expect((await call(alice, "PUT", "", putBody(device))).status).to.equal(200);
    const id = device.user.device_id;
    for (let i = 0; i < 105; i++) {
      const res = await api.put(`${V3}/sendToDevice/m.room.encrypted/dh-${Date.now()}-${i}`, { messages: { [alice.user_id]: { [id]: { i } } } }, { token: bob.access_token });
      expect(res.status).to.equal(200);
    }
    const first = await call(alice, "GET", `/${id}/events`);
    expect(first.status, first.text).to.equal(200);
    expect(first.body.events.map((e: any) => e.content.i)).to.deep.equal([...Array(100).keys()]);
    expect(first.body.events[0].sender).to.equal(bob.user_id);
    // The same page again while unacknowledged; POST with next_batch in the body pages on.
    expect((await call(alice, "GET", `/${id}/events`)).body.events).to.have.length(100);
    const second = await call(alice, "POST", `/${id}/events`, { next_batch: first.body.next_batch });
    expect(second.body.events.map((e: any) => e.content.i)).to.deep.equal([100, 101, 102, 103, 104]);
    const last = await call(alice, "GET", `/${id}/events?from=${second.body.next_batch}`);
    expect(last.body).to.deep.equal({ events: [] });
    expect((await call(alice, "GET", `/${id}/events`)).body, "acknowledged messages are gone").to.deep.equal({ events: [] });
    expectError(await call(alice, "GET", `/${id}/events?from=later`), 400, "M_INVALID_PARAM");
    expectError(await call(alice, "GET", `/${alice.device_id}/events`), 403, "M_FORBIDDEN");
  });

  it("replaces the previous dehydrated device (its keys go, roommates are told) and deletes on request", async () => {
    const alice = await registerUser(api);
    const bob = await registerUser(api);
    const roomId = await createRoom(api, alice, { preset: "public_chat" });
    await join(api, bob, roomId);
    const old = dehydrated(alice);
    await call(alice, "PUT", "", putBody(old));
    const from = (await sync(api, bob)).next_batch;
    const replacement = dehydrated(alice);
    expect((await call(alice, "PUT", "", putBody(replacement))).status).to.equal(200);
    const devices = await queryDevices(bob, alice.user_id);
    expect(devices).to.include(replacement.user.device_id);
    expect(devices).not.to.include(old.user.device_id);
    const lists = (await sync(api, bob, `?since=${from}`)) as unknown as { device_lists: { changed: string[] } };
    expect(lists.device_lists.changed).to.include(alice.user_id);
    const deleted = await call(alice, "DELETE", "");
    expect(deleted.body).to.deep.equal({ device_id: replacement.user.device_id });
    expect(await queryDevices(bob, alice.user_id)).not.to.include(replacement.user.device_id);
    expectError(await call(alice, "GET", ""), 404, "M_NOT_FOUND");
    expectError(await call(alice, "DELETE", ""), 404, "M_NOT_FOUND");
  });

  it("refuses keys that do not verify, a device ID in use, and malformed bodies, creating nothing", async () => {
    const alice = await registerUser(api);
    const device = dehydrated(alice);
    const forged = { ...putBody(device), device_keys: { ...device.deviceKeys(), algorithms: ["tampered"] } };
    expectError(await call(alice, "PUT", "", forged), 400, "M_INVALID_SIGNATURE");
    const ownDevice = new TestDevice(alice);
    expectError(await call(alice, "PUT", "", putBody(ownDevice)), 400, "M_INVALID_PARAM");
    expectError(await call(alice, "PUT", "", { ...putBody(device), device_data: "data" }), 400, "M_BAD_JSON");
    expectError(await call(alice, "PUT", "", { ...putBody(device), device_id: 7 }), 400, "M_BAD_JSON");
    expectError(await call(alice, "GET", ""), 404, "M_NOT_FOUND");
    expect(await queryDevices(alice, alice.user_id)).to.deep.equal([]);
  });
});
