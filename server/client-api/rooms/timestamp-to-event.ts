// GET /_matrix/client/v1/rooms/{roomId}/timestamp_to_event https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv1roomsroomidtimestamp_to_event
//
// The event closest to a timestamp in one direction, among those the user may
// read (server/rooms/timestamp-search.ts). Only history this server holds is
// searched; older history arrives through backfill.
import type { RequestHandler } from "express";
import { requester } from "../../auth/authenticate.ts";
import type { RouteTable } from "../../http/route-table.ts";
import { readableEvents } from "../../rooms/readable-events.ts";
import { roomAccess } from "../../rooms/room-state.ts";
import { closestEvent, parseTimestampQuery } from "../../rooms/timestamp-search.ts";
import type { Database } from "../../storage/database.ts";
import { queryString, roomIdParam } from "./params.ts";

export interface TimestampDeps {
  db: Database;
  auth: RequestHandler;
}

export function registerTimestampToEvent(table: RouteTable, deps: TimestampDeps): void {
  const { db, auth } = deps;
  table.add("GET", "/_matrix/client/v1/rooms/:roomId/timestamp_to_event", auth, async (req, res) => {
    const me = requester(res.locals);
    const roomId = roomIdParam(req);
    const { ts, dir } = parseTimestampQuery(queryString(req, "ts"), queryString(req, "dir"));
    const access = await roomAccess(db, roomId, me.userId);
    res.json(await closestEvent(db, roomId, ts, dir, (events) => readableEvents(db, me.userId, access, events)));
  });
}
