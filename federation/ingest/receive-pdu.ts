// A PDU received from another server, from verification to the DAG (spec
// "Checks performed on receipt of a PDU" and "Retrieving missing events"):
//   1–3. format, signatures, content hash           federation/ingest/verify-pdu.ts
//        server ACL of the room against the origin    server/protocol/server-acl.ts
//   auth events we lack are fetched and stored as outliers first;
//   missing prev_events are asked for with /get_missing_events (bounded), and
//   where the gap remains, the state before the event is built from /state_ids
//   of each missing parent;
//   4–6. the auth checks and persistence              server/rooms/events/ingest.ts
// Network calls happen outside the room lock; only the final write holds it.
import type { Logger } from "../../server/observability/logger.ts";
import { stateTuple, type RoomEvent } from "../../server/protocol/events.ts";
import type { JsonObject, JsonValue } from "../../server/protocol/json.ts";
import type { RoomVersion } from "../../server/protocol/room-versions.ts";
import { serverAllowedByAcl } from "../../server/protocol/server-acl.ts";
import { authState } from "../../server/rooms/events/auth-state.ts";
import { loadParents, stateBeforeWithSuppliedStates } from "../../server/rooms/events/state-before.ts";
import type { RoomService } from "../../server/rooms/room-service.ts";
import type { Database, Queryable } from "../../server/storage/database.ts";
import { getEventsByIds, getForwardExtremities } from "../../server/storage/events.ts";
import type { Keyring } from "../keys/keyring.ts";
import { FederationError } from "../transport/federation-client.ts";
import type { RemoteEvents } from "./remote-events.ts";
import { verifyPdu } from "./verify-pdu.ts";

/** Synapse asks for at most 10 missing events per received PDU. */
const MISSING_EVENTS_LIMIT = 10;
/** Events fetched one by one to fill one PDU's auth chain or a parent's state; past it the PDU fails. */
const FETCH_BUDGET = 500;

export interface PduReceiverDeps {
  db: Database;
  rooms: Pick<RoomService, "write">;
  keyring: Pick<Keyring, "verifyKeysFor">;
  remote: RemoteEvents;
  log: Logger;
}

export class PduRefused extends Error {}

/** Whether the room's server ACL lets `serverName` take part (spec: applied to every request about the room). */
export async function serverAllowedInRoom(db: Queryable, roomId: string, serverName: string): Promise<boolean> {
  const acl = (await authState(db, roomId, [["m.room.server_acl", ""]])).get(stateTuple("m.room.server_acl", ""));
  return serverAllowedByAcl(acl?.content as JsonObject | undefined, serverName);
}

export async function checkServerAcl(db: Queryable, roomId: string, serverName: string): Promise<void> {
  if (!(await serverAllowedInRoom(db, roomId, serverName))) throw new PduRefused(`${serverName} is denied by the room's server ACL`);
}

export function createPduReceiver(deps: PduReceiverDeps) {
  const { db, rooms, remote } = deps;

  async function verified(json: unknown, version: RoomVersion, roomId: string, eventId?: string): Promise<RoomEvent> {
    const result = await verifyPdu(json, version, deps.keyring, { roomId, ...(eventId ? { eventId } : {}) });
    if (!result.ok) throw new PduRefused(result.reason);
    if (result.redacted) deps.log.warn({ roomId, eventId: result.event.eventId }, "PDU content hash mismatch: stored redacted");
    return result.event;
  }

  /** Held at all (timeline, outlier, even rejected): nothing to fetch. */
  async function heldIds(ids: readonly string[]): Promise<Set<string>> {
    return new Set((await getEventsByIds(db, ids)).keys());
  }

  /**
   * Fetches events we lack from `origin` and stores them as outliers, each
   * after the auth events it cites (depth first). `budget.left` bounds the
   * number of requests for one received PDU.
   */
  async function fetchOutliers(origin: string, version: RoomVersion, roomId: string, ids: readonly string[], budget: { left: number }): Promise<void> {
    const held = await heldIds(ids);
    for (const id of ids) {
      if (held.has(id)) continue;
      if (budget.left-- <= 0) throw new PduRefused("too many events missing to fill this gap");
      const json = await remote.event(origin, id);
      if (json === undefined) throw new PduRefused(`${origin} did not return event ${id}`);
      const event = await verified(json, version, roomId, id);
      await fetchOutliers(origin, version, roomId, event.authEventIds, budget);
      await rooms.write(async (w) => {
        await w.lock(roomId);
        await w.ingestOutlier(version, event);
      });
      held.add(id);
    }
  }

  /** The state after a parent we lack, from its origin: /state_ids at it (the state before it) plus the parent itself. */
  async function suppliedStateAfter(origin: string, version: RoomVersion, roomId: string, parentId: string, budget: { left: number }) {
    const { stateIds, authChainIds } = await remote.stateIds(origin, roomId, parentId);
    await fetchOutliers(origin, version, roomId, [...authChainIds, ...stateIds, parentId], budget);
    const events = await getEventsByIds(db, [...stateIds, parentId]);
    const state = new Map<string, { type: string; stateKey: string; eventNid: number }>();
    for (const id of stateIds) {
      const e = events.get(id);
      if (e && e.stateKey !== null && e.rejectedReason === null) state.set(stateTuple(e.type, e.stateKey), { type: e.type, stateKey: e.stateKey, eventNid: e.nid });
    }
    const parent = events.get(parentId);
    if (parent && parent.stateKey !== null && parent.rejectedReason === null) {
      state.set(stateTuple(parent.type, parent.stateKey), { type: parent.type, stateKey: parent.stateKey, eventNid: parent.nid });
    }
    return [...state.values()];
  }

  /**
   * Receives one PDU of a room we know. Throws PduRefused (or a federation
   * error) when it cannot be taken in; a stored outcome, rejected and
   * soft-failed included, is success. `fillGaps` false is for the events a
   * gap fill itself fetched, so a gap never recurses; `backfilled` for
   * history fetched with /backfill.
   */
  async function receive(origin: string, version: RoomVersion, roomId: string, json: JsonValue, options: { fillGaps?: boolean; backfilled?: boolean } = {}): Promise<RoomEvent> {
    const fillGaps = options.fillGaps ?? true;
    const event = await verified(json, version, roomId);
    const existing = (await getEventsByIds(db, [event.eventId])).get(event.eventId);
    if (existing && !existing.outlier) return event;
    const budget = { left: FETCH_BUDGET };
    await fetchOutliers(origin, version, roomId, event.authEventIds, budget);

    let parents = await loadParents(db, event.prevEventIds);
    if (parents.missing.length > 0 && fillGaps) {
      const earliest = await getForwardExtremities(db, roomId);
      // A server that cannot answer this may still answer /state_ids below.
      const found = await remote.missingEvents(origin, roomId, earliest, [event.eventId], MISSING_EVENTS_LIMIT, 0).catch((err: unknown) => {
        if (!(err instanceof FederationError)) throw err;
        deps.log.info({ roomId, origin, err: err.message }, "get_missing_events failed; falling back to the state at the parents");
        return [];
      });
      const fetched: RoomEvent[] = [];
      for (const candidate of found) {
        try {
          fetched.push(await verified(candidate, version, roomId));
        } catch (err) {
          if (!(err instanceof PduRefused)) throw err;
          deps.log.info({ roomId, origin, reason: err.message }, "ignoring a missing event that failed verification");
        }
      }
      // Oldest first, so each one's parents are in place before it.
      fetched.sort((a, b) => a.depth - b.depth);
      for (const missing of fetched) await receive(origin, version, roomId, missing.pdu, { fillGaps: false });
      parents = await loadParents(db, event.prevEventIds);
    }
    const supplied = new Map<string, Awaited<ReturnType<typeof suppliedStateAfter>>>();
    for (const parentId of parents.missing) supplied.set(parentId, await suppliedStateAfter(origin, version, roomId, parentId, budget));

    await rooms.write(async (w) => {
      await w.lock(roomId);
      // Re-read under the lock: a concurrent write may have filled the gap meanwhile.
      const now = await loadParents(w.tx, event.prevEventIds);
      let stateBefore: number | undefined;
      if (now.missing.length > 0) {
        const states = now.missing.map((id) => supplied.get(id)!);
        stateBefore = await stateBeforeWithSuppliedStates(w.tx, version, roomId, now.held, states);
      }
      await w.ingest(version, event, { ...(stateBefore === undefined ? {} : { stateBefore }), ...(options.backfilled ? { backfilled: true } : {}) });
    });
    return event;
  }

  return { receive, verified, fetchOutliers };
}

export type PduReceiver = ReturnType<typeof createPduReceiver>;
