// Device keys through the public API of a real server process: upload,
// query, claim (one-time keys in upload order, then the fallback key),
// /sync key counts, and the bad input the spec says to refuse.
import { expect } from "chai";
import { signJson } from "../../../server/protocol/signing.ts";
import { registerUser, type TestUser } from "../../support/accounts.ts";
import { TestDevice, V3 } from "../../support/e2ee.ts";
import { TestClient } from "../../support/http-client.ts";
import { sync } from "../../support/rooms.ts";
import { startServer, type RunningServer } from "../../support/server-process.ts";

describe("E2EE keys: upload, query, claim (real server process)", function () {
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

  const named = async (name: string): Promise<{ user: TestUser; device: TestDevice }> => {
    const user = await registerUser(api);
    await api.put(`${V3}/devices/${user.device_id}`, { display_name: name }, { token: user.access_token });
    return { user, device: new TestDevice(user) };
  };
  const query = (token: string, deviceKeys: Record<string, string[]>) => api.post<Record<string, any>>(`${V3}/keys/query`, { device_keys: deviceKeys }, { token });
  const claim = (token: string, oneTimeKeys: Record<string, Record<string, string>>) => api.post<Record<string, any>>(`${V3}/keys/claim`, { one_time_keys: oneTimeKeys }, { token });

  it("stores device keys, one-time and fallback keys; others query them with the display name", async () => {
    const { user: alice, device } = await named("alice's laptop");
    const bob = await registerUser(api);
    const deviceKeys = device.deviceKeys();
    const up = await device.upload(api, { device_keys: deviceKeys, one_time_keys: device.oneTimeKeys(5), fallback_keys: device.fallbackKey() });
    expect(up.status, JSON.stringify(up.body)).to.equal(200);
    expect(up.body.one_time_key_counts).to.deep.equal({ signed_curve25519: 5 });

    const res = await query(bob.access_token, { [alice.user_id]: [] });
    expect(res.status).to.equal(200);
    const got = res.body.device_keys[alice.user_id][alice.device_id];
    const { signatures, unsigned, ...rest } = got;
    const { signatures: sentSignatures, ...sentRest } = deviceKeys;
    expect(rest).to.deep.equal(sentRest);
    expect(signatures).to.deep.equal(sentSignatures);
    expect(unsigned).to.deep.equal({ device_display_name: "alice's laptop" });
    expect(res.body.failures).to.deep.equal({});
    // Asking for one named device, and for an unknown one.
    const one = await query(bob.access_token, { [alice.user_id]: [alice.device_id, "NOSUCH"] });
    expect(Object.keys(one.body.device_keys[alice.user_id])).to.deep.equal([alice.device_id]);
  });

  it("answers /sync with the device's one-time key count and unused fallback key types", async () => {
    const { user, device } = await named("counts");
    const before = (await sync(api, user)) as unknown as Record<string, any>;
    expect(before.device_one_time_keys_count).to.deep.equal({ signed_curve25519: 0 });
    expect(before.device_unused_fallback_key_types).to.deep.equal([]);
    await device.upload(api, { device_keys: device.deviceKeys(), one_time_keys: device.oneTimeKeys(3), fallback_keys: device.fallbackKey() });
    const after = (await sync(api, user, `?since=${before.next_batch}`)) as unknown as Record<string, any>;
    expect(after.device_one_time_keys_count).to.deep.equal({ signed_curve25519: 3 });
    expect(after.device_unused_fallback_key_types).to.deep.equal(["signed_curve25519"]);
  });

  it("hands out one-time keys oldest first, each once, then the fallback key (marked used) again and again", async () => {
    const { user: alice, device } = await named("claims");
    const bob = await registerUser(api);
    const first = device.oneTimeKeys(2);
    const second = device.oneTimeKeys(1);
    const fallback = device.fallbackKey();
    await device.upload(api, { device_keys: device.deviceKeys(), one_time_keys: first, fallback_keys: fallback });
    await device.upload(api, { one_time_keys: second });
    const wanted = { [alice.user_id]: { [alice.device_id]: "signed_curve25519" } };
    const claimed: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await claim(bob.access_token, wanted);
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      const keys = res.body.one_time_keys[alice.user_id][alice.device_id];
      const [name] = Object.keys(keys);
      expect(keys[name!]).to.deep.equal({ ...first, ...second }[name!]);
      claimed.push(name!);
    }
    expect(claimed.slice(0, 2).sort()).to.deep.equal(Object.keys(first).sort());
    expect(claimed[2]).to.equal(Object.keys(second)[0]);
    for (let i = 0; i < 2; i++) {
      const res = await claim(bob.access_token, wanted);
      expect(res.body.one_time_keys[alice.user_id][alice.device_id]).to.deep.equal(fallback);
    }
    const s = (await sync(api, alice)) as unknown as Record<string, any>;
    expect(s.device_one_time_keys_count).to.deep.equal({ signed_curve25519: 0 });
    expect(s.device_unused_fallback_key_types, "a used fallback key is no longer reported unused").to.deep.equal([]);
    // A new fallback key is unused again; uploading the same one again keeps it used.
    await device.upload(api, { fallback_keys: fallback });
    expect(((await sync(api, alice)) as unknown as Record<string, any>).device_unused_fallback_key_types).to.deep.equal([]);
    await device.upload(api, { fallback_keys: device.fallbackKey() });
    expect(((await sync(api, alice)) as unknown as Record<string, any>).device_unused_fallback_key_types).to.deep.equal(["signed_curve25519"]);
    // Devices without keys are simply missing from the answer.
    const none = await claim(bob.access_token, { [bob.user_id]: { [bob.device_id]: "signed_curve25519" } });
    expect(none.body.one_time_keys).to.deep.equal({});
  });

  it("never hands the same one-time key to two concurrent claims", async () => {
    const { user: alice, device } = await named("race");
    const bob = await registerUser(api);
    await device.upload(api, { device_keys: device.deviceKeys(), one_time_keys: device.oneTimeKeys(20) });
    const wanted = { [alice.user_id]: { [alice.device_id]: "signed_curve25519" } };
    const results = await Promise.all(Array.from({ length: 20 }, () => claim(bob.access_token, wanted)));
    const names = results.map((r) => Object.keys(r.body.one_time_keys[alice.user_id][alice.device_id])[0]);
    expect(new Set(names).size).to.equal(20);
    const after = await claim(bob.access_token, wanted);
    expect(after.body.one_time_keys).to.deep.equal({});
  });

  it("treats a retried upload as a no-op, refuses a reused key ID with other content, and never re-publishes a claimed key", async () => {
    const { user: alice, device } = await named("reuse");
    const bob = await registerUser(api);
    const keys = device.oneTimeKeys(1);
    const body = { device_keys: device.deviceKeys(), one_time_keys: keys };
    expect((await device.upload(api, body)).body.one_time_key_counts.signed_curve25519).to.equal(1);
    expect((await device.upload(api, body)).body.one_time_key_counts.signed_curve25519, "retry").to.equal(1);
    const [name] = Object.keys(keys);
    const reused = await device.upload(api, { one_time_keys: { [name!]: device.signedKey() } });
    expect(reused.status).to.equal(400);
    expect(reused.body.errcode).to.equal("M_INVALID_PARAM");
    await claim(bob.access_token, { [alice.user_id]: { [alice.device_id]: "signed_curve25519" } });
    const again = await device.upload(api, { one_time_keys: keys });
    expect(again.status).to.equal(200);
    expect(again.body.one_time_key_counts.signed_curve25519, "a claimed key is not published again").to.equal(0);
    const res = await claim(bob.access_token, { [alice.user_id]: { [alice.device_id]: "signed_curve25519" } });
    expect(res.body.one_time_keys).to.deep.equal({});
  });

  it("reports the users of a server it cannot reach under failures, with Synapse's status 503", async () => {
    const bob = await registerUser(api);
    const q = await query(bob.access_token, { "@someone:remote.example": [] });
    expect(q.status).to.equal(200);
    expect(Object.keys(q.body.failures)).to.deep.equal(["remote.example"]);
    expect(q.body.failures["remote.example"].status).to.equal(503);
    expect(q.body.device_keys).to.deep.equal({});
    const c = await claim(bob.access_token, { "@someone:remote.example": { DEV: "signed_curve25519" } });
    expect(c.status).to.equal(200);
    expect(Object.keys(c.body.failures)).to.deep.equal(["remote.example"]);
  });

  describe("bad input", () => {
    let user: TestUser;
    let device: TestDevice;
    before(async () => {
      ({ user, device } = await named("bad input"));
    });
    const expectError = (res: { status: number; body: Record<string, any> }, status: number, errcode: string) => {
      expect(res.status, JSON.stringify(res.body)).to.equal(status);
      expect(res.body.errcode).to.equal(errcode);
    };

    it("refuses device keys whose signature does not verify, or that name another user or device", async () => {
      const good = device.deviceKeys();
      const tampered = { ...good, algorithms: ["m.olm.v1.curve25519-aes-sha2"] };
      expectError(await device.upload(api, { device_keys: tampered }), 400, "M_INVALID_SIGNATURE");
      const unsigned = { ...good, signatures: {} };
      expectError(await device.upload(api, { device_keys: unsigned }), 400, "M_INVALID_SIGNATURE");
      const other = signJson({ ...good, device_id: "OTHERDEVICE", signatures: {} } as never, user.user_id, device.key);
      expectError(await device.upload(api, { device_keys: other }), 400, "M_INVALID_PARAM");
      expectError(await device.upload(api, { device_keys: { ...good, user_id: "@mallory:localhost" } }), 400, "M_INVALID_PARAM");
      // Nothing was stored.
      const q = await query(user.access_token, { [user.user_id]: [] });
      expect(q.body.device_keys[user.user_id]).to.deep.equal({});
    });

    it("refuses malformed key IDs and wrongly typed fields", async () => {
      const keysField = { [`curve25519:${user.device_id}`]: "x", [`ed25519:${user.device_id}`]: device.ed25519, ["no-colon"]: "y" };
      expectError(await device.upload(api, { device_keys: signJson({ ...device.deviceKeys(), keys: keysField, signatures: {} } as never, user.user_id, device.key) }), 400, "M_INVALID_PARAM");
      expectError(await device.upload(api, { device_keys: device.deviceKeys(), one_time_keys: { ":AAAA": device.signedKey() } }), 400, "M_INVALID_PARAM");
      expectError(await device.upload(api, { device_keys: device.deviceKeys(), one_time_keys: { "signed_curve25519:": device.signedKey() } }), 400, "M_INVALID_PARAM");
      expectError(await device.upload(api, { one_time_keys: [] }), 400, "M_BAD_JSON");
      expectError(await device.upload(api, { device_keys: "keys" }), 400, "M_BAD_JSON");
      expectError(await query(user.access_token, { "not a user": [] }), 400, "M_INVALID_PARAM");
      expectError(await api.post(`${V3}/keys/query`, { device_keys: { [user.user_id]: "all" } }, { token: user.access_token }), 400, "M_BAD_JSON");
      expectError(await api.post(`${V3}/keys/query`, {}, { token: user.access_token }), 400, "M_MISSING_PARAM");
      expectError(await api.post(`${V3}/keys/claim`, { one_time_keys: { [user.user_id]: { DEV: 5 } } }, { token: user.access_token }), 400, "M_BAD_JSON");
    });

    it("refuses one-time keys whose signature does not verify, unsigned signed_* keys, and two fallback keys of one algorithm", async () => {
      const { user: fresh, device: freshDevice } = await named("fresh");
      // Before the device keys are known there is nothing to check a signature against.
      expectError(await freshDevice.upload(api, { one_time_keys: freshDevice.oneTimeKeys(1) }), 400, "M_INVALID_SIGNATURE");
      await freshDevice.upload(api, { device_keys: freshDevice.deviceKeys() });
      const forged = { ...freshDevice.signedKey(), key: "c29tZXRoaW5nIGVsc2U" };
      expectError(await freshDevice.upload(api, { one_time_keys: { [`signed_curve25519:${freshDevice.nextKeyId()}`]: forged } }), 400, "M_INVALID_SIGNATURE");
      expectError(await freshDevice.upload(api, { one_time_keys: { [`signed_curve25519:${freshDevice.nextKeyId()}`]: "plainkey" } }), 400, "M_INVALID_SIGNATURE");
      const two = { ...freshDevice.fallbackKey(), ...freshDevice.fallbackKey() };
      expectError(await freshDevice.upload(api, { fallback_keys: two }), 400, "M_INVALID_PARAM");
      const s = (await sync(api, fresh)) as unknown as Record<string, any>;
      expect(s.device_one_time_keys_count).to.deep.equal({ signed_curve25519: 0 });
    });
  });
});
