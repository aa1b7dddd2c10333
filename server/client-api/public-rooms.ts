// GET  /_matrix/client/v3/publicRooms                    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3publicrooms
// POST /_matrix/client/v3/publicRooms                    https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3publicrooms
// GET  /_matrix/client/v3/directory/list/room/{roomId}   https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3directorylistroomroomid
// PUT  /_matrix/client/v3/directory/list/room/{roomId}   https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3directorylistroomroomid
import type { Request, RequestHandler } from "express";
import { requester } from "../auth/authenticate.ts";
import { badJson, forbidden, invalidParam, MatrixError, notFound } from "../errors/matrix-error.ts";
import { requireJsonObject } from "../http/middleware.ts";
import type { RouteTable } from "../http/route-table.ts";
import { stateTuple } from "../protocol/events.ts";
import { isValidServerName } from "../protocol/identifiers.ts";
import { isJsonObject } from "../protocol/json.ts";
import { parsePowerLevels, requiredPowerForEvent, userPowerLevel } from "../protocol/power-levels.ts";
import { getRoomVersion } from "../protocol/room-versions.ts";
import { authState } from "../rooms/events/auth-state.ts";
import { publishedRoomChunk } from "../rooms/room-summary.ts";
import type { Database } from "../storage/database.ts";
import { isRoomPublished, publishedRoomsPage, setRoomPublished, type DirectoryQuery } from "../storage/public-rooms.ts";
import { getRoomVersionId, membershipOf } from "../storage/state.ts";
import { optionalString } from "./params.ts";
import { queryString, roomIdParam } from "./rooms/params.ts";

export interface PublicRoomsDeps {
  db: Database;
  serverName: string;
  auth: RequestHandler;
}

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 500;

/**
 * `since` tokens are offsets into the ordered list ("o<offset>"). Rooms that
 * gain or lose members between pages can shift by a place, so a client may see
 * a room twice or miss one; the directory is a browsing aid and Synapse's
 * keyset tokens have the same exposure to reordering.
 */
function parseSince(since: string | undefined): number {
  if (since === undefined || since === "") return 0;
  const match = /^o(\d{1,9})$/.exec(since);
  if (!match) throw invalidParam("Invalid since token");
  return Number(match[1]);
}

/** 0 or absent means "server default", as in Synapse. */
function normaliseLimit(limit: number | undefined): number {
  if (limit === undefined || limit === 0) return DEFAULT_LIMIT;
  return Math.min(limit, MAX_LIMIT);
}

export function registerPublicRooms(table: RouteTable, body: RequestHandler, deps: PublicRoomsDeps): void {
  const { db, serverName, auth } = deps;

  /** Remote directories need a federation client, which does not exist yet. */
  const checkServer = (req: Request) => {
    const server = queryString(req, "server");
    if (server === undefined || server === serverName) return;
    if (!isValidServerName(server)) throw invalidParam(`Invalid server name: ${server}`);
    throw notFound(`Cannot query the room directory of ${server}: this server does not federate yet`);
  };

  async function page(query: Omit<DirectoryQuery, "limit" | "offset">, limit: number, offset: number) {
    const { rooms, total } = await publishedRoomsPage(db, { ...query, limit: limit + 1, offset });
    const response: Record<string, unknown> = { chunk: rooms.slice(0, limit).map(publishedRoomChunk) };
    if (rooms.length > limit) response.next_batch = `o${offset + limit}`;
    if (offset > 0) response.prev_batch = `o${Math.max(0, offset - limit)}`;
    if (rooms.length > 0) response.total_room_count_estimate = total;
    return response;
  }

  for (const prefix of ["/_matrix/client/v3", "/_matrix/client/r0"]) {
    // Unauthenticated, as the spec defines it: published rooms are public.
    table.add("GET", `${prefix}/publicRooms`, async (req, res) => {
      checkServer(req);
      const rawLimit = queryString(req, "limit");
      if (rawLimit !== undefined && !/^\d{1,9}$/.test(rawLimit)) throw invalidParam("limit must be a non-negative integer");
      const limit = normaliseLimit(rawLimit === undefined ? undefined : Number(rawLimit));
      res.json(await page({}, limit, parseSince(queryString(req, "since"))));
    });

    table.add("POST", `${prefix}/publicRooms`, auth, body, async (req, res) => {
      checkServer(req);
      const params = requireJsonObject(req);
      const rawLimit = params.limit;
      if (rawLimit !== undefined && (typeof rawLimit !== "number" || !Number.isSafeInteger(rawLimit) || rawLimit < 0)) {
        throw badJson("limit must be a non-negative integer");
      }
      const query: Omit<DirectoryQuery, "limit" | "offset"> = {};
      if (params.filter !== undefined && params.filter !== null) {
        if (!isJsonObject(params.filter)) throw badJson("filter must be an object");
        const term = optionalString(params.filter, "generic_search_term");
        if (term !== undefined && term.trim() !== "") query.searchTerm = term.trim();
        const types = params.filter.room_types;
        if (types !== undefined && types !== null) {
          if (!Array.isArray(types) || !types.every((t) => t === null || typeof t === "string")) {
            throw badJson("filter.room_types must be an array of strings and nulls");
          }
          query.roomTypes = types as Array<string | null>;
        }
      }
      // Application-service networks are not bridged here: only the main list exists.
      if (params.third_party_instance_id !== undefined) {
        res.json({ chunk: [] });
        return;
      }
      const since = optionalString(params, "since");
      res.json(await page(query, normaliseLimit(rawLimit as number | undefined), parseSince(since)));
    });

    table.add("GET", `${prefix}/directory/list/room/:roomId`, async (req, res) => {
      const published = await isRoomPublished(db, roomIdParam(req));
      if (published === undefined) throw notFound("Room not found");
      res.json({ visibility: published ? "public" : "private" });
    });

    table.add("PUT", `${prefix}/directory/list/room/:roomId`, auth, body, async (req, res) => {
      const me = requester(res.locals);
      const roomId = roomIdParam(req);
      const params = requireJsonObject(req);
      const visibility = params.visibility ?? "public";
      if (visibility !== "public" && visibility !== "private") throw invalidParam("visibility must be public or private");
      const versionId = await getRoomVersionId(db, roomId);
      if (versionId === undefined) throw notFound("Room not found");
      if (me.isGuest) throw forbidden("Guests cannot edit the published room list");
      // Synapse's rule: server admins, or members who could change the room's canonical alias.
      if (!me.isAdmin) {
        if ((await membershipOf(db, roomId, me.userId))?.membership !== "join") throw forbidden("You are not in the room");
        const version = getRoomVersion(versionId);
        if (!version) throw new MatrixError(500, "M_UNKNOWN", `Room has unsupported version ${versionId}`);
        const state = await authState(db, roomId, [
          ["m.room.power_levels", ""],
          ["m.room.create", ""],
        ]);
        const pl = parsePowerLevels(state.get(stateTuple("m.room.power_levels", ""))?.content, version);
        const level = userPowerLevel(me.userId, pl, state.get(stateTuple("m.room.create", "")), version);
        if (level < requiredPowerForEvent("m.room.canonical_alias", "", pl)) {
          throw forbidden("You need the power to change the room's canonical alias to change its directory visibility");
        }
      }
      await setRoomPublished(db, roomId, visibility === "public");
      res.json({});
    });
  }
}
