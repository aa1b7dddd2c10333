// Device keys, one-time keys and fallback keys: upload, query and claim.
// Local users are answered from PostgreSQL; remote users go through the
// RemoteKeys port (federation-ports.ts).
import { invalidParam } from "../errors/matrix-error.ts";
import { isJsonObject, type JsonObject } from "../protocol/json.ts";
import { crossSigningKeysOfUsers, visibleSignatures } from "../storage/cross-signing.ts";
import type { Database, Queryable } from "../storage/database.ts";
import {
  claimFallbackKeys,
  claimOneTimeKeys,
  countUnclaimedOneTimeKeys,
  deviceKeysOfUsers,
  getDeviceKeys,
  insertOneTimeKeys,
  oneTimeKeysById,
  putDeviceKeys,
  putFallbackKey,
  unusedFallbackKeyTypes,
  type ClaimRequest,
  type OneTimeKey,
} from "../storage/e2e-keys.ts";
import type { DeviceLists } from "./device-lists.ts";
import type { RemoteKeys } from "./federation-ports.ts";
import { checkDeviceKeys, checkKeyMap, ed25519PublicKey, type CheckedDeviceKeys } from "./key-checks.ts";
import { withSignatures } from "./published-keys.ts";

/** Unclaimed one-time keys a device may hold per algorithm; clients keep about 50. */
export const MAX_UNCLAIMED_ONE_TIME_KEYS = 1000;

export interface KeysDeps {
  db: Database;
  deviceLists: DeviceLists;
  remoteKeys: RemoteKeys;
  isLocal: (userId: string) => boolean;
}

export interface Device {
  userId: string;
  deviceId: string;
}

export interface UploadRequest {
  device_keys?: unknown;
  one_time_keys?: unknown;
  fallback_keys?: unknown;
}

function splitByServer<T>(wanted: ReadonlyMap<string, T>, isLocal: (userId: string) => boolean): { local: Map<string, T>; remote: Map<string, T> } {
  const local = new Map<string, T>();
  const remote = new Map<string, T>();
  for (const [userId, value] of wanted) (isLocal(userId) ? local : remote).set(userId, value);
  return { local, remote };
}

export function createKeys(deps: KeysDeps) {
  const { db } = deps;

  /** The device's ed25519 key from the request or from what is stored. */
  async function signingKeyOf(me: Device, uploaded: CheckedDeviceKeys | undefined): Promise<Buffer | undefined> {
    if (uploaded) return uploaded.ed25519;
    const stored = await getDeviceKeys(db, me.userId, me.deviceId);
    const text = (stored?.keys as Record<string, string> | undefined)?.[`ed25519:${me.deviceId}`];
    return text === undefined ? undefined : ed25519PublicKey(text, "stored device key");
  }

  /**
   * Stores new one-time keys. A key ID already stored with the same content
   * is a retried upload and changes nothing (a claimed key is never
   * published again); with other content it is refused.
   */
  async function persistOneTimeKeys(tx: Queryable, me: Device, keys: readonly OneTimeKey[], now: number): Promise<void> {
    const stored = await oneTimeKeysById(tx, me.userId, me.deviceId, keys);
    const byName = new Map(stored.map((k) => [`${k.algorithm}:${k.keyId}`, k]));
    const fresh: OneTimeKey[] = [];
    for (const key of keys) {
      const existing = byName.get(`${key.algorithm}:${key.keyId}`);
      if (!existing) fresh.push(key);
      else if (existing.json !== key.json) throw invalidParam(`One-time key ${key.algorithm}:${key.keyId} already exists with other content`);
    }
    const counts = await countUnclaimedOneTimeKeys(tx, me.userId, me.deviceId);
    for (const algorithm of new Set(fresh.map((k) => k.algorithm))) {
      const total = (counts[algorithm] ?? 0) + fresh.filter((k) => k.algorithm === algorithm).length;
      if (total > MAX_UNCLAIMED_ONE_TIME_KEYS) throw invalidParam(`A device may hold at most ${MAX_UNCLAIMED_ONE_TIME_KEYS} unclaimed ${algorithm} keys`);
    }
    await insertOneTimeKeys(tx, me.userId, me.deviceId, fresh, now);
  }

  /** POST /keys/upload: checks everything first, then stores it in one transaction; returns the unclaimed counts. */
  async function upload(me: Device, body: UploadRequest): Promise<Record<string, number>> {
    const deviceKeys = body.device_keys === undefined || body.device_keys === null ? undefined : checkDeviceKeys(body.device_keys, me.userId, me.deviceId);
    const signer = { userId: me.userId, deviceId: me.deviceId, ed25519: await signingKeyOf(me, deviceKeys) };
    const oneTimeKeys = checkKeyMap(body.one_time_keys, "one_time_keys", signer);
    const fallbackKeys = checkKeyMap(body.fallback_keys, "fallback_keys", signer);
    const algorithms = fallbackKeys.map((k) => k.algorithm);
    if (new Set(algorithms).size !== algorithms.length) throw invalidParam("fallback_keys may hold one key per algorithm");
    const now = Date.now();
    const persistKeys = async (tx: Queryable) => {
      await persistOneTimeKeys(tx, me, oneTimeKeys, now);
      for (const key of fallbackKeys) await putFallbackKey(tx, me.userId, me.deviceId, key, now);
    };
    if (deviceKeys) {
      // New or changed identity keys are a device-list change.
      await deps.deviceLists.write({ userId: me.userId, deviceIds: [me.deviceId] }, async (tx) => {
        await persistKeys(tx);
        return putDeviceKeys(tx, me.userId, me.deviceId, deviceKeys.json, now);
      });
    } else {
      await db.transaction(persistKeys);
    }
    return oneTimeKeyCounts(me);
  }

  /** Unclaimed counts as /sync and /keys/upload report them: signed_curve25519 always present, as Synapse does. */
  async function oneTimeKeyCounts(me: Device): Promise<Record<string, number>> {
    return { signed_curve25519: 0, ...(await countUnclaimedOneTimeKeys(db, me.userId, me.deviceId)) };
  }

  /**
   * Keys of local users. `viewer` decides which cross-signatures show (the
   * users' own, and the viewer's); the user-signing key only to its owner.
   * Federation's /user/keys/query calls this without a viewer.
   */
  async function queryLocal(wanted: ReadonlyMap<string, readonly string[]>, viewer?: string): Promise<JsonObject> {
    const userIds = [...wanted.keys()];
    const [devices, crossSigning, signatures] = await Promise.all([
      deviceKeysOfUsers(db, wanted),
      crossSigningKeysOfUsers(db, userIds),
      visibleSignatures(db, userIds, viewer ?? ""),
    ]);
    const sigsOf = (userId: string, keyId: string) => signatures.filter((s) => s.targetUserId === userId && s.targetKeyId === keyId);
    const deviceKeys: Record<string, Record<string, JsonObject>> = Object.fromEntries(userIds.map((u) => [u, {}]));
    for (const d of devices) {
      const unsigned: JsonObject = d.displayName !== null ? { device_display_name: d.displayName } : {};
      deviceKeys[d.userId]![d.deviceId] = { ...withSignatures(d.keys, sigsOf(d.userId, d.deviceId)), unsigned };
    }
    const master: Record<string, JsonObject> = {};
    const selfSigning: Record<string, JsonObject> = {};
    const userSigning: Record<string, JsonObject> = {};
    for (const k of crossSigning) {
      const key = withSignatures(k.key, sigsOf(k.userId, k.publicKey));
      if (k.keyType === "master") master[k.userId] = key;
      else if (k.keyType === "self_signing") selfSigning[k.userId] = key;
      else if (k.userId === viewer) userSigning[k.userId] = key;
    }
    return { device_keys: deviceKeys, master_keys: master, self_signing_keys: selfSigning, user_signing_keys: userSigning } as JsonObject;
  }

  /**
   * Remote users' master keys with the viewer's own signatures on them (made
   * with the viewer's user-signing key, kept here and never sent to the
   * other server), which is how the viewer's clients see them as verified.
   */
  async function withViewerSignatures(viewer: string, masters: Record<string, JsonObject>): Promise<Record<string, JsonObject>> {
    const mine = (await visibleSignatures(db, Object.keys(masters), viewer)).filter((s) => s.signerUserId === viewer);
    if (mine.length === 0) return masters;
    const out: Record<string, JsonObject> = {};
    for (const [userId, key] of Object.entries(masters)) {
      const keyId = Object.keys(isJsonObject(key.keys) ? key.keys : {})[0] ?? "";
      out[userId] = withSignatures(key, mine.filter((s) => s.targetUserId === userId && `ed25519:${s.targetKeyId}` === keyId));
    }
    return out;
  }

  /** POST /keys/query: local users from the database, remote ones through federation. */
  async function query(viewer: string, wanted: ReadonlyMap<string, readonly string[]>, timeoutMs: number): Promise<JsonObject> {
    const { local, remote } = splitByServer(wanted, deps.isLocal);
    const [mine, theirs] = await Promise.all([queryLocal(local, viewer), remote.size > 0 ? deps.remoteKeys.query(remote, timeoutMs) : undefined]);
    if (!theirs) return { ...mine, failures: {} };
    const merge = (key: string, extra: Record<string, unknown>) => ({ ...(mine[key] as JsonObject), ...(extra as JsonObject) });
    return {
      device_keys: merge("device_keys", theirs.device_keys),
      master_keys: merge("master_keys", await withViewerSignatures(viewer, theirs.master_keys)),
      self_signing_keys: merge("self_signing_keys", theirs.self_signing_keys),
      user_signing_keys: mine.user_signing_keys!,
      failures: theirs.failures,
    };
  }

  /**
   * Claims a one-time key per requested device, or its fallback key when
   * none is left (the fallback key is then marked used). Federation's
   * /user/keys/claim calls this too.
   */
  async function claimLocal(wanted: ReadonlyMap<string, Readonly<Record<string, string>>>): Promise<Record<string, Record<string, JsonObject>>> {
    const requests: ClaimRequest[] = [...wanted].flatMap(([userId, devices]) => Object.entries(devices).map(([deviceId, algorithm]) => ({ userId, deviceId, algorithm })));
    const claimed = await db.transaction(async (tx) => {
      const oneTime = await claimOneTimeKeys(tx, requests, Date.now());
      const got = new Set(oneTime.map((k) => `${k.userId}\u0000${k.deviceId}`));
      const fallback = await claimFallbackKeys(tx, requests.filter((r) => !got.has(`${r.userId}\u0000${r.deviceId}`)));
      return [...oneTime, ...fallback];
    });
    const out: Record<string, Record<string, JsonObject>> = {};
    for (const k of claimed) ((out[k.userId] ??= {})[k.deviceId] ??= {})[`${k.algorithm}:${k.keyId}`] = k.key;
    return out;
  }

  /** POST /keys/claim. */
  async function claim(wanted: ReadonlyMap<string, Readonly<Record<string, string>>>, timeoutMs: number): Promise<JsonObject> {
    const { local, remote } = splitByServer(wanted, deps.isLocal);
    const [mine, theirs] = await Promise.all([claimLocal(local), remote.size > 0 ? deps.remoteKeys.claim(remote, timeoutMs) : undefined]);
    return { one_time_keys: { ...mine, ...(theirs?.one_time_keys ?? {}) }, failures: theirs?.failures ?? {} } as JsonObject;
  }

  /** What /sync reports about the device's own keys. */
  async function syncCounts(me: Device): Promise<{ oneTimeKeyCounts: Record<string, number>; unusedFallbackKeyTypes: string[] }> {
    const [counts, fallback] = await Promise.all([oneTimeKeyCounts(me), unusedFallbackKeyTypes(db, me.userId, me.deviceId)]);
    return { oneTimeKeyCounts: counts, unusedFallbackKeyTypes: fallback };
  }

  return { upload, query, queryLocal, claim, claimLocal, oneTimeKeyCounts, syncCounts };
}

export type Keys = ReturnType<typeof createKeys>;
