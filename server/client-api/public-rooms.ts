// GET  /_matrix/client/v3/publicRooms                    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3publicrooms
// POST /_matrix/client/v3/publicRooms                    https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3publicrooms
// GET  /_matrix/client/v3/directory/list/room/{roomId}   https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3directorylistroomroomid
// PUT  /_matrix/client/v3/directory/list/room/{roomId}   https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3directorylistroomroomid
import type { Request, RequestHandler } from "express";
import { requester } from "../auth/authenticate.ts";
import { forbidden, invalidParam, MatrixError, notFound } from "../errors/matrix-error.ts";
import { requireJsonObject } from "../http/middleware.ts";
import type { RouteTable } from "../http/route-table.ts";
import { stateTuple } from "../protocol/events.ts";
import { isValidServerName } from "../protocol/identifiers.ts";
import type { JsonObject } from "../protocol/json.ts";
import { parsePowerLevels, requiredPowerForEvent, userPowerLevel } from "../protocol/power-levels.ts";
import { getRoomVersion } from "../protocol/room-versions.ts";
import { authState } from "../rooms/events/auth-state.ts";
import { directoryPage, directoryRequestFromBody, limitFromQuery, parseSince, type DirectoryRequest } from "../rooms/public-directory.ts";
import type { Database } from "../storage/database.ts";
import { isRoomPublished, setRoomPublished } from "../storage/public-rooms.ts";
import { getRoomVersionId, membershipOf } from "../storage/state.ts";
import type { RemoteLookups } from "./remote-lookups.ts";
import { queryString, roomIdParam } from "./rooms/params.ts";

export interface PublicRoomsDeps {
  db: Database;
  serverName: string;
  auth: RequestHandler;
  /** Another server's directory, asked over federation. */
  remote?: Pick<RemoteLookups, "publicRooms">;
}

export function registerPublicRooms(table: RouteTable, body: RequestHandler, deps: PublicRoomsDeps): void {
  const { db, serverName, auth } = deps;

  /** The server whose directory is asked for, if not ours. */
  const remoteServer = (req: Request): string | undefined => {
    const server = queryString(req, "server");
    if (server === undefined || server === serverName) return undefined;
    if (!isValidServerName(server)) throw invalidParam(`Invalid server name: ${server}`);
    if (!deps.remote) throw notFound(`Cannot query the room directory of ${server}`);
    return server;
  };

  for (const prefix of ["/_matrix/client/v3", "/_matrix/client/r0"]) {
    // Unauthenticated, as the spec defines it: published rooms are public.
    table.add("GET", `${prefix}/publicRooms`, async (req, res) => {
      const request: DirectoryRequest = { filter: {}, limit: limitFromQuery(queryString(req, "limit")), offset: 0, thirdPartyInstance: false };
      const since = queryString(req, "since");
      const server = remoteServer(req);
      if (server) {
        res.json(await deps.remote!.publicRooms(server, { limit: request.limit, ...(since ? { since } : {}) }));
        return;
      }
      res.json(await directoryPage(db, { ...request, offset: parseSince(since) }));
    });

    table.add("POST", `${prefix}/publicRooms`, auth, body, async (req, res) => {
      const params = requireJsonObject(req);
      const request = directoryRequestFromBody(params);
      const server = remoteServer(req);
      if (server) {
        res.json(await deps.remote!.publicRooms(server, params as JsonObject));
        return;
      }
      res.json(await directoryPage(db, request));
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
