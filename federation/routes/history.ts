// GET  /_matrix/federation/v1/backfill/{roomId}            https://spec.matrix.org/v1.19/server-server-api/#get_matrixfederationv1backfillroomid
// POST /_matrix/federation/v1/get_missing_events/{roomId}  https://spec.matrix.org/v1.19/server-server-api/#post_matrixfederationv1get_missing_eventsroomid
//
// Older history and gaps in the DAG, for servers in the room. Events the
// server may not see are sent redacted rather than left out, so it can still
// link the DAG together (Synapse does the same).
import type { RequestHandler } from "express";
import { badJson } from "../../server/errors/matrix-error.ts";
import { requireJsonObject } from "../../server/http/middleware.ts";
import { originOf } from "../auth/require-server-auth.ts";
import type { RouteTable } from "../../server/http/route-table.ts";
import type { RoomService } from "../../server/rooms/room-service.ts";
import { federationPdu, visibleToServer } from "../../server/rooms/server-visibility.ts";
import { missingEvents, walkBackwards } from "../../server/storage/dag.ts";
import type { Database } from "../../server/storage/database.ts";
import { createOriginInRoomCheck } from "./origin-in-room.ts";
import { queryInteger, queryList, roomIdParam } from "./params.ts";

/** Synapse caps both walks at 100 events a request. */
const MAX_EVENTS = 100;

export interface HistoryRouteDeps {
  db: Database;
  rooms: Pick<RoomService, "roomVersion">;
  serverName: string;
  auth: RequestHandler[];
}

function stringList(value: unknown, name: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) throw badJson(`${name} must be an array of event IDs`);
  return value.slice(0, MAX_EVENTS);
}

function integerField(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0) throw badJson(`${name} must be a non-negative integer`);
  return value;
}

export function registerHistoryRoutes(table: RouteTable, deps: HistoryRouteDeps): void {
  const { db, auth } = deps;

  const checkOriginInRoom = createOriginInRoomCheck(db, deps.rooms);

  table.add("GET", "/_matrix/federation/v1/backfill/:roomId", ...auth, async (req, res) => {
    const roomId = roomIdParam(req);
    const version = await checkOriginInRoom(roomId, originOf(res.locals));
    const from = queryList(req, "v").slice(0, MAX_EVENTS);
    const limit = queryInteger(req, "limit", 10, MAX_EVENTS);
    const events = await walkBackwards(db, roomId, from, limit);
    const visible = await visibleToServer(db, originOf(res.locals), events);
    res.json({ origin: deps.serverName, origin_server_ts: Date.now(), pdus: events.map((e) => federationPdu(e, version, visible.has(e.eventId))) });
  });

  table.add("POST", "/_matrix/federation/v1/get_missing_events/:roomId", ...auth, async (req, res) => {
    const roomId = roomIdParam(req);
    const version = await checkOriginInRoom(roomId, originOf(res.locals));
    const body = requireJsonObject(req);
    const latest = stringList(body.latest_events, "latest_events");
    const earliest = stringList(body.earliest_events, "earliest_events");
    const limit = Math.min(integerField(body.limit, "limit", 10), MAX_EVENTS);
    const minDepth = integerField(body.min_depth, "min_depth", 0);
    const events = await missingEvents(db, roomId, latest, earliest, limit, minDepth);
    const visible = await visibleToServer(db, originOf(res.locals), events);
    res.json({ events: events.map((e) => federationPdu(e, version, visible.has(e.eventId))) });
  });
}
