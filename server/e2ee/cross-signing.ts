// Cross-signing: uploading the master, self-signing and user-signing keys,
// and uploading signatures on device keys and master keys. Every signature
// is verified before it is stored; a change is a device-list change, so the
// user's roommates query the keys again.
import { forbidden, MatrixError, missingParam } from "../errors/matrix-error.ts";
import { isJsonObject, type JsonObject } from "../protocol/json.ts";
import { verifyJsonSignature } from "../protocol/signing.ts";
import { listDevices } from "../storage/accounts.ts";
import { crossSigningKeysOfUsers, putCrossSigningKey, putSignatures, type CrossSigningKeyRow, type SignatureRow } from "../storage/cross-signing.ts";
import type { Database } from "../storage/database.ts";
import { markUserSignaturesChanged } from "../storage/device-lists.ts";
import { deviceKeysOfUsers } from "../storage/e2e-keys.ts";
import type { DeviceLists } from "./device-lists.ts";
import type { RemoteKeys } from "./federation-ports.ts";
import { checkCrossSigningKey, checkUserId, ed25519PublicKey, invalidSignature, signedContent, type CheckedCrossSigningKey, type CrossSigningUsage } from "./key-checks.ts";

/** How long a signature upload waits for a remote user's master key. */
const REMOTE_MASTER_KEY_TIMEOUT_MS = 10_000;

export interface CrossSigningDeps {
  db: Database;
  deviceLists: DeviceLists;
  remoteKeys: RemoteKeys;
  isLocal: (userId: string) => boolean;
}

const FIELDS: ReadonlyArray<readonly [field: string, usage: CrossSigningUsage]> = [
  ["master_key", "master"],
  ["self_signing_key", "self_signing"],
  ["user_signing_key", "user_signing"],
];

export interface CheckedUpload {
  keys: CheckedCrossSigningKey[];
  /** Every key in the request is already stored exactly so (a retried upload). */
  unchanged: boolean;
  /** The user already has a master key: replacing keys needs user-interactive auth. */
  hasMaster: boolean;
}

function masterSignature(key: CheckedCrossSigningKey, userId: string, master: { publicKey: string; bytes: Buffer }): void {
  if (!verifyJsonSignature(key.key, userId, `ed25519:${master.publicKey}`, master.bytes)) {
    throw invalidSignature(`The ${key.usage} key has no valid signature by the master key`);
  }
}

export function createCrossSigning(deps: CrossSigningDeps) {
  const { db } = deps;

  /** Checks a POST /keys/device_signing/upload body (without its auth), before any user-interactive auth. */
  async function checkUpload(userId: string, body: Record<string, unknown>): Promise<CheckedUpload> {
    const keys = FIELDS.filter(([field]) => body[field] !== undefined && body[field] !== null).map(([field, usage]) => checkCrossSigningKey(body[field], userId, usage, field));
    const stored = new Map((await crossSigningKeysOfUsers(db, [userId])).map((k) => [k.keyType, k]));
    const newMaster = keys.find((k) => k.usage === "master");
    const storedMaster = stored.get("master");
    const master = newMaster
      ? { publicKey: newMaster.publicKey, bytes: newMaster.publicKeyBytes }
      : storedMaster && { publicKey: storedMaster.publicKey, bytes: ed25519PublicKey(storedMaster.publicKey, "stored master key") };
    for (const key of keys) {
      if (key.usage === "master") continue;
      if (!master) throw missingParam("No master signing key: upload one with the other keys");
      masterSignature(key, userId, master);
    }
    const deviceIds = new Set((await listDevices(db, userId)).map((d) => d.deviceId));
    if (keys.some((k) => deviceIds.has(k.publicKey))) throw forbidden("Key ID in use: a cross-signing public key equals one of the user's device IDs");
    return { keys, unchanged: keys.every((k) => stored.get(k.usage)?.json === k.json), hasMaster: storedMaster !== undefined };
  }

  /** Stores checked keys; a change tells the user's roommates and (through the port) other servers. */
  async function upload(userId: string, checked: CheckedUpload): Promise<void> {
    if (checked.unchanged) return;
    const now = Date.now();
    await deps.deviceLists.write({ userId, deviceIds: [], signingKeys: true }, async (tx) => {
      for (const key of checked.keys) await putCrossSigningKey(tx, userId, key.usage, key.publicKey, key.json, now);
      return true;
    });
  }

  /** The master key of another user, local or remote, if known. */
  async function masterKeyOf(userId: string): Promise<JsonObject | undefined> {
    if (deps.isLocal(userId)) return (await crossSigningKeysOfUsers(db, [userId], ["master"]))[0]?.key;
    const remote = await deps.remoteKeys.query(new Map([[userId, []]]), REMOTE_MASTER_KEY_TIMEOUT_MS);
    return remote.master_keys[userId];
  }

  /** Another user's master key, signed by the requester's user-signing key. */
  async function signOtherMasterKey(me: string, userId: string, keyId: string, signed: JsonObject, userSigning: CrossSigningKeyRow | undefined): Promise<SignatureRow> {
    const master = await masterKeyOf(userId);
    const masterKeyId = master && Object.keys((master.keys ?? {}) as JsonObject)[0];
    if (!master || masterKeyId !== `ed25519:${keyId}`) throw new MatrixError(404, "M_NOT_FOUND", "Only another user's current master key can be signed");
    sameKey(signed, master);
    if (!userSigning) throw invalidSignature("Upload a user-signing key before signing other users");
    return checkedSignature(signed, me, `ed25519:${userSigning.publicKey}`, ed25519PublicKey(userSigning.publicKey, "user-signing key"), { userId, keyId });
  }

  /**
   * POST /keys/signatures/upload. The requester may sign their own devices
   * (with the self-signing key), their own master key (with a device key),
   * and other users' master keys (with the user-signing key). Each signed
   * object must match the stored key but for its signatures. Failures are
   * reported per key; the valid signatures are stored.
   */
  async function uploadSignatures(me: string, body: Record<string, unknown>): Promise<Record<string, Record<string, JsonObject>>> {
    const failures: Record<string, Record<string, JsonObject>> = {};
    const own: SignatureRow[] = [];
    const others: SignatureRow[] = [];
    const signedDevices: string[] = [];
    let signedMaster = false;

    const mine = new Map<string, CrossSigningKeyRow>((await crossSigningKeysOfUsers(db, [me])).map((k) => [k.keyType, k]));
    const myDevices = new Map((await deviceKeysOfUsers(db, new Map([[me, []]]))).map((d) => [d.deviceId, d.keys]));

    for (const [userId, byKey] of Object.entries(body)) {
      checkUserId(userId, "signatures");
      if (!isJsonObject(byKey)) throw new MatrixError(400, "M_BAD_JSON", `${userId} must map key IDs to signed objects`);
      for (const [keyId, signed] of Object.entries(byKey)) {
        try {
          if (!isJsonObject(signed)) throw new MatrixError(400, "M_BAD_JSON", "The signed key must be an object");
          if (userId === me) {
            const result = signOwnKey(me, keyId, signed, mine, myDevices);
            own.push(...result.rows);
            if (result.device) signedDevices.push(keyId);
            else signedMaster = true;
          } else {
            others.push(await signOtherMasterKey(me, userId, keyId, signed, mine.get("user_signing")));
          }
        } catch (err) {
          if (!(err instanceof MatrixError)) throw err;
          (failures[userId] ??= {})[keyId] = { errcode: err.errcode, error: err.message };
        }
      }
    }

    if (own.length > 0 || others.length > 0) {
      const now = Date.now();
      await deps.deviceLists.write({ userId: me, deviceIds: signedDevices, signingKeys: signedMaster }, async (tx, position) => {
        await putSignatures(tx, [...own, ...others], now);
        await markUserSignaturesChanged(tx, me, others.map((s) => s.targetUserId), position);
        return own.length > 0;
      });
    }
    return failures;
  }

  return { checkUpload, upload, uploadSignatures };
}

/** A signature by `signer`'s `keyId`, checked against `publicKey`, as a row to store. */
function checkedSignature(signed: JsonObject, signer: string, keyId: string, publicKey: Buffer, target: { userId: string; keyId: string }): SignatureRow {
  if (!verifyJsonSignature(signed, signer, keyId, publicKey)) throw invalidSignature(`No valid signature by ${keyId}`);
  const signature = ((signed.signatures as JsonObject)[signer] as Record<string, string>)[keyId]!;
  return { targetUserId: target.userId, targetKeyId: target.keyId, signerUserId: signer, signerKeyId: keyId, signature };
}

function sameKey(signed: JsonObject, stored: JsonObject): void {
  if (signedContent(signed) !== signedContent(stored)) throw new MatrixError(400, "M_INVALID_PARAM", "The signed object does not match the stored key");
}

/** The requester's own device (signed by the self-signing key) or master key (signed by devices). */
function signOwnKey(
  me: string,
  keyId: string,
  signed: JsonObject,
  mine: ReadonlyMap<string, CrossSigningKeyRow>,
  myDevices: ReadonlyMap<string, JsonObject>,
): { rows: SignatureRow[]; device: boolean } {
  const master = mine.get("master");
  const device = myDevices.get(keyId);
  if (device) {
    sameKey(signed, device);
    const selfSigning = mine.get("self_signing");
    if (!selfSigning) throw invalidSignature("Upload a self-signing key before signing devices");
    const row = checkedSignature(signed, me, `ed25519:${selfSigning.publicKey}`, ed25519PublicKey(selfSigning.publicKey, "self-signing key"), { userId: me, keyId });
    return { rows: [row], device: true };
  }
  if (master && keyId === master.publicKey) {
    sameKey(signed, master.key);
    // Device signatures on the master key; the master's own signature is not news.
    const bySigner = isJsonObject(signed.signatures) && isJsonObject(signed.signatures[me]) ? Object.keys(signed.signatures[me]) : [];
    const rows: SignatureRow[] = [];
    for (const signerKeyId of bySigner) {
      const deviceId = signerKeyId.startsWith("ed25519:") ? signerKeyId.slice("ed25519:".length) : undefined;
      const signerDevice = deviceId === undefined ? undefined : myDevices.get(deviceId);
      const deviceKey = (signerDevice?.keys as Record<string, string> | undefined)?.[signerKeyId];
      if (deviceKey === undefined) continue;
      rows.push(checkedSignature(signed, me, signerKeyId, ed25519PublicKey(deviceKey, "device key"), { userId: me, keyId }));
    }
    if (rows.length === 0) throw invalidSignature("No signature by one of the user's devices");
    return { rows, device: false };
  }
  throw new MatrixError(404, "M_NOT_FOUND", "Unknown key");
}
export type CrossSigning = ReturnType<typeof createCrossSigning>;
