// The seams between end-to-end encryption and federation. The federation
// layer implements these two ports (federation/e2ee/, bound in server/main.ts
// through `federationSlot`); without it `noFederation` stands in: remote
// users are reported under `failures` and nothing leaves the server. Inbound
// federation calls the e2ee services directly: keys.queryLocal /
// keys.claimLocal for /user/keys/query and /user/keys/claim,
// published-keys.ts for /user/devices/{userId}, deviceLists.write for
// m.device_list_update and m.signing_key_update, toDevice.deliverLocal for
// m.direct_to_device.
import type { JsonObject } from "../protocol/json.ts";
import type { Queryable } from "../storage/database.ts";
import type { PublishedCrossSigning, PublishedDevice } from "./published-keys.ts";

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

/** What to do once the change's transaction committed (wake the senders of the destinations). */
export type AfterCommit = () => void;

/**
 * Tells other servers about local changes (EDUs). Each method runs inside
 * the transaction of the change it announces, so the EDUs are stored exactly
 * when the change is (a crash cannot commit one without the other); the
 * returned function runs after COMMIT.
 */
export interface E2eeOutbound {
  /** m.device_list_update per device to the servers sharing a room with the user. */
  deviceListChanged(tx: Queryable, userId: string, devices: readonly PublishedDevice[]): Promise<AfterCommit>;
  /** m.signing_key_update to the servers sharing a room with the user. */
  signingKeysChanged(tx: Queryable, userId: string, keys: PublishedCrossSigning): Promise<AfterCommit>;
  /** m.direct_to_device to the recipients' servers; `messages`: remote user → device ID or "*" → content. */
  sendToDevice(tx: Queryable, sender: string, type: string, messages: ReadonlyMap<string, Readonly<Record<string, JsonObject>>>): Promise<AfterCommit>;
}

export interface E2eeFederation {
  remoteKeys: RemoteKeys;
  outbound: E2eeOutbound;
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

const nothingAfterCommit: AfterCommit = () => undefined;

/** The stand-in without federation: every remote server counts as unreachable; EDUs are not sent. */
export const noFederation: E2eeFederation = {
  remoteKeys: {
    query: async (deviceKeys) => ({ device_keys: {}, master_keys: {}, self_signing_keys: {}, failures: unreachable(deviceKeys.keys()) }),
    claim: async (oneTimeKeys) => ({ one_time_keys: {}, failures: unreachable(oneTimeKeys.keys()) }),
  },
  outbound: {
    deviceListChanged: async () => nothingAfterCommit,
    signingKeysChanged: async () => nothingAfterCommit,
    sendToDevice: async () => nothingAfterCommit,
  },
};

/**
 * Ports filled in later: the federation layer needs the e2ee services (for
 * inbound EDUs and /user/keys/*), and they need its ports, so the composition
 * root creates the services with this slot and binds federation's ports once
 * built. Until then it behaves as `noFederation`.
 */
export function federationSlot(): { ports: E2eeFederation; bind(ports: E2eeFederation): void } {
  let bound: E2eeFederation = noFederation;
  return {
    ports: {
      remoteKeys: {
        query: (deviceKeys, timeoutMs) => bound.remoteKeys.query(deviceKeys, timeoutMs),
        claim: (oneTimeKeys, timeoutMs) => bound.remoteKeys.claim(oneTimeKeys, timeoutMs),
      },
      outbound: {
        deviceListChanged: (tx, userId, devices) => bound.outbound.deviceListChanged(tx, userId, devices),
        signingKeysChanged: (tx, userId, keys) => bound.outbound.signingKeysChanged(tx, userId, keys),
        sendToDevice: (tx, sender, type, messages) => bound.outbound.sendToDevice(tx, sender, type, messages),
      },
    },
    bind(ports) {
      bound = ports;
    },
  };
}
