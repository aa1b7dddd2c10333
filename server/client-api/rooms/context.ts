// GET /_matrix/client/v3/rooms/{roomId}/context/{eventId} https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3roomsroomidcontexteventid
//
// Events around one event in topological order, with the state after the last
// event returned. `start` and `end` are /messages tokens ("t<depth>_<stream>").
import type { RequestHandler } from "express";
import { requester } from "../../auth/authenticate.ts";
import { notFound } from "../../errors/matrix-error.ts";
import type { RouteTable } from "../../http/route-table.ts";
import type { JsonObject } from "../../protocol/json.ts";
import { positionOf, walkReadable } from "../../rooms/context-walk.ts";
import { readableEvent } from "../../rooms/readable-events.ts";
import { renderEvents } from "../../rooms/render.ts";
import { roomAccess, stateEventsAfter, type RoomAccess } from "../../rooms/room-state.ts";
import type { RoomService } from "../../rooms/room-service.ts";
import { topologicalToken, type TopologicalToken } from "../../rooms/tokens.ts";
import type { Database } from "../../storage/database.ts";
import type { StoredEvent } from "../../storage/events.ts";
import { eventPassesFilter, filterFromQuery, type RoomEventFilter } from "../../sync/event-filter.ts";
import { queryInt, queryString, roomIdParam } from "./params.ts";

export interface ContextDeps {
  db: Database;
  rooms: RoomService;
  auth: RequestHandler;
}

/** Synapse's default; the cap keeps one request bounded. */
const DEFAULT_LIMIT = 10;
const MAX_LIMIT = 100;

export function registerContext(table: RouteTable, deps: ContextDeps): void {
  const { db, rooms, auth } = deps;

  const walk = (roomId: string, userId: string, access: RoomAccess, from: TopologicalToken, dir: "b" | "f", limit: number, filter: RoomEventFilter) =>
    walkReadable(db, roomId, userId, access, from, dir, limit, filter);

  const context: RequestHandler = async (req, res) => {
    const me = requester(res.locals);
    const viewer = { userId: me.userId, deviceId: me.deviceId };
    const roomId = roomIdParam(req);
    const limit = queryInt(req, "limit", DEFAULT_LIMIT, MAX_LIMIT);
    const filter = filterFromQuery(queryString(req, "filter"));
    const access = await roomAccess(db, roomId, me.userId);
    const event = await readableEvent(db, me.userId, access, roomId, String(req.params.eventId));
    if (!event) throw notFound("Event not found");

    // The limit covers both sides, split as Synapse does (the extra one after).
    const beforeLimit = Math.floor(limit / 2);
    const before = beforeLimit > 0 ? await walk(roomId, me.userId, access, positionOf(event), "b", beforeLimit, filter) : { events: [], reached: positionOf(event) };
    const after = limit - beforeLimit > 0 ? await walk(roomId, me.userId, access, positionOf(event), "f", limit - beforeLimit, filter) : { events: [], reached: positionOf(event) };

    // State after the last event returned (as Synapse; the spec says "at the last event").
    const last = after.events[after.events.length - 1] ?? event;
    const returned = [...before.events, event, ...after.events];
    // Lazy loading keeps the non-member state and the members who sent the returned events.
    const senders = new Set(returned.map((e) => e.sender));
    const state = (await stateEventsAfter(db, last)).filter(
      (e) => eventPassesFilter(filter, e) && (!filter.lazyLoadMembers || e.type !== "m.room.member" || senders.has(e.stateKey ?? "")),
    );

    const version = await rooms.roomVersion(db, roomId);
    const render = (events: StoredEvent[]) => renderEvents(db, events, version, viewer, { includeRoomId: true });
    const body: JsonObject = {
      event: (await render([event]))[0]!,
      events_before: await render(before.events),
      events_after: await render(after.events),
      state: await render(state),
      start: topologicalToken(before.reached),
      end: topologicalToken(after.reached),
    };
    res.json(body);
  };

  for (const prefix of ["/_matrix/client/v3", "/_matrix/client/r0"]) {
    table.add("GET", `${prefix}/rooms/:roomId/context/:eventId`, auth, context);
  }
}
