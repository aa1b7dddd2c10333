// GET /_matrix/client/v1/mutual_rooms  https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv1mutual_rooms
//
// Rooms where both the requester and `user_id` are joined, in room-ID order.
// The `from` token is the last room ID of the previous batch (Base64url), so
// a page never repeats or skips a room when others are joined meanwhile.
import type { RequestHandler } from "express";
import { requester } from "../auth/authenticate.ts";
import { invalidParam, missingParam } from "../errors/matrix-error.ts";
import type { RouteTable } from "../http/route-table.ts";
import { isValidUserId } from "../protocol/identifiers.ts";
import type { Database } from "../storage/database.ts";
import { mutualJoinedRooms } from "../storage/state.ts";
import { queryString } from "./rooms/params.ts";

export interface MutualRoomsDeps {
  db: Database;
  auth: RequestHandler;
  /** Rooms per batch (Synapse returns them all; we page so a large answer stays bounded). */
  batchSize: number;
}

export function registerMutualRooms(table: RouteTable, deps: MutualRoomsDeps): void {
  table.add("GET", "/_matrix/client/v1/mutual_rooms", deps.auth, async (req, res) => {
    const me = requester(res.locals);
    const other = queryString(req, "user_id");
    if (other === undefined) throw missingParam("user_id is required");
    if (!isValidUserId(other, { strict: true })) throw invalidParam("The user ID provided was invalid");
    if (other === me.userId) throw invalidParam("You cannot ask for rooms shared with yourself");
    const from = queryString(req, "from");
    let after = "";
    if (from !== undefined) {
      after = Buffer.from(from, "base64url").toString("utf8");
      if (!after.startsWith("!") || Buffer.from(after, "utf8").toString("base64url") !== from) throw invalidParam("Invalid from token");
    }
    const { roomIds, total } = await mutualJoinedRooms(deps.db, me.userId, other, after, deps.batchSize + 1);
    const joined = roomIds.slice(0, deps.batchSize);
    const body: Record<string, unknown> = { joined, count: total };
    if (roomIds.length > deps.batchSize) body.next_batch = Buffer.from(joined[joined.length - 1]!, "utf8").toString("base64url");
    res.json(body);
  });
}
