// GET /_matrix/federation/v1/timestamp_to_event/{roomId}  https://spec.matrix.org/v1.19/server-server-api/#get_matrixfederationv1timestamp_to_eventroomid
//
// The event closest to a timestamp for a server in the room, skipping events
// it may not see (server/rooms/timestamp-search.ts, server-visibility.ts).
import type { RequestHandler } from "express";
import type { RouteTable } from "../../server/http/route-table.ts";
import type { RoomService } from "../../server/rooms/room-service.ts";
import { visibleToServer } from "../../server/rooms/server-visibility.ts";
import { closestEvent, parseTimestampQuery } from "../../server/rooms/timestamp-search.ts";
import type { Database } from "../../server/storage/database.ts";
import { originOf } from "../auth/require-server-auth.ts";
import { createOriginInRoomCheck } from "./origin-in-room.ts";
import { queryString, roomIdParam } from "./params.ts";

export function registerFederationTimestampToEvent(table: RouteTable, deps: { db: Database; rooms: Pick<RoomService, "roomVersion">; auth: RequestHandler[] }): void {
  const { db } = deps;
  const checkOriginInRoom = createOriginInRoomCheck(db, deps.rooms);
  table.add("GET", "/_matrix/federation/v1/timestamp_to_event/:roomId", ...deps.auth, async (req, res) => {
    const origin = originOf(res.locals);
    const roomId = roomIdParam(req);
    const { ts, dir } = parseTimestampQuery(queryString(req, "ts"), queryString(req, "dir"));
    await checkOriginInRoom(roomId, origin);
    res.json(
      await closestEvent(db, roomId, ts, dir, async (events) => {
        const visible = await visibleToServer(db, origin, events);
        return events.filter((e) => visible.has(e.eventId) && e.streamOrdering !== null);
      }),
    );
  });
}
