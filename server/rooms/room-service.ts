// Room operations shared by the client API (and later federation and the
// admin CLI): sending events with transaction-ID idempotency, and room
// creation. Each operation is one transaction under the room's lock; waiters
// are notified after COMMIT.
import { forbidden, MatrixError } from "../errors/matrix-error.ts";
import type { JsonObject } from "../protocol/json.ts";
import { getRoomVersion, type RoomVersion } from "../protocol/room-versions.ts";
import type { BoundedCache } from "../lib/bounded-cache.ts";
import type { Database, Queryable } from "../storage/database.ts";
import { findTxnEvent, insertTxnEvent } from "../storage/events.ts";
import { getRoomVersionId, lockRoom, roomMembers } from "../storage/state.ts";
import type { Notifier } from "../sync/notifier.ts";
import { appendEvent, commitAppended, type Appended, type EventDraft, type Signer } from "./append-event.ts";

export interface RoomServiceDeps {
  db: Database;
  signer: Signer;
  notifier: Notifier;
  /** Room ID → version; bounded (caches.room_versions) so it does not grow with every room the process has seen. */
  versions: BoundedCache<string, RoomVersion>;
}

export interface SendResult {
  eventId: string;
  position: number;
}

export interface TxnScope {
  userId: string;
  deviceId: string;
  txnId: string;
}

export function createRoomService(deps: RoomServiceDeps) {
  const { versions } = deps;

  /** The room's version (immutable, so cached); 403 for unknown rooms, as Synapse does, to not reveal which exist. */
  async function roomVersion(q: Queryable, roomId: string): Promise<RoomVersion> {
    const cached = versions.get(roomId);
    if (cached) return cached;
    const id = await getRoomVersionId(q, roomId);
    if (id === undefined) throw forbidden("User is not in the room");
    const version = getRoomVersion(id);
    if (!version) throw new MatrixError(500, "M_UNKNOWN", `Room has unsupported version ${id}`);
    versions.set(roomId, version);
    return version;
  }

  /** Tells waiters in every process; membership changes also wake the affected user. */
  async function announce(roomId: string, position: number, appended: readonly Appended[]): Promise<void> {
    const userIds = appended.filter((a) => a.event.type === "m.room.member" && a.event.stateKey !== undefined).map((a) => a.event.stateKey!);
    await deps.notifier.notify({ position, roomId, ...(userIds.length > 0 ? { userIds } : {}) });
  }

  /**
   * Sends events in order in one transaction. With `txn`, a retry of the
   * same (user, device, transaction ID) returns the first event instead of
   * sending again (spec: "Transaction identifiers").
   */
  async function send(roomId: string, drafts: readonly EventDraft[], txn?: TxnScope): Promise<SendResult> {
    const now = Date.now();
    const outcome = await deps.db.transaction(async (tx) => {
      await lockRoom(tx, roomId);
      if (txn) {
        const previous = await findTxnEvent(tx, txn.userId, txn.deviceId, txn.txnId);
        if (previous) return { eventId: previous, position: 0, appended: [] as Appended[] };
      }
      const version = await roomVersion(tx, roomId);
      const appended: Appended[] = [];
      for (const draft of drafts) appended.push(await appendEvent(tx, deps.signer, roomId, version, draft, now));
      const position = await commitAppended(tx, version, appended);
      const last = appended[appended.length - 1]!;
      if (txn) await insertTxnEvent(tx, txn.userId, txn.deviceId, txn.txnId, last.event.eventId, now);
      return { eventId: last.event.eventId, position, appended };
    });
    if (outcome.appended.length > 0) await announce(roomId, outcome.position, outcome.appended);
    return { eventId: outcome.eventId, position: outcome.position };
  }

  async function joinedMembers(q: Queryable, roomId: string): Promise<string[]> {
    return (await roomMembers(q, roomId, "join")).map((m) => m.userId);
  }

  return { roomVersion, send, announce, joinedMembers };
}

export type RoomService = ReturnType<typeof createRoomService>;

export type { EventDraft, JsonObject };
