// Other servers' users' keys for our clients' /keys/query and /keys/claim
// (the RemoteKeys port of server/e2ee/federation-ports.ts). Each server is
// asked once per request, all in parallel, within the request's timeout:
// POST /_matrix/federation/v1/user/keys/query for users whose device list
// is not cached (remote-device-lists.ts answers the tracked ones), and
// POST /user/keys/claim. A server that cannot answer is listed under
// `failures` as Synapse lists it ({"status": <HTTP status or 503>,
// "message": ...}), in our words, never the remote's. Only what the asked
// server may speak for is kept: its own users, the devices asked for.
import type { RemoteClaimResult, RemoteKeys, RemoteQueryResult } from "../../server/e2ee/federation-ports.ts";
import type { Logger } from "../../server/observability/logger.ts";
import { serverNameOf } from "../../server/protocol/identifiers.ts";
import { isJsonObject, type JsonObject, type JsonValue } from "../../server/protocol/json.ts";
import type { RemoteDeviceList } from "../../server/storage/remote-device-lists.ts";
import { FederationError, type FederationClient } from "../transport/federation-client.ts";
import { crossSigningKeyOf, type RemoteDeviceListCache } from "./remote-device-lists.ts";

export interface RemoteKeysDeps {
  client: Pick<FederationClient, "request">;
  cache: Pick<RemoteDeviceListCache, "forQuery">;
  log: Logger;
  now?: () => number;
}

/** The failure entry for a server, Synapse's shape, our words. */
function failureOf(server: string, err: unknown): JsonObject {
  if (err instanceof FederationError && err.failure === "http" && err.status !== undefined) return { status: err.status, message: `${server} refused the request` };
  if (err instanceof FederationError && err.failure === "timeout") return { status: 503, message: `Timed out waiting for ${server}` };
  return { status: 503, message: `Could not reach ${server}` };
}

function byServer<T>(wanted: ReadonlyMap<string, T>): Map<string, Map<string, T>> {
  const out = new Map<string, Map<string, T>>();
  for (const [userId, value] of wanted) {
    const server = serverNameOf(userId);
    if (server === undefined) continue;
    (out.get(server) ?? out.set(server, new Map()).get(server)!).set(userId, value);
  }
  return out;
}

const emptyQuery = (): RemoteQueryResult => ({ device_keys: {}, master_keys: {}, self_signing_keys: {}, failures: {} });

/** A cached list as a /keys/query answer for the devices asked for (all when none are named). */
function answerFromCache(list: RemoteDeviceList, deviceIds: readonly string[], into: RemoteQueryResult): void {
  const devices: Record<string, JsonObject> = {};
  for (const d of list.devices) {
    if (!d.keys || (deviceIds.length > 0 && !deviceIds.includes(d.deviceId))) continue;
    devices[d.deviceId] = { ...d.keys, unsigned: d.displayName !== undefined ? { device_display_name: d.displayName } : {} };
  }
  into.device_keys[list.userId] = devices;
  if (list.masterKey) into.master_keys[list.userId] = list.masterKey;
  if (list.selfSigningKey) into.self_signing_keys[list.userId] = list.selfSigningKey;
}

/** A /user/keys/query answer from `server`, keeping only the asked users and devices, each consistent with its owner. */
function takeQueryAnswer(body: JsonValue, wanted: ReadonlyMap<string, readonly string[]>, into: RemoteQueryResult): void {
  if (!isJsonObject(body) || !isJsonObject(body.device_keys)) throw new Error("malformed /user/keys/query answer");
  const masters = isJsonObject(body.master_keys) ? body.master_keys : {};
  const selfSigning = isJsonObject(body.self_signing_keys) ? body.self_signing_keys : {};
  for (const [userId, deviceIds] of wanted) {
    const devices = body.device_keys[userId];
    const out: Record<string, JsonObject> = {};
    for (const [deviceId, keys] of Object.entries(isJsonObject(devices) ? devices : {})) {
      if (deviceIds.length > 0 && !deviceIds.includes(deviceId)) continue;
      if (isJsonObject(keys) && keys.user_id === userId && keys.device_id === deviceId) out[deviceId] = keys;
    }
    into.device_keys[userId] = out;
    const master = crossSigningKeyOf(masters[userId], userId, "master");
    if (master) into.master_keys[userId] = master;
    const ssk = crossSigningKeyOf(selfSigning[userId], userId, "self_signing");
    if (ssk) into.self_signing_keys[userId] = ssk;
  }
}

/** A /user/keys/claim answer, keeping only keys of the asked devices. */
function takeClaimAnswer(body: JsonValue, wanted: ReadonlyMap<string, Readonly<Record<string, string>>>, into: RemoteClaimResult): void {
  if (!isJsonObject(body) || !isJsonObject(body.one_time_keys)) throw new Error("malformed /user/keys/claim answer");
  for (const [userId, devices] of wanted) {
    const got = body.one_time_keys[userId];
    if (!isJsonObject(got)) continue;
    for (const deviceId of Object.keys(devices)) {
      const keys = got[deviceId];
      if (isJsonObject(keys) && Object.keys(keys).length > 0) (into.one_time_keys[userId] ??= {})[deviceId] = keys;
    }
  }
}

export function createRemoteKeys(deps: RemoteKeysDeps): RemoteKeys {
  const { client, log } = deps;
  const now = deps.now ?? Date.now;

  async function queryServer(server: string, wanted: Map<string, readonly string[]>, deadline: number, into: RemoteQueryResult): Promise<void> {
    const cached = await deps.cache.forQuery([...wanted.keys()], deadline);
    const rest = new Map<string, readonly string[]>();
    for (const [userId, deviceIds] of wanted) {
      const list = cached.get(userId);
      if (list) answerFromCache(list, deviceIds, into);
      else rest.set(userId, deviceIds);
    }
    if (rest.size === 0) return;
    try {
      const timeoutMs = deadline - now();
      if (timeoutMs <= 0) throw new FederationError(server, "timeout", "no time left");
      const body = await client.request(server, "POST", "/_matrix/federation/v1/user/keys/query", { body: { device_keys: Object.fromEntries(rest) as JsonObject }, timeoutMs });
      takeQueryAnswer(body, rest, into);
    } catch (err) {
      log.info({ destination: server, err: (err as Error).message }, "remote key query failed");
      into.failures[server] = failureOf(server, err);
    }
  }

  async function claimServer(server: string, wanted: Map<string, Readonly<Record<string, string>>>, timeoutMs: number, into: RemoteClaimResult): Promise<void> {
    try {
      const body = await client.request(server, "POST", "/_matrix/federation/v1/user/keys/claim", { body: { one_time_keys: Object.fromEntries(wanted) as JsonObject }, timeoutMs });
      takeClaimAnswer(body, wanted, into);
    } catch (err) {
      log.info({ destination: server, err: (err as Error).message }, "remote key claim failed");
      into.failures[server] = failureOf(server, err);
    }
  }

  return {
    async query(deviceKeys, timeoutMs) {
      const out = emptyQuery();
      const deadline = now() + timeoutMs;
      await Promise.all([...byServer(deviceKeys)].map(([server, wanted]) => queryServer(server, wanted, deadline, out)));
      return out;
    },
    async claim(oneTimeKeys, timeoutMs) {
      const out: RemoteClaimResult = { one_time_keys: {}, failures: {} };
      await Promise.all([...byServer(oneTimeKeys)].map(([server, wanted]) => claimServer(server, wanted, timeoutMs, out)));
      return out;
    },
  };
}
