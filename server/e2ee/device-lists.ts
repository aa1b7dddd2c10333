// Device-list tracking: a change of a user's devices or keys takes a stream
// position (so the sync token covers it and long-polls wake), and is shown to
// everyone who shares a room with the user as device_lists.changed; users who
// stop sharing rooms appear in device_lists.left.
import { deleteSignaturesOnDevices } from "../storage/cross-signing.ts";
import type { Database, Queryable } from "../storage/database.ts";
import { deviceListsChangedFor, deviceListsLeftFor, markDeviceListsChanged } from "../storage/device-lists.ts";
import { membershipsOfUser } from "../storage/state.ts";
import type { Notifier } from "../sync/notifier.ts";
import type { StreamWriter } from "../sync/stream-writer.ts";
import type { AfterCommit, E2eeOutbound } from "./federation-ports.ts";
import { publishedCrossSigning, publishedDevices } from "./published-keys.ts";

export interface DeviceListsDeps {
  db: Database;
  streams: StreamWriter;
  notifier: Notifier;
  outbound: E2eeOutbound;
  /** Whether a user ID is local (its changes go out over federation). */
  isLocal: (userId: string) => boolean;
}

export interface DeviceListChange {
  userId: string;
  /** The devices concerned (empty: the user's cross-signing keys). */
  deviceIds: readonly string[];
  deleted?: boolean;
  /** Cross-signing keys (or signatures on the master key) changed: m.signing_key_update, plus m.device_list_update when devices are named too. */
  signingKeys?: boolean;
}

export function createDeviceLists(deps: DeviceListsDeps) {
  const { db, streams, notifier } = deps;

  /** Wakes every sync that shares a room with the user: one room notification per joined room. */
  async function wakeRoomsOf(userId: string, position: number): Promise<void> {
    const rooms = (await membershipsOfUser(db, userId)).filter((m) => m.membership === "join");
    await Promise.all(rooms.map((m) => notifier.notify({ position, roomId: m.roomId })));
  }

  /**
   * A local user's change as EDUs for other servers, stored in the change's
   * transaction (the keys read after `work`, so they are the new ones).
   */
  async function announce(tx: Queryable, change: DeviceListChange): Promise<AfterCommit[]> {
    const out: AfterCommit[] = [];
    if (change.signingKeys) out.push(await deps.outbound.signingKeysChanged(tx, change.userId, await publishedCrossSigning(tx, change.userId)));
    if (change.deviceIds.length > 0) out.push(await deps.outbound.deviceListChanged(tx, change.userId, await publishedDevices(tx, change.userId, change.deviceIds)));
    return out;
  }

  /**
   * Runs `work` in a stream transaction and records the change at its
   * position when `work` resolves true, with a local user's EDUs for other
   * servers; then wakes the user and their roommates, and the senders.
   * Deleted devices lose the signatures made on them in the same transaction.
   */
  async function write(change: DeviceListChange, work: (tx: Queryable, position: number) => Promise<boolean> = async () => true): Promise<boolean> {
    let changed = false;
    let afterCommit: AfterCommit[] = [];
    const position = await streams.write({ userIds: [change.userId] }, async (tx, position) => {
      changed = await work(tx, position);
      if (!changed) return;
      if (change.deleted) await deleteSignaturesOnDevices(tx, change.userId, change.deviceIds);
      await markDeviceListsChanged(tx, [change.userId], position);
      if (deps.isLocal(change.userId)) afterCommit = await announce(tx, change);
    });
    if (!changed) return false;
    for (const run of afterCommit) run();
    await wakeRoomsOf(change.userId, position);
    return true;
  }

  /** device_lists for a sync (or /keys/changes) from `since` on (see server/storage/device-lists.ts). */
  async function since(userId: string, since: number): Promise<{ changed: string[]; left: string[] }> {
    const [changed, left] = await Promise.all([deviceListsChangedFor(db, userId, since), deviceListsLeftFor(db, userId, since)]);
    return { changed, left };
  }

  return {
    write,
    /** A change with nothing else to write: devices deleted or renamed. */
    markChanged: (change: DeviceListChange) => write(change),
    since,
  };
}

export type DeviceLists = ReturnType<typeof createDeviceLists>;
