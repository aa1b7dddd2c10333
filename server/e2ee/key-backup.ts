// Server-side key backups (spec "Server-side key backups"): versions with
// their auth_data, and encrypted session keys at three levels (all rooms, a
// room, a session). A stored key is replaced only by a better one: verified
// over unverified, then a lower first_message_index, then a lower
// forwarded_count.
import { badJson, invalidParam, MatrixError, missingParam, notFound } from "../errors/matrix-error.ts";
import { isJsonObject, type JsonObject } from "../protocol/json.ts";
import type { Database, Queryable } from "../storage/database.ts";
import {
  backedUpKeys,
  backedUpKeysFor,
  bumpBackupVersion,
  createBackupVersion,
  currentBackupVersion,
  deleteBackedUpKeys,
  deleteBackupVersion,
  getBackupVersion,
  putBackedUpKeys,
  updateBackupAuthData,
  type BackedUpKey,
  type BackupVersionRow,
} from "../storage/key-backup.ts";
import { isPlainId } from "./key-checks.ts";

type KeyMetadata = Pick<BackedUpKey, "isVerified" | "firstMessageIndex" | "forwardedCount">;

/** Whether `candidate` should replace `existing`, by the spec's three rules in order. */
export function replacesBackedUpKey(existing: KeyMetadata, candidate: KeyMetadata): boolean {
  if (existing.isVerified !== candidate.isVerified) return candidate.isVerified;
  if (existing.firstMessageIndex !== candidate.firstMessageIndex) return candidate.firstMessageIndex < existing.firstMessageIndex;
  return candidate.forwardedCount < existing.forwardedCount;
}

const nonNegativeInteger = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;

/** A KeyBackupData object from a request body. */
export function checkKeyBackupData(raw: unknown, roomId: string, sessionId: string): BackedUpKey {
  const where = `${roomId} ${sessionId}`;
  if (!isJsonObject(raw)) throw badJson(`Key backup data for ${where} must be an object`);
  if (!nonNegativeInteger(raw.first_message_index)) throw badJson(`first_message_index of ${where} must be a non-negative integer`);
  if (!nonNegativeInteger(raw.forwarded_count)) throw badJson(`forwarded_count of ${where} must be a non-negative integer`);
  if (typeof raw.is_verified !== "boolean") throw badJson(`is_verified of ${where} must be a boolean`);
  if (!isJsonObject(raw.session_data)) throw badJson(`session_data of ${where} must be an object`);
  return { roomId, sessionId, firstMessageIndex: raw.first_message_index, forwardedCount: raw.forwarded_count, isVerified: raw.is_verified, sessionData: raw.session_data };
}

/** The `sessions` of a RoomKeyBackup object. */
export function checkRoomKeyBackup(raw: unknown, roomId: string): BackedUpKey[] {
  checkId(roomId, "room ID");
  if (!isJsonObject(raw) || !isJsonObject(raw.sessions)) throw badJson(`The backup of ${roomId} must be an object with sessions`);
  return Object.entries(raw.sessions).map(([sessionId, data]) => checkKeyBackupData(data, roomId, checkId(sessionId, "session ID")));
}

export function checkId(id: string, what: string): string {
  if (!isPlainId(id)) throw invalidParam(`Invalid ${what}`);
  return id;
}

export const keyBackupData = (k: BackedUpKey): JsonObject => ({
  first_message_index: k.firstMessageIndex,
  forwarded_count: k.forwardedCount,
  is_verified: k.isVerified,
  session_data: k.sessionData,
});

/** The body of GET /room_keys/version(/{version}). */
export const versionInfo = (v: BackupVersionRow): JsonObject => ({
  version: String(v.version),
  algorithm: v.algorithm,
  auth_data: v.authData,
  count: v.count,
  etag: String(v.etag),
});

/** Backup versions are decimal integers here; anything else names no backup. */
export function parseVersion(text: string | undefined): number {
  if (text === undefined) throw missingParam("Missing version");
  if (!/^[1-9][0-9]{0,14}$/.test(text)) throw notFound("Unknown backup version");
  return Number(text);
}

const wrongVersion = (current: number) =>
  new MatrixError(403, "M_WRONG_ROOM_KEYS_VERSION", "Wrong backup version", { current_version: String(current) });

export function createKeyBackup(deps: { db: Database }) {
  const { db } = deps;

  async function existing(q: Queryable, userId: string, version: number, forUpdate = false): Promise<BackupVersionRow> {
    const row = await getBackupVersion(q, userId, version, forUpdate);
    if (!row || row.deleted) throw notFound("Unknown backup version");
    return row;
  }

  function checkAlgorithm(body: Record<string, unknown>): { algorithm: string; authData: JsonObject } {
    if (typeof body.algorithm !== "string" || body.algorithm.length === 0) throw badJson("algorithm must be a string");
    if (!isJsonObject(body.auth_data)) throw badJson("auth_data must be an object");
    return { algorithm: body.algorithm, authData: body.auth_data };
  }

  return {
    async create(userId: string, body: Record<string, unknown>): Promise<string> {
      const { algorithm, authData } = checkAlgorithm(body);
      return String(await db.transaction((tx) => createBackupVersion(tx, userId, algorithm, authData)));
    },

    /** The current version, or a given one; 404 when there is none. */
    async info(userId: string, version?: number): Promise<JsonObject> {
      const row = version === undefined ? await currentBackupVersion(db, userId) : await existing(db, userId, version);
      if (!row) throw notFound("No current backup version");
      return versionInfo(row);
    },

    /** Only auth_data may change; the algorithm and a version in the body must match. */
    async update(userId: string, version: number, body: Record<string, unknown>): Promise<void> {
      const { algorithm, authData } = checkAlgorithm(body);
      if (body.version !== undefined && body.version !== String(version)) throw invalidParam("version in the body does not match the path");
      await db.transaction(async (tx) => {
        const row = await existing(tx, userId, version, true);
        if (row.algorithm !== algorithm) throw invalidParam("algorithm does not match the backup's");
        await updateBackupAuthData(tx, userId, version, authData);
      });
    },

    /** Deleting a deleted version succeeds; a version that never existed is 404. */
    async remove(userId: string, version: number): Promise<void> {
      await db.transaction(async (tx) => {
        const row = await getBackupVersion(tx, userId, version, true);
        if (!row) throw notFound("Unknown backup version");
        if (!row.deleted) await deleteBackupVersion(tx, userId, version);
      });
    },

    /** Stores keys into the current version, keeping a stored key when it is better than the new one. */
    async putKeys(userId: string, version: number, keys: readonly BackedUpKey[]): Promise<{ etag: string; count: number }> {
      return db.transaction(async (tx) => {
        const current = await currentBackupVersion(tx, userId);
        if (!current) throw notFound("Unknown backup version");
        if (current.version !== version) throw wrongVersion(current.version);
        const row = await existing(tx, userId, version, true);
        const stored = new Map((await backedUpKeysFor(tx, userId, version, keys)).map((k) => [`${k.roomId}\u0000${k.sessionId}`, k]));
        const writes = new Map<string, BackedUpKey>();
        let added = 0;
        for (const key of keys) {
          const id = `${key.roomId}\u0000${key.sessionId}`;
          const before = writes.get(id) ?? stored.get(id);
          if (before && !replacesBackedUpKey(before, key)) continue;
          if (!stored.has(id) && !writes.has(id)) added += 1;
          writes.set(id, key);
        }
        if (writes.size === 0) return { etag: String(row.etag), count: row.count };
        await putBackedUpKeys(tx, userId, version, [...writes.values()]);
        const bumped = await bumpBackupVersion(tx, userId, version, added);
        return { etag: String(bumped.etag), count: bumped.count };
      });
    },

    async getKeys(userId: string, version: number, roomId?: string, sessionId?: string): Promise<BackedUpKey[]> {
      await existing(db, userId, version);
      return backedUpKeys(db, userId, version, roomId, sessionId);
    },

    async deleteKeys(userId: string, version: number, roomId?: string, sessionId?: string): Promise<{ etag: string; count: number }> {
      return db.transaction(async (tx) => {
        const row = await existing(tx, userId, version, true);
        const removed = await deleteBackedUpKeys(tx, userId, version, roomId, sessionId);
        if (removed === 0) return { etag: String(row.etag), count: row.count };
        const bumped = await bumpBackupVersion(tx, userId, version, -removed);
        return { etag: String(bumped.etag), count: bumped.count };
      });
    },
  };
}

export type KeyBackup = ReturnType<typeof createKeyBackup>;
