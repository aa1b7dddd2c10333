// Cross-signing through the public API: uploading keys (user-interactive
// auth only to replace an existing master key), uploading signatures of
// each kind, who sees which signatures, device-list changes, and the
// spec's errors for bad keys and signatures.
import { expect } from "chai";
import { publicKeyBase64, signJson, type SigningKey } from "../../../server/protocol/signing.ts";
import type { JsonObject } from "../../../server/protocol/json.ts";
import { registerUser, type TestUser } from "../../support/accounts.ts";
import { crossSigningKey, crossSigningKeyJson, crossSigningSet, TestDevice, V3 } from "../../support/e2ee.ts";
import { TestClient } from "../../support/http-client.ts";
import { createRoom, join, sync } from "../../support/rooms.ts";
import { startServer, type RunningServer } from "../../support/server-process.ts";

type Res = { status: number; body: Record<string, any> };

describe("E2EE cross-signing (real server process)", function () {
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

  const uploadKeys = (user: TestUser, body: JsonObject): Promise<Res> => api.post(`${V3}/keys/device_signing/upload`, body, { token: user.access_token });
  const uploadSignatures = (user: TestUser, body: JsonObject): Promise<Res> => api.post(`${V3}/keys/signatures/upload`, body, { token: user.access_token });
  const query = async (viewer: TestUser, userIds: string[]) =>
    (await api.post<Record<string, any>>(`${V3}/keys/query`, { device_keys: Object.fromEntries(userIds.map((u) => [u, []])) }, { token: viewer.access_token })).body;
  const passwordAuth = (user: TestUser, session: string) => ({ type: "m.login.password", identifier: { type: "m.id.user", user: user.user_id }, password: user.password, session });
  const expectError = (res: Res, status: number, errcode: string) => {
    expect(res.status, JSON.stringify(res.body)).to.equal(status);
    expect(res.body.errcode).to.equal(errcode);
  };

  /** A user with uploaded device keys and a full cross-signing set. */
  async function crossSigned(): Promise<{ user: TestUser; device: TestDevice; keys: ReturnType<typeof crossSigningSet> }> {
    const user = await registerUser(api);
    const device = new TestDevice(user);
    await device.upload(api, { device_keys: device.deviceKeys() });
    const keys = crossSigningSet(user);
    const res = await uploadKeys(user, keys.body);
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    return { user, device, keys };
  }

  it("takes the first upload without user-interactive auth and serves the keys; the user-signing key only to its owner", async () => {
    const { user: alice, keys } = await crossSigned();
    const bob = await registerUser(api);
    const own = await query(alice, [alice.user_id]);
    expect(own.master_keys[alice.user_id]).to.deep.equal(keys.body.master_key);
    expect(own.self_signing_keys[alice.user_id]).to.deep.equal(keys.body.self_signing_key);
    expect(own.user_signing_keys[alice.user_id]).to.deep.equal(keys.body.user_signing_key);
    const theirs = await query(bob, [alice.user_id]);
    expect(theirs.master_keys[alice.user_id]).to.deep.equal(keys.body.master_key);
    expect(theirs.self_signing_keys[alice.user_id]).to.deep.equal(keys.body.self_signing_key);
    expect(theirs.user_signing_keys ?? {}).not.to.have.property(alice.user_id);
    // A retried identical upload needs no auth either.
    expect((await uploadKeys(alice, keys.body)).status).to.equal(200);
  });

  it("asks for user-interactive auth (m.login.password) before replacing an existing master key", async () => {
    const { user: alice } = await crossSigned();
    const replacement = crossSigningSet(alice);
    const challenge = await uploadKeys(alice, replacement.body);
    expect(challenge.status).to.equal(401);
    expect(challenge.body.flows).to.deep.equal([{ stages: ["m.login.password"] }]);
    const wrong = await uploadKeys(alice, { ...replacement.body, auth: { ...passwordAuth(alice, challenge.body.session), password: "wrong" } });
    expect(wrong.status).to.equal(401);
    expect(wrong.body.errcode).to.equal("M_FORBIDDEN");
    const done = await uploadKeys(alice, { ...replacement.body, auth: passwordAuth(alice, challenge.body.session) });
    expect(done.status, JSON.stringify(done.body)).to.equal(200);
    expect((await query(alice, [alice.user_id])).master_keys[alice.user_id]).to.deep.equal(replacement.body.master_key);
  });

  it("publishes a device signed by the self-signing key, tells roommates, and drops the signature when that key is replaced", async () => {
    const { user: alice, device, keys } = await crossSigned();
    const bob = await registerUser(api);
    const roomId = await createRoom(api, alice, { preset: "public_chat" });
    await join(api, bob, roomId);
    const from = (await sync(api, bob)).next_batch;
    const signed = signJson(device.deviceKeys(), alice.user_id, keys.selfSigning);
    // The device keys as stored, plus the new signature.
    const stored = (await query(alice, [alice.user_id])).device_keys[alice.user_id][alice.device_id];
    const { unsigned: _u, ...storedKeys } = stored;
    const withSignature = signJson(storedKeys, alice.user_id, keys.selfSigning);
    expect((await uploadSignatures(alice, { [alice.user_id]: { [alice.device_id]: signed } })).body.failures[alice.user_id][alice.device_id].errcode, "another key than the stored one").to.equal("M_INVALID_PARAM");
    const res = await uploadSignatures(alice, { [alice.user_id]: { [alice.device_id]: withSignature } });
    expect(res.status).to.equal(200);
    expect(res.body.failures).to.deep.equal({});
    const sskId = `ed25519:${publicKeyBase64(keys.selfSigning)}`;
    const seen = (await query(bob, [alice.user_id])).device_keys[alice.user_id][alice.device_id];
    expect(seen.signatures[alice.user_id][sskId]).to.equal((withSignature.signatures as any)[alice.user_id][sskId]);
    expect(seen.signatures[alice.user_id][`ed25519:${alice.device_id}`], "the device's own signature stays").to.be.a("string");
    const lists = (await sync(api, bob, `?since=${from}`)) as unknown as { device_lists: { changed: string[] } };
    expect(lists.device_lists.changed).to.include(alice.user_id);

    // A new self-signing key (with UIA, since a master key exists) takes the old key's signatures with it.
    const newSsk = crossSigningKey();
    const body = { self_signing_key: crossSigningKeyJson(alice, "self_signing", newSsk, keys.master) };
    const challenge = await uploadKeys(alice, body);
    expect(challenge.status).to.equal(401);
    expect((await uploadKeys(alice, { ...body, auth: passwordAuth(alice, challenge.body.session) })).status).to.equal(200);
    const after = (await query(bob, [alice.user_id])).device_keys[alice.user_id][alice.device_id];
    expect(after.signatures[alice.user_id]).not.to.have.property(sskId);
  });

  it("forgets the signatures on a deleted device: a device ID used again does not inherit them", async () => {
    const { user: alice, keys } = await crossSigned();
    const loginAs = async (deviceId?: string) =>
      (await api.post<TestUser>(`${V3}/login`, { type: "m.login.password", identifier: { type: "m.id.user", user: alice.user_id }, password: alice.password, ...(deviceId ? { device_id: deviceId } : {}) })).body;
    const phone = { ...(await loginAs()), password: alice.password };
    const phoneDevice = new TestDevice(phone);
    await phoneDevice.upload(api, { device_keys: phoneDevice.deviceKeys() });
    const { unsigned: _u, ...stored } = (await query(alice, [alice.user_id])).device_keys[alice.user_id][phone.device_id];
    expect((await uploadSignatures(alice, { [alice.user_id]: { [phone.device_id]: signJson(stored, alice.user_id, keys.selfSigning) } })).body.failures).to.deep.equal({});
    const sskId = `ed25519:${publicKeyBase64(keys.selfSigning)}`;
    expect((await query(alice, [alice.user_id])).device_keys[alice.user_id][phone.device_id].signatures[alice.user_id]).to.have.property(sskId);
    expect((await api.post(`${V3}/logout`, {}, { token: phone.access_token })).status).to.equal(200);
    const again = { ...(await loginAs(phone.device_id)), password: alice.password };
    const newKeys = new TestDevice(again);
    await newKeys.upload(api, { device_keys: newKeys.deviceKeys() });
    const reused = (await query(alice, [alice.user_id])).device_keys[alice.user_id][phone.device_id];
    expect(reused.keys[`ed25519:${phone.device_id}`]).to.equal(newKeys.ed25519);
    expect(reused.signatures[alice.user_id]).not.to.have.property(sskId);
  });

  it("stores a device's signature on the user's own master key", async () => {
    const { user: alice, device, keys } = await crossSigned();
    const signedMaster = signJson(keys.body.master_key as JsonObject, alice.user_id, device.key);
    const res = await uploadSignatures(alice, { [alice.user_id]: { [publicKeyBase64(keys.master)]: signedMaster } });
    expect(res.body.failures).to.deep.equal({});
    const master = (await query(await registerUser(api), [alice.user_id])).master_keys[alice.user_id];
    expect(master.signatures[alice.user_id][`ed25519:${alice.device_id}`]).to.equal((signedMaster.signatures as any)[alice.user_id][`ed25519:${alice.device_id}`]);
  });

  it("shows a signature on another user's master key to the signer only, and tells the signer's other devices", async () => {
    const { user: alice, keys: aliceKeys } = await crossSigned();
    const { user: bob, keys: bobKeys } = await crossSigned();
    const carol = await registerUser(api);
    const alicePhone = (await api.post<TestUser>(`${V3}/login`, { type: "m.login.password", identifier: { type: "m.id.user", user: alice.user_id }, password: alice.password })).body;
    const from = (await sync(api, alicePhone as TestUser)).next_batch;
    const signed = signJson(bobKeys.body.master_key as JsonObject, alice.user_id, aliceKeys.userSigning);
    const res = await uploadSignatures(alice, { [bob.user_id]: { [publicKeyBase64(bobKeys.master)]: signed } });
    expect(res.body.failures).to.deep.equal({});
    const uskId = `ed25519:${publicKeyBase64(aliceKeys.userSigning)}`;
    expect((await query(alice, [bob.user_id])).master_keys[bob.user_id].signatures[alice.user_id][uskId]).to.be.a("string");
    expect((await query(carol, [bob.user_id])).master_keys[bob.user_id].signatures ?? {}).not.to.have.property(alice.user_id);
    expect((await query(bob, [bob.user_id])).master_keys[bob.user_id].signatures ?? {}).not.to.have.property(alice.user_id);
    const lists = (await sync(api, alicePhone as TestUser, `?since=${from}`)) as unknown as { device_lists: { changed: string[] } };
    expect(lists.device_lists.changed).to.include(bob.user_id);
  });

  it("reports each bad signature in failures and stores the good ones", async () => {
    const { user: alice, device, keys } = await crossSigned();
    const { user: bob, keys: bobKeys } = await crossSigned();
    const stored = (await query(alice, [alice.user_id])).device_keys[alice.user_id][alice.device_id];
    const { unsigned: _u, ...storedKeys } = stored;
    const forged: SigningKey = crossSigningKey();
    // Signed by another key under the self-signing key's ID.
    const badDevice = signJson(storedKeys, alice.user_id, { ...forged, keyId: `ed25519:${publicKeyBase64(keys.selfSigning)}` });
    const goodMaster = signJson(keys.body.master_key as JsonObject, alice.user_id, device.key);
    const res = await uploadSignatures(alice, {
      [alice.user_id]: { [alice.device_id]: badDevice, [publicKeyBase64(keys.master)]: goodMaster, NOSUCHKEY: { foo: 1 } },
      [bob.user_id]: { [publicKeyBase64(bobKeys.master)]: bobKeys.body.master_key as JsonObject },
    });
    expect(res.status).to.equal(200);
    expect(res.body.failures[alice.user_id][alice.device_id].errcode).to.equal("M_INVALID_SIGNATURE");
    expect(res.body.failures[alice.user_id].NOSUCHKEY.errcode).to.equal("M_NOT_FOUND");
    expect(res.body.failures[bob.user_id][publicKeyBase64(bobKeys.master)].errcode, "no signature by alice's user-signing key").to.equal("M_INVALID_SIGNATURE");
    expect(res.body.failures[alice.user_id]).not.to.have.property(publicKeyBase64(keys.master));
    expect((await query(bob, [alice.user_id])).master_keys[alice.user_id].signatures[alice.user_id]).to.have.property(`ed25519:${alice.device_id}`);
  });

  describe("bad keys", () => {
    it("refuses keys not signed by the master key, keys without any master key, malformed keys, and key IDs that are device IDs", async () => {
      const alice = await registerUser(api);
      const set = crossSigningSet(alice);
      const stranger = crossSigningKey();
      expectError(await uploadKeys(alice, { ...set.body, self_signing_key: crossSigningKeyJson(alice, "self_signing", set.selfSigning, stranger) }), 400, "M_INVALID_SIGNATURE");
      expectError(await uploadKeys(alice, { self_signing_key: set.body.self_signing_key as JsonObject }), 400, "M_MISSING_PARAM");
      const pub = publicKeyBase64(set.master);
      expectError(await uploadKeys(alice, { master_key: { user_id: alice.user_id, usage: ["master"], keys: { [`ed25519:${pub}`]: "other" } } }), 400, "M_INVALID_PARAM");
      expectError(await uploadKeys(alice, { master_key: { user_id: alice.user_id, usage: ["self_signing"], keys: { [`ed25519:${pub}`]: pub } } }), 400, "M_INVALID_PARAM");
      expectError(await uploadKeys(alice, { master_key: { ...(set.body.master_key as JsonObject), user_id: "@bob:localhost" } }), 400, "M_INVALID_PARAM");
      expectError(await uploadKeys(alice, { master_key: "key" }), 400, "M_BAD_JSON");
      // A device whose ID is the master key's public key.
      const login = await api.post(`${V3}/login`, { type: "m.login.password", identifier: { type: "m.id.user", user: alice.user_id }, password: alice.password, device_id: pub });
      expect(login.status).to.equal(200);
      expectError(await uploadKeys(alice, set.body), 403, "M_FORBIDDEN");
      expect((await query(alice, [alice.user_id])).master_keys).to.deep.equal({});
    });
  });
});
