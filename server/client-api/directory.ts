// PUT/GET/DELETE /_matrix/client/v3/directory/room/{roomAlias}  https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3directoryroomroomalias
// GET /_matrix/client/v3/rooms/{roomId}/aliases                  https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3roomsroomidaliases
//
// Another server's alias is asked of that server over federation (GET query/directory).
import type { RequestHandler } from "express";
import { requester } from "../auth/authenticate.ts";
import { forbidden, MatrixError, notFound } from "../errors/matrix-error.ts";
import { requireJsonObject } from "../http/middleware.ts";
import type { RouteTable } from "../http/route-table.ts";
import { roomAccess } from "../rooms/room-state.ts";
import { aliasesOfRoom, deleteAlias, getAlias, insertAlias } from "../storage/aliases.ts";
import type { Database } from "../storage/database.ts";
import { membershipOf } from "../storage/state.ts";
import type { RemoteLookups } from "./remote-lookups.ts";
import { roomAliasParam, roomIdParam } from "./rooms/params.ts";
import { requiredString } from "./params.ts";

export interface DirectoryDeps {
  db: Database;
  serverName: string;
  auth: RequestHandler;
  /** Aliases of other servers are asked of them over federation. */
  remote?: Pick<RemoteLookups, "directory">;
}

export function registerDirectory(table: RouteTable, body: RequestHandler, deps: DirectoryDeps): void {
  const { db, serverName, auth, remote } = deps;
  const localAlias = (raw: string) => {
    const alias = roomAliasParam(raw);
    if (alias.slice(alias.indexOf(":") + 1) !== serverName) throw new MatrixError(400, "M_INVALID_PARAM", "Alias must be on this server");
    return alias;
  };
  for (const prefix of ["/_matrix/client/v3", "/_matrix/client/r0"]) {
    table.add("GET", `${prefix}/directory/room/:roomAlias`, async (req, res) => {
      const alias = roomAliasParam(String(req.params.roomAlias));
      if (alias.slice(alias.indexOf(":") + 1) !== serverName && remote) {
        const answer = await remote.directory(alias);
        res.json({ room_id: answer.roomId, servers: answer.servers });
        return;
      }
      const found = await getAlias(db, alias);
      if (!found) throw notFound(`Room alias ${alias} not found`);
      res.json({ room_id: found.roomId, servers: [serverName] });
    });

    table.add("PUT", `${prefix}/directory/room/:roomAlias`, auth, body, async (req, res) => {
      const me = requester(res.locals);
      const alias = localAlias(String(req.params.roomAlias));
      const roomId = requiredString(requireJsonObject(req), "room_id");
      if ((await membershipOf(db, roomId, me.userId))?.membership !== "join") throw forbidden("You must be in the room to alias it");
      if (!(await insertAlias(db, alias, roomId, me.userId))) throw new MatrixError(409, "M_UNKNOWN", `Room alias ${alias} already exists`);
      res.json({});
    });

    table.add("DELETE", `${prefix}/directory/room/:roomAlias`, auth, async (req, res) => {
      const me = requester(res.locals);
      const alias = localAlias(String(req.params.roomAlias));
      const found = await getAlias(db, alias);
      if (!found) throw notFound(`Room alias ${alias} not found`);
      if (found.creator !== me.userId && !me.isAdmin) throw forbidden("You may only delete aliases you created");
      await deleteAlias(db, alias);
      res.json({});
    });

    table.add("GET", `${prefix}/rooms/:roomId/aliases`, auth, async (req, res) => {
      const me = requester(res.locals);
      const roomId = roomIdParam(req);
      await roomAccess(db, roomId, me.userId);
      res.json({ aliases: await aliasesOfRoom(db, roomId) });
    });
  }
}
