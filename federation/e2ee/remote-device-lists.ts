// The cache of remote users' device lists, as Synapse keeps it
// (device_lists_remote_cache): only for users who share a room with a local
// user ("tracked": their server then tells us of every change), filled by
// GET /_matrix/federation/v1/user/devices/{userId}, kept current by
// m.device_list_update and m.signing_key_update, and dropped when no local
// user shares a room with them any more (we would stop hearing of changes).
//
// An update applies when its prev_id names the version we hold; otherwise
// an update was missed and the whole list is fetched again (a resync, in the
// background: the transaction that carried the update is answered first).
// A resync that fails marks the list stale: queries then ask the user's
// server directly, and the next query or update tries the resync again.
// Every applied change is recorded as a device-list change of the user, so
// local roommates see it in /sync device_lists.changed and /keys/changes.
import type { DeviceLists } from "../../server/e2ee/device-lists.ts";
import type { Logger } from "../../server/observability/logger.ts";
import { isValidUserId, serverNameOf } from "../../server/protocol/identifiers.ts";
import { isJsonObject, type JsonObject, type JsonValue } from "../../server/protocol/json.ts";
import type { Database } from "../../server/storage/database.ts";
import {
  applyRemoteDeviceUpdate,
  dropRemoteDeviceList,
  dropUntrackedRemoteDeviceLists,
  lockRemoteDeviceList,
  markRemoteDeviceListStale,
  remoteDeviceLists,
  replaceRemoteDeviceList,
  setRemoteCrossSigningKeys,
  usersSharingRoomWithServer,
  type RemoteDevice,
  type RemoteDeviceList,
} from "../../server/storage/remote-device-lists.ts";
import { KeyedQueue } from "../ingest/keyed-queue.ts";
import type { FederationClient } from "../transport/federation-client.ts";

/** A snapshot with more devices than this is not cached (Synapse's figure: something is wrong with such an account). */
export const MAX_CACHED_DEVICES = 1000;
/** Tracked users without a cached list that one query fetches lists for; the others are asked with /user/keys/query. */
export const MAX_RESYNCS_PER_QUERY = 10;
const DEFAULT_RESYNC_TIMEOUT_MS = 30_000;

export interface RemoteDeviceListsDeps {
  db: Database;
  client: Pick<FederationClient, "request">;
  serverName: string;
  deviceLists: Pick<DeviceLists, "write">;
  log: Logger;
  now?: () => number;
}

class BadAnswer extends Error {}

const isStreamId = (value: unknown): value is number => typeof value === "number" && Number.isSafeInteger(value) && value >= 0;

/** A device key object that belongs to `userId`'s `deviceId`, without any `unsigned` (we add our own). */
function deviceKeysOf(raw: unknown, userId: string, deviceId: string): JsonObject | undefined {
  if (!isJsonObject(raw) || raw.user_id !== userId || raw.device_id !== deviceId) return undefined;
  const { unsigned: _unsigned, ...keys } = raw;
  return keys;
}

/** A cross-signing key of `userId` with that usage, or undefined. */
export function crossSigningKeyOf(raw: unknown, userId: string, usage: "master" | "self_signing"): JsonObject | undefined {
  if (!isJsonObject(raw) || raw.user_id !== userId || !Array.isArray(raw.usage) || !raw.usage.includes(usage) || !isJsonObject(raw.keys)) return undefined;
  return raw;
}

/** GET /user/devices's answer, checked: every device and key must be the user's. */
function parseSnapshot(userId: string, body: JsonValue): Omit<RemoteDeviceList, "stale"> {
  if (!isJsonObject(body) || body.user_id !== userId || !isStreamId(body.stream_id) || !Array.isArray(body.devices)) throw new BadAnswer("malformed /user/devices answer");
  if (body.devices.length > MAX_CACHED_DEVICES) throw new BadAnswer(`more than ${MAX_CACHED_DEVICES} devices`);
  const devices: RemoteDevice[] = [];
  for (const raw of body.devices) {
    if (!isJsonObject(raw) || typeof raw.device_id !== "string" || raw.device_id.length === 0) continue;
    const keys = deviceKeysOf(raw.keys, userId, raw.device_id);
    const name = typeof raw.device_display_name === "string" ? raw.device_display_name : undefined;
    devices.push({ deviceId: raw.device_id, ...(keys ? { keys } : {}), ...(name !== undefined ? { displayName: name } : {}) });
  }
  const master = crossSigningKeyOf(body.master_key, userId, "master");
  const selfSigning = crossSigningKeyOf(body.self_signing_key, userId, "self_signing");
  return { userId, streamId: body.stream_id, devices, ...(master ? { masterKey: master } : {}), ...(selfSigning ? { selfSigningKey: selfSigning } : {}) };
}

interface Resync {
  done: Promise<RemoteDeviceList | undefined>;
  /** An update asked for a resync while this one ran: its snapshot may predate it, so run again. */
  again: boolean;
}

export function createRemoteDeviceLists(deps: RemoteDeviceListsDeps) {
  const { db, log } = deps;
  const now = deps.now ?? Date.now;
  const updates = new KeyedQueue();
  const running = new Map<string, Resync>();

  async function fetchAndStore(userId: string, announce: boolean, timeoutMs: number): Promise<RemoteDeviceList | undefined> {
    const server = serverNameOf(userId)!;
    let snapshot;
    try {
      const body = await deps.client.request(server, "GET", `/_matrix/federation/v1/user/devices/${encodeURIComponent(userId)}`, { timeoutMs });
      snapshot = parseSnapshot(userId, body);
    } catch (err) {
      log.info({ userId, err: (err as Error).message }, "device list resync failed");
      await markRemoteDeviceListStale(db, userId);
      return undefined;
    }
    let kept = true;
    await deps.deviceLists.write({ userId, deviceIds: snapshot.devices.map((d) => d.deviceId) }, async (tx) => {
      const held = await lockRemoteDeviceList(tx, userId);
      // An update newer than the snapshot was applied meanwhile: what we hold is newer.
      if (held && !held.stale && held.streamId > snapshot.streamId) {
        kept = false;
        return false;
      }
      await replaceRemoteDeviceList(tx, snapshot, now());
      return announce;
    });
    return kept ? { ...snapshot, stale: false } : (await remoteDeviceLists(db, [userId])).get(userId);
  }

  /**
   * Fetches the user's whole list and replaces the cache. `announce`: record
   * it as a change (local clients query again); a first fill for a query is
   * not news. Never throws: a failure leaves the list stale.
   */
  function resync(userId: string, announce: boolean, timeoutMs = DEFAULT_RESYNC_TIMEOUT_MS): Promise<RemoteDeviceList | undefined> {
    const current = running.get(userId);
    if (current) {
      current.again ||= announce;
      return current.done;
    }
    const entry: Resync = { again: false, done: Promise.resolve(undefined) };
    entry.done = (async () => {
      try {
        let result = await fetchAndStore(userId, announce, timeoutMs);
        while (entry.again) {
          entry.again = false;
          result = await fetchAndStore(userId, true, DEFAULT_RESYNC_TIMEOUT_MS);
        }
        return result;
      } catch (err) {
        log.error({ err, userId }, "storing a resynced device list failed");
        return undefined;
      } finally {
        running.delete(userId);
      }
    })();
    running.set(userId, entry);
    return entry.done;
  }

  const isTracked = async (userId: string): Promise<boolean> => (await usersSharingRoomWithServer(db, [userId], deps.serverName)).has(userId);

  /**
   * The cached lists /keys/query may answer from: tracked users only, and
   * for tracked users not cached yet (or stale) a resync within the time
   * left. Users missing from the answer must be asked of their server.
   */
  async function forQuery(userIds: readonly string[], deadline: number): Promise<Map<string, RemoteDeviceList>> {
    const [cached, tracked] = await Promise.all([remoteDeviceLists(db, userIds), usersSharingRoomWithServer(db, userIds, deps.serverName)]);
    const out = new Map<string, RemoteDeviceList>();
    const missing: string[] = [];
    for (const userId of userIds) {
      const list = cached.get(userId);
      if (!tracked.has(userId)) {
        if (list) await dropRemoteDeviceList(db, userId);
      } else if (list && !list.stale) {
        out.set(userId, list);
      } else {
        missing.push(userId);
      }
    }
    const left = deadline - now();
    if (left <= 0) return out;
    const fetched = await Promise.all(missing.slice(0, MAX_RESYNCS_PER_QUERY).map((userId) => resync(userId, cached.has(userId), left)));
    for (const list of fetched) if (list) out.set(list.userId, list);
    return out;
  }

  /** m.device_list_update from `origin` (spec: server-server API, "Device Management"). */
  async function onDeviceListUpdate(origin: string, content: JsonObject): Promise<void> {
    const { user_id: userId, device_id: deviceId, stream_id: streamId } = content;
    if (typeof userId !== "string" || !isValidUserId(userId) || serverNameOf(userId) !== origin) return;
    if (typeof deviceId !== "string" || deviceId.length === 0 || !isStreamId(streamId)) return;
    const prevIds = Array.isArray(content.prev_id) ? content.prev_id.filter(isStreamId) : [];
    const deleted = content.deleted === true;
    const keys = content.keys === undefined ? undefined : deviceKeysOf(content.keys, userId, deviceId);
    if (content.keys !== undefined && !keys) return;
    const name = typeof content.device_display_name === "string" ? content.device_display_name : undefined;
    const device: RemoteDevice = { deviceId, ...(keys ? { keys } : {}), ...(name !== undefined ? { displayName: name } : {}) };

    await updates.run(userId, async () => {
      if (!(await isTracked(userId))) {
        // No room shared: we will not hear of further changes, so nothing is kept (as Synapse).
        await dropRemoteDeviceList(db, userId);
        return;
      }
      let gap = false;
      await deps.deviceLists.write({ userId, deviceIds: [deviceId] }, async (tx) => {
        const held = await lockRemoteDeviceList(tx, userId);
        if (held && !held.stale && streamId <= held.streamId) return false; // seen already
        if (!held || held.stale || !prevIds.includes(held.streamId)) {
          gap = true;
          return false;
        }
        await applyRemoteDeviceUpdate(tx, userId, device, deleted, streamId, now());
        return true;
      });
      if (gap) {
        log.info({ userId, streamId, prevIds }, "device list update after a gap: resyncing");
        void resync(userId, true);
      }
    });
  }

  /** m.signing_key_update from `origin`: the user's new master and self-signing keys. */
  async function onSigningKeyUpdate(origin: string, content: JsonObject): Promise<void> {
    const userId = content.user_id;
    if (typeof userId !== "string" || !isValidUserId(userId) || serverNameOf(userId) !== origin) return;
    const master = crossSigningKeyOf(content.master_key, userId, "master");
    const selfSigning = crossSigningKeyOf(content.self_signing_key, userId, "self_signing");
    if (!master && !selfSigning) return;
    await updates.run(userId, async () => {
      if (!(await isTracked(userId))) {
        await dropRemoteDeviceList(db, userId);
        return;
      }
      // Recorded even when the list is not cached: local clients query again, and the query fetches it.
      await deps.deviceLists.write({ userId, deviceIds: [], signingKeys: true }, async (tx) => {
        if (await lockRemoteDeviceList(tx, userId)) await setRemoteCrossSigningKeys(tx, userId, { ...(master ? { master } : {}), ...(selfSigning ? { selfSigning } : {}) }, now());
        return true;
      });
    });
  }

  /** Memberships of `userIds` changed in `roomId`: users who share no room with a local user any more lose their cached lists. */
  async function onMembershipChange(roomId: string, userIds: readonly string[]): Promise<void> {
    const dropped = await dropUntrackedRemoteDeviceLists(db, roomId, userIds, deps.serverName);
    if (dropped.length > 0) log.debug({ roomId, users: dropped.length }, "remote device lists no longer tracked");
  }

  return { forQuery, resync, onDeviceListUpdate, onSigningKeyUpdate, onMembershipChange };
}

export type RemoteDeviceListCache = ReturnType<typeof createRemoteDeviceLists>;
