// The seams between end-to-end encryption and federation. The federation
// layer implements these two ports (and wires them in server/main.ts); until
// it does, `noFederation` stands in: remote users are reported under
// `failures` and nothing leaves the server. Inbound federation calls the
// e2ee services directly: keys.queryLocal / keys.claimLocal for
// /user/keys/query and /user/keys/claim (and /user/devices/{userId}, built
// from queryLocal), deviceLists.markChanged for m.device_list_update and
// m.signing_key_update, toDevice.deliverLocal for m.direct_to_device.
import type { JsonObject } from "../protocol/json.ts";

/** An answer shaped like POST /keys/query's, for remote users. */
export interface RemoteQueryResult {
  device_keys: Record<string, Record<string, JsonObject>>;
  master_keys: Record<string, JsonObject>;
  self_signing_keys: Record<string, JsonObject>;
  /** Servers that could not be reached, by server name. */
  failures: Record<string, JsonObject>;
}

/** An answer shaped like POST /keys/claim's, for remote users. */
export interface RemoteClaimResult {
  one_time_keys: Record<string, Record<string, JsonObject>>;
  failures: Record<string, JsonObject>;
}

/** Asks other servers for their users' keys (federation /user/keys/query and /user/keys/claim). */
export interface RemoteKeys {
  /** `deviceKeys`: remote user → device IDs (empty: all devices). */
  query(deviceKeys: ReadonlyMap<string, readonly string[]>, timeoutMs: number): Promise<RemoteQueryResult>;
  /** `oneTimeKeys`: remote user → device → algorithm. */
  claim(oneTimeKeys: ReadonlyMap<string, Readonly<Record<string, string>>>, timeoutMs: number): Promise<RemoteClaimResult>;
}

/** Tells other servers about local changes (EDUs). Called after commit; must not throw. */
export interface E2eeOutbound {
  /** m.device_list_update to the servers sharing a room with the user. */
  deviceListChanged(userId: string, deviceIds: readonly string[], deleted: boolean): void;
  /** m.signing_key_update to the servers sharing a room with the user. */
  signingKeysChanged(userId: string): void;
  /** m.direct_to_device to the recipients' servers; `messages`: remote user → device ID or "*" → content. */
  sendToDevice(sender: string, type: string, messages: ReadonlyMap<string, Readonly<Record<string, JsonObject>>>): void;
}

/** Servers named by these user IDs (the part after the first colon). */
export function serversOf(userIds: Iterable<string>): string[] {
  return [...new Set([...userIds].map((u) => u.slice(u.indexOf(":") + 1)))].sort();
}

/** The failure entry Synapse gives for a server it could not ask. */
const UNREACHABLE: JsonObject = { status: 503, message: "Federation is not available on this server" };

function unreachable(userIds: Iterable<string>): Record<string, JsonObject> {
  return Object.fromEntries(serversOf(userIds).map((s) => [s, UNREACHABLE]));
}

/** The stand-in until federation is wired: every remote server counts as unreachable; EDUs are not sent. */
export const noFederation: { remoteKeys: RemoteKeys; outbound: E2eeOutbound } = {
  remoteKeys: {
    query: async (deviceKeys) => ({ device_keys: {}, master_keys: {}, self_signing_keys: {}, failures: unreachable(deviceKeys.keys()) }),
    claim: async (oneTimeKeys) => ({ one_time_keys: {}, failures: unreachable(oneTimeKeys.keys()) }),
  },
  outbound: {
    deviceListChanged: () => undefined,
    signingKeysChanged: () => undefined,
    sendToDevice: () => undefined,
  },
};
