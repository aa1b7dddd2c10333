// End-to-end encryption with real crypto clients across two federated
// instances of our server: alice (matrix-js-sdk, Rust crypto) on server A
// and bob on server B share an encrypted room. Everything the clients need
// crosses federation: bob's keys for alice's client (/user/keys/query or
// B's answers from its device-list cache), one-time keys (/user/keys/claim),
// the Olm-encrypted room keys (m.direct_to_device), device-list and
// cross-signing changes (m.device_list_update, m.signing_key_update). Alice
// bootstraps cross-signing and bob's client sees her device signed by its
// owner; they exchange 10 messages each way and each decrypts all of them;
// both servers hold ciphertext only.
//
// Every answer the SDKs get is checked against the spec's OpenAPI schema and
// every error recorded: the last test fails on any unexpected one.
import { expect } from "chai";
import { KnownMembership, Preset } from "matrix-js-sdk";
import { loginDevice, registerUser } from "../support/accounts.ts";
import { startFederatedServer, type FederatedServer } from "../support/federation.ts";
import { TestClient } from "../support/http-client.ts";
import { cryptoActor, decryptedBodies, sdkDiagnostics, startSyncing, until as waitUntil, type CryptoActor, type ExpectedError, type Finding } from "./sdk-harness.ts";

const MESSAGES_EACH_WAY = 10;
const V3 = "/_matrix/client/v3";

describe("matrix-js-sdk with Rust crypto on two federated servers: encrypted room, cross-signing", function () {
  this.timeout(120_000);
  let a: FederatedServer;
  let b: FederatedServer;
  let apiA: TestClient;
  let apiB: TestClient;
  let alice: CryptoActor;
  let bob: CryptoActor;
  let roomId: string;
  const sent = new Map<string, { body: string; sender: string }>();
  const findings: Finding[] = [];
  const expectedErrors: ExpectedError[] = [
    // Account data the SDK probes (secret storage, cross-signing) before it is set.
    { method: "GET", path: /\/user\/[^/]+\/account_data\/[^/]+$/, status: 404 },
    // The SDK looks for a key backup and a dehydrated device; there are none.
    { method: "GET", path: /\/room_keys\/version$/, status: 404 },
    { method: "GET", path: /\/org\.matrix\.msc3814\.v1\/dehydrated_device$/, status: 404 },
    // Unstable MatrixRTC transports (MSC4143), polled by the SDK; 404 M_UNRECOGNIZED is right.
    { method: "GET", path: /^\/_matrix\/client\/unstable\/org\.matrix\.msc4143\/rtc\/transports$/, status: 404 },
  ];
  let failedStep: string | undefined;

  const diagnostics = (): string => sdkDiagnostics(findings, [alice, bob]);
  const until = (what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 30_000) => waitUntil(what, condition, timeoutMs, diagnostics);


  before(async () => {
    [a, b] = await Promise.all([startFederatedServer(), startFederatedServer()]);
    apiA = new TestClient(a.baseUrl);
    apiB = new TestClient(b.baseUrl);
  });
  after(async () => {
    for (const x of [alice, bob]) x?.client.stopClient();
    await Promise.all([a?.destroy(), b?.destroy()]);
  });
  beforeEach(function () {
    if (failedStep) this.skip();
  });
  afterEach(function () {
    if (this.currentTest?.state === "failed") {
      if (this.currentTest.title !== "made no request the spec does not allow") failedStep ??= this.currentTest.title;
      console.warn(diagnostics());
    }
  });

  it("starts a Rust-crypto client on each server, each publishing its device keys", async () => {
    const [userA, userB] = await Promise.all([registerUser(apiA), registerUser(apiB)]);
    [alice, bob] = await Promise.all([
      loginDevice(apiA, userA, "alice laptop").then((u) => cryptoActor("alice", u, { baseUrl: a.baseUrl, findings, expectedErrors })),
      loginDevice(apiB, userB, "bob laptop").then((u) => cryptoActor("bob", u, { baseUrl: b.baseUrl, findings, expectedErrors })),
    ]);
    await Promise.all([startSyncing(alice.client), startSyncing(bob.client)]);
    // Each server answers for the other's user through federation.
    await until("each side sees the other's device keys", async () => {
      const onA = await apiA.post<Record<string, any>>(`${V3}/keys/query`, { device_keys: { [bob.user.user_id]: [] } }, { token: alice.user.access_token });
      const onB = await apiB.post<Record<string, any>>(`${V3}/keys/query`, { device_keys: { [alice.user.user_id]: [] } }, { token: bob.user.access_token });
      return onA.body.device_keys[bob.user.user_id]?.[bob.user.device_id] !== undefined && onB.body.device_keys[alice.user.user_id]?.[alice.user.device_id] !== undefined;
    });
  });

  it("alice creates an encrypted room on A and bob joins it from B", async () => {
    const created = await alice.client.createRoom({
      preset: Preset.PrivateChat,
      initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }],
    });
    roomId = created.room_id;
    // A separate invite: createRoom's `invite` does not reach other servers yet (see 11025).
    await alice.client.invite(roomId, bob.user.user_id);
    await until("bob's client shows the invite", () => bob.client.getRoom(roomId)?.getMyMembership() === KnownMembership.Invite);
    await bob.client.joinRoom(roomId);
    await until("both clients see bob joined", () => [alice, bob].every((x) => x.client.getRoom(roomId)?.getMember(bob.user.user_id)?.membership === KnownMembership.Join));
    expect(await bob.client.getCrypto()!.isEncryptionEnabledInRoom(roomId)).to.equal(true);
  });

  it("bob's client, on B, sees alice's device verified by its owner once she bootstraps cross-signing on A", async () => {
    const crypto = alice.client.getCrypto()!;
    await crypto.bootstrapCrossSigning({
      authUploadDeviceSigningKeys: async (makeRequest) => {
        await makeRequest(null);
      },
    });
    expect(await crypto.isCrossSigningReady()).to.equal(true);
    await until("bob's client sees alice's device cross-signed by alice", async () => {
      const status = await bob.client.getCrypto()!.getDeviceVerificationStatus(alice.user.user_id, alice.user.device_id);
      return status?.signedByOwner === true;
    });
    const keys = await bob.client.getCrypto()!.getUserCrossSigningKeys(alice.user.user_id);
    expect(keys?.master_key?.user_id).to.equal(alice.user.user_id);
  });

  it(`exchanges ${MESSAGES_EACH_WAY} encrypted messages each way across the servers, and each side decrypts every one`, async () => {
    for (let i = 0; i < MESSAGES_EACH_WAY; i++) {
      for (const from of [alice, bob]) {
        const body = `secret ${i} from ${from.name}`;
        const res = await from.client.sendTextMessage(roomId, body);
        sent.set(res.event_id, { body, sender: from.user.user_id });
      }
    }
    for (const x of [alice, bob]) {
      const theirs = [...sent].filter(([, m]) => m.sender !== x.user.user_id);
      expect(theirs).to.have.length(MESSAGES_EACH_WAY);
      await until(`${x.name} decrypted all ${MESSAGES_EACH_WAY} messages of the other`, () => theirs.every(([id, m]) => decryptedBodies(x.client, roomId).get(id) === m.body));
    }
    // Both servers hold the same ciphertext, and no plaintext.
    for (const [api, who] of [
      [apiA, alice],
      [apiB, bob],
    ] as const) {
      const raw = await api.get<{ chunk: Array<Record<string, any>> }>(`${V3}/rooms/${encodeURIComponent(roomId)}/messages?dir=b&limit=100`, { token: who.user.access_token });
      const stored = raw.body.chunk.filter((e) => sent.has(e.event_id));
      expect(stored, `${who.name}'s server`).to.have.length(2 * MESSAGES_EACH_WAY);
      expect(stored.every((e) => e.type === "m.room.encrypted" && !JSON.stringify(e.content).includes("secret "))).to.equal(true);
    }
  });

  it("made no request the spec does not allow", () => {
    expect(findings, findings.map((f) => `${f.who} ${f.request} -> ${f.status} ${f.detail}`).join("\n")).to.deep.equal([]);
  });
});
