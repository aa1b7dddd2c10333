// GET /_matrix/client/v1/room_summary/{roomIdOrAlias}  https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv1room_summaryroomidoralias
import type { RequestHandler } from "express";
import { bearerToken } from "../auth/authenticate.ts";
import { invalidParam, notFound } from "../errors/matrix-error.ts";
import type { RouteTable } from "../http/route-table.ts";
import { isValidRoomAlias, isValidRoomId } from "../protocol/identifiers.ts";
import { maySeeRoomSummary, roomSummaryEntry } from "../rooms/room-summary.ts";
import { getAlias } from "../storage/aliases.ts";
import type { Database } from "../storage/database.ts";
import { roomStats } from "../storage/public-rooms.ts";
import { membershipOf } from "../storage/state.ts";

export interface RoomSummaryDeps {
  db: Database;
  auth: RequestHandler;
}

export function registerRoomSummary(table: RouteTable, deps: RoomSummaryDeps): void {
  const { db } = deps;
  // The spec lets servers answer unauthenticated clients for rooms anyone may
  // join, knock on or read; a token, when sent, must still be valid.
  const optionalAuth: RequestHandler = (req, res, next) => (bearerToken(req.get("authorization")) ? deps.auth(req, res, next) : next());

  table.add("GET", "/_matrix/client/v1/room_summary/:roomIdOrAlias", optionalAuth, async (req, res) => {
    const userId = res.locals.requester?.userId;
    const target = String(req.params.roomIdOrAlias);
    let roomId = target;
    if (target.startsWith("#")) {
      if (!isValidRoomAlias(target)) throw invalidParam(`${target} is not a valid room alias`);
      const alias = await getAlias(db, target);
      // Remote aliases would need a federation query: until then they are unknown.
      if (!alias) throw notFound("Room not found");
      roomId = alias.roomId;
    } else if (!isValidRoomId(target)) {
      throw invalidParam(`${target} is not a valid room ID or alias`);
    }
    const stats = (await roomStats(db, [roomId])).get(roomId);
    // Rooms the requester may not see are answered like unknown ones, revealing nothing.
    if (!stats || !(await maySeeRoomSummary(db, stats, userId))) throw notFound("Room not found or is not accessible");
    const summary = roomSummaryEntry(stats);
    if (userId !== undefined) summary.membership = (await membershipOf(db, roomId, userId))?.membership ?? "leave";
    res.json(summary);
  });
}
