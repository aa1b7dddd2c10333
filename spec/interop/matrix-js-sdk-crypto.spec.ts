// End-to-end encryption with real crypto clients: matrix-js-sdk with its Rust
// crypto stack (initRustCrypto, @matrix-org/matrix-sdk-crypto-wasm; an
// in-memory crypto store, since Node has no IndexedDB) against the real
// server process. Alice and Bob share an encrypted room; Alice bootstraps
// cross-signing and Bob sees her device as verified by its owner; they
// exchange 20 encrypted messages each way and each decrypts all of them; a
// new device of Alice restores the room's history from the server-side key
// backup, unlocked through secret storage; and a message sent while Alice's
// devices are offline reaches a new device of hers that rehydrates her
// dehydrated device (MSC3814).
//
// Every answer the SDKs get is checked against the spec's OpenAPI schema and
// every error recorded: the last test fails on any unexpected one.
import { expect } from "chai";
import { Direction, KnownMembership, Preset } from "matrix-js-sdk";
import { CryptoEvent, type GeneratedSecretStorageKey } from "matrix-js-sdk/lib/crypto-api/index.js";
import { loginDevice, registerUser, type TestUser } from "../support/accounts.ts";
import { TestClient } from "../support/http-client.ts";
import { startServer, type RunningServer } from "../support/server-process.ts";
import {
  cryptoActor,
  decryptedBodies,
  sdkDiagnostics,
  startSyncing as startClientSync,
  until as waitUntil,
  type CryptoActor,
  type ExpectedError,
  type Finding,
} from "./sdk-harness.ts";

const MESSAGES_EACH_WAY = 20;
const V3 = "/_matrix/client/v3";

type Actor = CryptoActor;

describe("matrix-js-sdk with Rust crypto: encrypted room, cross-signing, key backup (real clients, real server)", function () {
  this.timeout(120_000);
  let server: RunningServer;
  let api: TestClient;
  let alice: Actor;
  let bob: Actor;
  let aliceNew: Actor | undefined;
  let aliceRehydrated: Actor | undefined;
  let roomId: string;
  /** Event ID → plaintext body, and who sent it. */
  const sent = new Map<string, { body: string; sender: string }>();
  const findings: Finding[] = [];
  /** Error answers the scenario causes on purpose: "METHOD path-regex status". */
  const expectedErrors: ExpectedError[] = [
    // The SDK looks for a backup before one exists.
    { method: "GET", path: /\/room_keys\/version$/, status: 404 },
    // Account data the SDK probes (secret storage, cross-signing, backup keys) before it is set.
    { method: "GET", path: /\/user\/[^/]+\/account_data\/[^/]+$/, status: 404 },
    // "No dehydrated device yet" (MSC3814): how the SDK learns the server supports them and has none.
    { method: "GET", path: /\/org\.matrix\.msc3814\.v1\/dehydrated_device$/, status: 404 },
    // Unstable MatrixRTC transports (MSC4143), polled by the SDK; 404 M_UNRECOGNIZED is right.
    { method: "GET", path: /^\/_matrix\/client\/unstable\/org\.matrix\.msc4143\/rtc\/transports$/, status: 404 },
  ];
  let failedStep: string | undefined;

  /** The secret-storage key each client hands the SDK when asked (the "recovery key" a user would type). */
  let recoveryKey: GeneratedSecretStorageKey | undefined;

  const actor = (name: string, user: TestUser): Promise<Actor> =>
    cryptoActor(name, user, {
      baseUrl: server.baseUrl,
      findings,
      expectedErrors,
      cryptoCallbacks: {
        getSecretStorageKey: async ({ keys }) => {
          if (!recoveryKey) return null;
          const keyId = Object.keys(keys)[0]!;
          return [keyId, recoveryKey.privateKey as Uint8Array<ArrayBuffer>];
        },
      },
    });
  const startSyncing = (a: Actor): Promise<void> => startClientSync(a.client);
  const until = (what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> => waitUntil(what, condition, timeoutMs, diagnostics);

  const diagnostics = (): string => sdkDiagnostics(findings, [alice, bob, aliceNew, aliceRehydrated]);

  /** Event IDs of `roomId` the actor's client could decrypt, with their bodies. */
  const decrypted = (a: Actor): Map<string, string> => decryptedBodies(a.client, roomId);

  const login = (user: TestUser, name: string): Promise<TestUser> => loginDevice(api, user, name);

  before(async () => {
    server = await startServer();
    api = new TestClient(server.baseUrl);
  });
  after(async () => {
    for (const a of [alice, bob, aliceNew, aliceRehydrated]) a?.client.stopClient();
    await server?.stop();
  });
  beforeEach(function () {
    if (failedStep) this.skip();
  });
  afterEach(function () {
    if (this.currentTest?.state === "failed" && this.currentTest.title !== "made no request the spec does not allow") failedStep ??= this.currentTest.title;
  });

  it("starts two Rust-crypto clients that publish their device keys", async () => {
    const [a, b] = await Promise.all([registerUser(api), registerUser(api)]);
    [alice, bob] = await Promise.all([actor("alice", await login(a, "alice laptop")), actor("bob", await login(b, "bob laptop"))]);
    await Promise.all([startSyncing(alice), startSyncing(bob)]);
    // Each client uploads its identity keys and one-time keys on start; the server then serves them.
    await until("both devices' keys are on the server", async () => {
      const res = await api.post<Record<string, any>>(`${V3}/keys/query`, { device_keys: { [alice.user.user_id]: [], [bob.user.user_id]: [] } }, { token: alice.user.access_token });
      return res.body.device_keys[alice.user.user_id]?.[alice.user.device_id] !== undefined && res.body.device_keys[bob.user.user_id]?.[bob.user.device_id] !== undefined;
    });
    const counts = await api.post<{ one_time_key_counts: Record<string, number> }>(`${V3}/keys/upload`, {}, { token: alice.user.access_token });
    expect(counts.body.one_time_key_counts.signed_curve25519, "one-time keys uploaded by the SDK").to.be.greaterThan(0);
  });

  it("alice creates an encrypted room and bob joins", async () => {
    const created = await alice.client.createRoom({
      preset: Preset.PrivateChat,
      invite: [bob.user.user_id],
      initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }],
    });
    roomId = created.room_id;
    await until("bob's sync shows the invite", () => bob.client.getRoom(roomId)?.getMyMembership() === KnownMembership.Invite);
    await bob.client.joinRoom(roomId);
    await until("both see bob joined", () => [alice, bob].every((a) => a.client.getRoom(roomId)?.getMember(bob.user.user_id)?.membership === KnownMembership.Join));
    expect(await alice.client.getCrypto()!.isEncryptionEnabledInRoom(roomId)).to.equal(true);
  });

  it("bootstraps cross-signing, secret storage and a key backup for alice", async () => {
    const crypto = alice.client.getCrypto()!;
    recoveryKey = await crypto.createRecoveryKeyFromPassphrase();
    await crypto.bootstrapCrossSigning({
      // The first upload needs no user-interactive auth (the spec since v1.11); answer a challenge with the password anyway.
      authUploadDeviceSigningKeys: async (makeRequest) => {
        try {
          await makeRequest(null);
        } catch {
          await makeRequest({ type: "m.login.password", identifier: { type: "m.id.user", user: alice.user.user_id }, password: alice.user.password });
        }
      },
    });
    await crypto.bootstrapSecretStorage({ createSecretStorageKey: async () => recoveryKey!, setupNewKeyBackup: true });
    expect(await crypto.isCrossSigningReady()).to.equal(true);
    expect(await crypto.getActiveSessionBackupVersion()).to.be.a("string");
    const backup = await api.get<Record<string, unknown>>(`${V3}/room_keys/version`, { token: alice.user.access_token });
    expect(backup.status).to.equal(200);
    expect(backup.body.algorithm).to.equal("m.megolm_backup.v1.curve25519-aes-sha2");
  });

  it("bob, sharing a room with her, sees alice's device as verified by its owner", async () => {
    // Told by device_lists.changed, bob's client downloads alice's keys again, cross-signing keys included.
    const crypto = bob.client.getCrypto()!;
    await until("bob's client sees alice's device cross-signed by alice", async () => {
      const status = await crypto.getDeviceVerificationStatus(alice.user.user_id, alice.user.device_id);
      return status?.signedByOwner === true;
    });
    const keys = await crypto.getUserCrossSigningKeys(alice.user.user_id);
    expect(keys?.master_key?.user_id, "alice's master key, as bob downloaded it").to.equal(alice.user.user_id);
  });

  it(`exchanges ${MESSAGES_EACH_WAY} encrypted messages each way, and each side decrypts every one`, async () => {
    for (let i = 0; i < MESSAGES_EACH_WAY; i++) {
      for (const from of [alice, bob]) {
        const body = `secret ${i} from ${from.name}`;
        const res = await from.client.sendTextMessage(roomId, body);
        sent.set(res.event_id, { body, sender: from.user.user_id });
      }
    }
    // What the server stored is ciphertext only.
    const raw = await api.get<{ chunk: Array<Record<string, any>> }>(`${V3}/rooms/${encodeURIComponent(roomId)}/messages?dir=b&limit=100`, { token: alice.user.access_token });
    const stored = raw.body.chunk.filter((e) => sent.has(e.event_id));
    expect(stored).to.have.length(2 * MESSAGES_EACH_WAY);
    expect(stored.every((e) => e.type === "m.room.encrypted" && typeof e.content.ciphertext === "string" && !JSON.stringify(e.content).includes("secret "))).to.equal(true);

    for (const a of [alice, bob]) {
      const theirs = [...sent].filter(([, m]) => m.sender !== a.user.user_id);
      expect(theirs).to.have.length(MESSAGES_EACH_WAY);
      await until(`${a.name} decrypted all ${MESSAGES_EACH_WAY} messages of the other`, () => theirs.every(([id, m]) => decrypted(a).get(id) === m.body));
    }
  });

  it("a new device of alice restores the room's history from the key backup", async () => {
    // Alice's first device uploads its room keys to the backup (in the background, with a random delay).
    await until("the backup holds the room's sessions", async () => {
      const info = await api.get<{ count: number }>(`${V3}/room_keys/version`, { token: alice.user.access_token });
      return info.body.count >= 2;
    }, 60_000);
    aliceNew = await actor("alice-new", await login(alice.user, "alice phone"));
    await startSyncing(aliceNew);
    await until("the new device has the room", () => aliceNew!.client.getRoom(roomId)?.getMyMembership() === KnownMembership.Join);
    const crypto = aliceNew.client.getCrypto()!;
    // The backup key comes from secret storage, unlocked with the recovery key.
    await crypto.loadSessionBackupPrivateKeyFromSecretStorage();
    const restored = await crypto.restoreKeyBackup();
    expect(restored.imported, "sessions imported from the backup").to.be.at.least(2);
    // Load the whole history (the initial sync carried only the latest events) and decrypt it.
    const room = aliceNew.client.getRoom(roomId)!;
    while (room.getLiveTimeline().getPaginationToken(Direction.Backward)) {
      if (!(await aliceNew.client.paginateEventTimeline(room.getLiveTimeline(), { backwards: true, limit: 50 }))) break;
    }
    for (const event of room.getLiveTimeline().getEvents()) {
      if (event.isEncrypted() && event.isDecryptionFailure()) await aliceNew.client.decryptEventIfNeeded(event, { isRetry: true });
    }
    await until("the new device decrypted all 40 messages", () => [...sent].every(([id, m]) => decrypted(aliceNew!).get(id) === m.body));
  });

  it("a message sent while only alice's dehydrated device could receive its key reaches a device that rehydrates it (MSC3814)", async () => {
    // Alice's first device parks a dehydrated device (its key in secret storage) and goes offline.
    const aliceCrypto = alice.client.getCrypto()!;
    expect(await aliceCrypto.isDehydrationSupported()).to.equal(true);
    await aliceCrypto.startDehydration({ createNewKey: true });
    const parked = await api.get<{ device_id: string }>("/_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device", { token: alice.user.access_token, unspecified: true });
    expect(parked.status).to.equal(200);
    const dehydratedId = parked.body.device_id;
    alice.client.stopClient();
    aliceNew?.client.stopClient();
    // Bob's client learns of the new device (device_lists.changed) and sends a message, sharing its key with it.
    await until("bob's client knows alice's dehydrated device", async () => {
      const devices = await bob.client.getCrypto()!.getUserDeviceInfo([alice.user.user_id], true);
      return devices.get(alice.user.user_id)?.has(dehydratedId) === true;
    });
    const body = "sent while alice was away";
    const res = await bob.client.sendTextMessage(roomId, body);
    // A brand-new device of alice, which never saw the message's key, rehydrates and can read it.
    aliceRehydrated = await actor("alice-rehydrated", await login(alice.user, "alice tablet"));
    let roomKeys = 0;
    aliceRehydrated.client.on(CryptoEvent.RehydrationProgress, (keys: number) => {
      roomKeys = keys;
    });
    // Like any new device of a cross-signing user, it takes the cross-signing keys from secret storage
    // first (once it has downloaded its own user's public keys).
    await startSyncing(aliceRehydrated);
    const rehydratingCrypto = aliceRehydrated.client.getCrypto()!;
    await until("the new device knows alice's cross-signing keys", async () => (await rehydratingCrypto.getUserCrossSigningKeys(alice.user.user_id)) !== null);
    await rehydratingCrypto.bootstrapCrossSigning({});
    expect(await rehydratingCrypto.isCrossSigningReady()).to.equal(true);
    await rehydratingCrypto.startDehydration({ rehydrate: true });
    expect(roomKeys, "room keys received by the dehydrated device").to.be.greaterThan(0);
    await until("the new device has bob's message", () => aliceRehydrated!.client.getRoom(roomId)?.findEventById(res.event_id) !== undefined);
    await aliceRehydrated.client.decryptEventIfNeeded(aliceRehydrated.client.getRoom(roomId)!.findEventById(res.event_id)!, { isRetry: true });
    await until("the rehydrating device decrypted bob's message", () => decrypted(aliceRehydrated!).get(res.event_id) === body);
  });

  it("made no request the spec does not allow", () => {
    expect(findings, findings.map((f) => `${f.who} ${f.request} -> ${f.status} ${f.detail}`).join("\n")).to.deep.equal([]);
  });

  // Decryption happens in the background: make sure a test failure shows what the SDK said.
  afterEach(function () {
    if (this.currentTest?.state === "failed") console.warn(diagnostics());
  });
});
