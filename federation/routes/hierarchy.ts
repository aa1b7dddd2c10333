// GET /_matrix/federation/v1/hierarchy/{roomId}  https://spec.matrix.org/v1.19/server-server-api/#get_matrixfederationv1hierarchyroomid
//
// A space and its direct children for another server walking a hierarchy. A
// room is shown when anyone could see its summary (public, knockable,
// world-readable) or the requesting server is in it; other children we hold
// are listed as inaccessible, unknown ones left out.
import type { RequestHandler } from "express";
import { invalidParam, notFound } from "../../server/errors/matrix-error.ts";
import type { RouteTable } from "../../server/http/route-table.ts";
import type { JsonObject } from "../../server/protocol/json.ts";
import { maySeeRoomSummary, roomSummaryEntry } from "../../server/rooms/room-summary.ts";
import { orderedChildren, strippedChild } from "../../server/rooms/space-hierarchy.ts";
import { serverJoinedToRoom } from "../../server/storage/dag.ts";
import type { Database } from "../../server/storage/database.ts";
import { getEventsByNids } from "../../server/storage/events.ts";
import { roomStats, spaceChildEventNids, type RoomStats } from "../../server/storage/public-rooms.ts";
import { originOf } from "../auth/require-server-auth.ts";
import { queryString, roomIdParam } from "./params.ts";

export function registerFederationHierarchy(table: RouteTable, deps: { db: Database; auth: RequestHandler[] }): void {
  const { db } = deps;

  const accessible = async (stats: RoomStats, origin: string) => (await maySeeRoomSummary(db, stats, undefined)) || serverJoinedToRoom(db, stats.roomId, origin);

  table.add("GET", "/_matrix/federation/v1/hierarchy/:roomId", ...deps.auth, async (req, res) => {
    const origin = originOf(res.locals);
    const roomId = roomIdParam(req);
    const raw = queryString(req, "suggested_only");
    if (raw !== undefined && raw !== "true" && raw !== "false") throw invalidParam("suggested_only must be true or false");
    const root = (await roomStats(db, [roomId])).get(roomId);
    if (!root || !(await accessible(root, origin))) throw notFound("The room is unknown or not accessible to your server");
    const events = root.roomType === "m.space" ? [...(await getEventsByNids(db, await spaceChildEventNids(db, roomId))).values()] : [];
    const children = orderedChildren(events, raw === "true");
    const childStats = await roomStats(db, children.map((c) => c.stateKey!));
    const visible: JsonObject[] = [];
    const inaccessible: string[] = [];
    for (const child of children) {
      const stats = childStats.get(child.stateKey!);
      if (!stats) continue;
      if (await accessible(stats, origin)) visible.push(roomSummaryEntry(stats));
      else inaccessible.push(stats.roomId);
    }
    res.json({ room: { ...roomSummaryEntry(root), children_state: children.map(strippedChild) }, children: visible, inaccessible_children: inaccessible });
  });
}
