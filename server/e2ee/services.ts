// The end-to-end encryption services of one process, built once by
// server/services.ts and shared by the client API, the sync engine and (for
// inbound EDUs and /user/keys/*) the federation layer.
import type { Database } from "../storage/database.ts";
import type { Notifier } from "../sync/notifier.ts";
import type { StreamWriter } from "../sync/stream-writer.ts";
import { createCrossSigning } from "./cross-signing.ts";
import { createDehydratedDevices } from "./dehydrated-devices.ts";
import { createDeviceLists } from "./device-lists.ts";
import { noFederation, type E2eeFederation } from "./federation-ports.ts";
import { createKeyBackup } from "./key-backup.ts";
import { createKeys } from "./keys.ts";
import { createE2eeSync } from "./sync-sections.ts";
import { createToDevice } from "./to-device.ts";

export interface E2eeDeps {
  db: Database;
  streams: StreamWriter;
  notifier: Notifier;
  serverName: string;
  /** The federation layer's ports (a `federationSlot`'s); without them remote users are unreachable. */
  federation?: E2eeFederation;
  /** Undelivered to-device messages per device (limits.to_device_inbox_per_device). */
  toDeviceInboxLimit: number;
}

export function createE2eeServices(deps: E2eeDeps) {
  const { db, streams, notifier, serverName } = deps;
  const { remoteKeys, outbound } = deps.federation ?? noFederation;
  const isLocal = (userId: string) => userId.slice(userId.indexOf(":") + 1) === serverName;
  const deviceLists = createDeviceLists({ db, streams, notifier, outbound, isLocal });
  const keys = createKeys({ db, deviceLists, remoteKeys, isLocal });
  const toDevice = createToDevice({ db, streams, outbound, isLocal, inboxLimit: deps.toDeviceInboxLimit });
  const crossSigning = createCrossSigning({ db, deviceLists, remoteKeys, isLocal });
  const keyBackup = createKeyBackup({ db });
  const dehydratedDevices = createDehydratedDevices({ db, keys, deviceLists, toDevice });
  const sync = createE2eeSync({ keys, toDevice, deviceLists });
  return { deviceLists, keys, toDevice, crossSigning, keyBackup, dehydratedDevices, sync };
}

export type E2eeServices = ReturnType<typeof createE2eeServices>;
