// GET /_matrix/federation/v1/event/{eventId}                  https://spec.matrix.org/v1.19/server-server-api/#get_matrixfederationv1eventeventid
// GET /_matrix/federation/v1/state/{roomId}                   https://spec.matrix.org/v1.19/server-server-api/#get_matrixfederationv1stateroomid
// GET /_matrix/federation/v1/state_ids/{roomId}               https://spec.matrix.org/v1.19/server-server-api/#get_matrixfederationv1state_idsroomid
// GET /_matrix/federation/v1/event_auth/{roomId}/{eventId}    https://spec.matrix.org/v1.19/server-server-api/#get_matrixfederationv1event_authroomideventid
//
// Events and the state at an event, for servers in the room. "The state at
// an event" is the state before it, as Synapse answers: a server fetching it
// for a missing prev_event adds the event itself.
import type { RequestHandler } from "express";
import { notFound } from "../../server/errors/matrix-error.ts";
import { originOf } from "../auth/require-server-auth.ts";
import type { RouteTable } from "../../server/http/route-table.ts";
import { stateEventsAtGroup } from "../../server/rooms/room-state.ts";
import type { RoomService } from "../../server/rooms/room-service.ts";
import { federationPdu, visibleToServer } from "../../server/rooms/server-visibility.ts";
import { authChain } from "../../server/storage/dag.ts";
import type { Database } from "../../server/storage/database.ts";
import { getEventsByIds, type StoredEvent } from "../../server/storage/events.ts";
import { createOriginInRoomCheck } from "./origin-in-room.ts";
import { eventIdParam, queryString, roomIdParam } from "./params.ts";

export interface RoomStateRouteDeps {
  db: Database;
  rooms: Pick<RoomService, "roomVersion">;
  serverName: string;
  auth: RequestHandler[];
}

export function registerRoomStateRoutes(table: RouteTable, deps: RoomStateRouteDeps): void {
  const { db, auth } = deps;

  const checkOriginInRoom = createOriginInRoomCheck(db, deps.rooms);

  /** An event of the room that is part of the DAG as we know it: not rejected, and (with state wanted) not an outlier. */
  async function eventInRoom(roomId: string, eventId: string, needState: boolean): Promise<StoredEvent> {
    const event = (await getEventsByIds(db, [eventId])).get(eventId);
    if (!event || event.roomId !== roomId || event.rejectedReason !== null) throw notFound(`Event ${eventId} not found`);
    if (needState && (event.outlier || event.stateGroupBefore === null) && event.type !== "m.room.create") {
      throw notFound(`State at event ${eventId} is not known`);
    }
    return event;
  }

  const envelope = (pdus: unknown[]) => ({ origin: deps.serverName, origin_server_ts: Date.now(), pdus });

  table.add("GET", "/_matrix/federation/v1/event/:eventId", ...auth, async (req, res) => {
    const eventId = eventIdParam(req);
    const event = (await getEventsByIds(db, [eventId])).get(eventId);
    if (!event || event.rejectedReason !== null) throw notFound(`Event ${eventId} not found`);
    const version = await checkOriginInRoom(event.roomId, originOf(res.locals));
    const visible = await visibleToServer(db, originOf(res.locals), [event]);
    res.json(envelope([federationPdu(event, version, visible.has(event.eventId))]));
  });

  /** The state before the event, and the auth chain of that state. */
  async function stateAt(roomId: string, eventId: string): Promise<{ state: StoredEvent[]; chain: StoredEvent[] }> {
    const event = await eventInRoom(roomId, eventId, true);
    const state = await stateEventsAtGroup(db, event.stateGroupBefore);
    const chain = await authChain(db, state.map((e) => e.eventId));
    return { state, chain };
  }

  table.add("GET", "/_matrix/federation/v1/state_ids/:roomId", ...auth, async (req, res) => {
    const roomId = roomIdParam(req);
    await checkOriginInRoom(roomId, originOf(res.locals));
    const { state, chain } = await stateAt(roomId, queryString(req, "event_id", true));
    res.json({ pdu_ids: state.map((e) => e.eventId), auth_chain_ids: chain.map((e) => e.eventId) });
  });

  table.add("GET", "/_matrix/federation/v1/state/:roomId", ...auth, async (req, res) => {
    const roomId = roomIdParam(req);
    const version = await checkOriginInRoom(roomId, originOf(res.locals));
    const { state, chain } = await stateAt(roomId, queryString(req, "event_id", true));
    res.json({ pdus: state.map((e) => federationPdu(e, version)), auth_chain: chain.map((e) => federationPdu(e, version)) });
  });

  table.add("GET", "/_matrix/federation/v1/event_auth/:roomId/:eventId", ...auth, async (req, res) => {
    const roomId = roomIdParam(req);
    const version = await checkOriginInRoom(roomId, originOf(res.locals));
    const event = await eventInRoom(roomId, eventIdParam(req), false);
    const chain = await authChain(db, [event.eventId]);
    res.json({ auth_chain: chain.map((e) => federationPdu(e, version)) });
  });
}
