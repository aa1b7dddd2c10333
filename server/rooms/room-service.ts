// Room writes shared by the client API, federation and the admin CLI. Every
// write is one transaction: rooms are locked as they are touched, events are
// appended through the event pipeline (server/rooms/events/), stream
// positions are assigned at the end (commitAppended), and after COMMIT the
// after-commit port (filled by the composition root: sync wake-ups, later the
// federation sender and jobs) hears of each room's new events.
import { forbidden, MatrixError } from "../errors/matrix-error.ts";
import type { RoomEvent } from "../protocol/events.ts";
import type { JsonObject } from "../protocol/json.ts";
import { getRoomVersion, type RoomVersion } from "../protocol/room-versions.ts";
import type { BoundedCache } from "../lib/bounded-cache.ts";
import type { Database, Queryable } from "../storage/database.ts";
import { allocateStreamPositions, findTxnEvent, insertTxnEvent, type TxnKey } from "../storage/events.ts";
import { storeInviteRoomState } from "../storage/federation.ts";
import { getRoomVersionId, insertRoomIfMissing, lockRoom, roomMembers, setMembership } from "../storage/state.ts";
import { appendLocalEvent, buildLocalEvent, type EventDraft, type Signer } from "./events/build-local.ts";
import { commitAppended } from "./events/commit.ts";
import { ingestEvent, ingestOutlier, ingestOutliers, type IngestOptions } from "./events/ingest.ts";
import { persistEvent, type Appended } from "./events/persist.ts";

/** What one committed write did to one room. */
export interface CommittedRoom {
  roomId: string;
  position: number;
  appended: readonly Appended[];
  /** Users to wake besides those whose membership the appended events changed. */
  userIds?: readonly string[];
}

export type AfterCommit = (committed: CommittedRoom) => Promise<void>;

export interface RoomServiceDeps {
  db: Database;
  signer: Signer;
  afterCommit: AfterCommit;
  /** Room ID → version; bounded (caches.room_versions) so it does not grow with every room the process has seen. */
  versions: BoundedCache<string, RoomVersion>;
  /** Milliseconds since the epoch; injectable so tests can freeze time. */
  clock?: () => number;
}

export interface SendResult {
  eventId: string;
  position: number;
}

export type TxnScope = TxnKey;

/**
 * The endpoint part of a transaction ID's scope. The spec scopes IDs per
 * device and per endpoint (Synapse: per request path), so the same ID in two
 * rooms, for two event types or for two redaction targets is two requests.
 * The stream's `send` uses the HTTP endpoint's scope: a retry may switch transport.
 */
export const txnEndpoint = {
  send: (roomId: string, eventType: string) => `send ${roomId} ${eventType}`,
  redact: (roomId: string, eventId: string) => `redact ${roomId} ${eventId}`,
};

/** The handle a write gets inside its transaction. */
export interface RoomWrite {
  readonly tx: Queryable;
  readonly now: number;
  /** Serialises writers of the room until COMMIT (pg advisory lock). */
  lock(roomId: string): Promise<void>;
  /** Builds, checks and persists a local event in a locked room; 403 if the auth rules refuse it. */
  appendLocal(roomId: string, version: RoomVersion, draft: EventDraft): Promise<Appended>;
  /** Builds and checks a local event without storing it (an invite another server must countersign first). */
  buildLocal(roomId: string, version: RoomVersion, draft: EventDraft): Promise<RoomEvent>;
  /** Checks and persists an event built elsewhere (federation) in a locked room; undefined when already held. */
  ingest(version: RoomVersion, event: RoomEvent, options?: IngestOptions): Promise<Appended | undefined>;
  /** Stores an event without a place in the DAG (auth chain, state from a join). */
  ingestOutlier(version: RoomVersion, event: RoomEvent): Promise<Appended | undefined>;
  /** `ingestOutlier` for many events, auth events first, in a few statements; returns how many were new. */
  ingestOutliers(version: RoomVersion, events: readonly RoomEvent[]): Promise<number>;
  /** Hands events persisted by other pipeline entry points (the create event) to the commit. */
  record(roomId: string, version: RoomVersion, appended: Appended): void;
  /** Commits a room's events now rather than at the end, to order it before other rooms of the write. */
  commit(roomId: string): Promise<number | undefined>;
  /** A change positioned by the write itself (not a timeline event), to announce after COMMIT. */
  announce(change: CommittedRoom): void;
}

export function createRoomService(deps: RoomServiceDeps) {
  const { versions } = deps;
  /**
   * Timestamps of this process's writes never repeat: a room's create event
   * is hashed into its ID (v12) or event ID (v3+), so two identical
   * createRoom requests of one user in the same millisecond would otherwise
   * make the same event.
   */
  let lastTimestamp = 0;
  const clock = deps.clock ?? Date.now;
  const nextTimestamp = () => (lastTimestamp = Math.max(clock(), lastTimestamp + 1));

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

  /** Runs `work` in one transaction and commits every room it appended to, then tells the after-commit port. */
  async function write<T>(work: (w: RoomWrite) => Promise<T>): Promise<{ value: T; committed: CommittedRoom[] }> {
    const outcome = await deps.db.transaction(async (tx) => {
      const pending = new Map<string, { version: RoomVersion; appended: Appended[] }>();
      const committed: CommittedRoom[] = [];
      const commit = async (roomId: string): Promise<number | undefined> => {
        const entry = pending.get(roomId);
        if (!entry) return undefined;
        pending.delete(roomId);
        const position = await commitAppended(tx, entry.version, entry.appended);
        if (position !== undefined) committed.push({ roomId, position, appended: entry.appended });
        return position;
      };
      const record = (roomId: string, version: RoomVersion, appended: Appended) => {
        const entry = pending.get(roomId) ?? { version, appended: [] };
        entry.appended.push(appended);
        pending.set(roomId, entry);
      };
      const w: RoomWrite = {
        tx,
        now: nextTimestamp(),
        lock: (roomId) => lockRoom(tx, roomId),
        async appendLocal(roomId, version, draft) {
          const appended = await appendLocalEvent(tx, deps.signer, roomId, version, draft, w.now);
          record(roomId, version, appended);
          return appended;
        },
        async buildLocal(roomId, version, draft) {
          return (await buildLocalEvent(tx, deps.signer, roomId, version, draft, w.now)).event;
        },
        async ingest(version, event, options) {
          const appended = await ingestEvent(tx, version, event, options);
          if (appended) record(event.roomId, version, appended);
          return appended;
        },
        ingestOutlier: (version, event) => ingestOutlier(tx, version, event),
        ingestOutliers: (version, events) => ingestOutliers(tx, version, events),
        record,
        commit,
        announce: (change) => committed.push(change),
      };
      const value = await work(w);
      for (const roomId of [...pending.keys()]) await commit(roomId);
      return { value, committed };
    });
    for (const room of outcome.committed) await deps.afterCommit(room);
    return outcome;
  }

  /**
   * Sends events in order in one transaction. With `txn`, a retry of the
   * same (user, device, endpoint, transaction ID) returns the first event
   * instead of sending again (spec: "Transaction identifiers").
   */
  async function send(roomId: string, drafts: readonly EventDraft[], txn?: TxnScope): Promise<SendResult> {
    const { value, committed } = await write(async (w) => {
      await w.lock(roomId);
      if (txn) {
        const previous = await findTxnEvent(w.tx, txn);
        if (previous) return previous;
      }
      const version = await roomVersion(w.tx, roomId);
      let last: Appended | undefined;
      for (const draft of drafts) last = await w.appendLocal(roomId, version, draft);
      if (txn) await insertTxnEvent(w.tx, txn, last!.event.eventId, w.now);
      return last!.event.eventId;
    });
    return { eventId: value, position: committed[0]?.position ?? 0 };
  }

  /**
   * A local user's membership in a room this server is not in (an invite
   * received over federation, its rejection, a knock sent out): the event is
   * held as an outlier, unchecked (we lack the room's state), and the user's
   * membership row gets a stream position so their sync shows it. The rooms
   * row is created if needed. `roomState` is the stripped state to show with
   * an invite.
   */
  async function recordOutOfRoomMembership(version: RoomVersion, event: RoomEvent, roomState?: readonly JsonObject[]): Promise<number> {
    const userId = event.stateKey!;
    const membership = String(event.content.membership);
    const { committed } = await write(async (w) => {
      const create = roomState?.find((e) => e.type === "m.room.create");
      await insertRoomIfMissing(w.tx, { roomId: event.roomId, version: version.id, creator: typeof create?.sender === "string" ? create.sender : "", isPublic: false, now: w.now });
      await w.lock(event.roomId);
      const appended = await persistEvent(w.tx, version, { event, outcome: { kind: "accepted" }, outlier: true, stateBefore: null, missingPrevIds: [], mayHaveChildren: true });
      if (roomState) await storeInviteRoomState(w.tx, appended.nid, roomState);
      const [position] = await allocateStreamPositions(w.tx, 1);
      await setMembership(w.tx, event.roomId, userId, membership, appended.nid, position!);
      w.announce({ roomId: event.roomId, position: position!, appended: [], userIds: [userId] });
      return position!;
    });
    return committed[0]!.position;
  }

  /**
   * Sends an event another server must sign before the room sees it (an
   * invite of its user): built and checked under the lock, countersigned with
   * the lock released (a network call), then persisted like a received event;
   * if the room moved on meanwhile, it simply forks the DAG.
   */
  async function sendCountersigned(roomId: string, draft: EventDraft, countersign: (version: RoomVersion, event: RoomEvent) => Promise<RoomEvent>): Promise<string> {
    const { value: built } = await write(async (w) => {
      await w.lock(roomId);
      const version = await roomVersion(w.tx, roomId);
      return { version, event: await w.buildLocal(roomId, version, draft) };
    });
    const signed = await countersign(built.version, built.event);
    await write(async (w) => {
      await w.lock(roomId);
      const appended = await w.ingest(built.version, signed, { federateOut: true });
      if (appended && appended.outcome.kind !== "accepted") throw forbidden(`The event was refused: ${appended.outcome.reason}`);
    });
    return signed.eventId;
  }

  async function joinedMembers(q: Queryable, roomId: string): Promise<string[]> {
    return (await roomMembers(q, roomId, "join")).map((m) => m.userId);
  }

  return { roomVersion, write, send, sendCountersigned, recordOutOfRoomMembership, joinedMembers };
}

export type RoomService = ReturnType<typeof createRoomService>;

/** Users whose membership a committed write changed, directly or through state resolution. */
export function membershipChangesOf(committed: CommittedRoom): string[] {
  const changed = committed.appended.flatMap((a) => a.stateChanges.filter((c) => c.type === "m.room.member").map((c) => c.stateKey));
  return [...new Set([...changed, ...(committed.userIds ?? [])])];
}

export type { EventDraft, JsonObject, Signer };
