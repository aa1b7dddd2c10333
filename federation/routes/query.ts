// GET /_matrix/federation/v1/query/profile    https://spec.matrix.org/v1.19/server-server-api/#get_matrixfederationv1queryprofile
// GET /_matrix/federation/v1/query/directory  https://spec.matrix.org/v1.19/server-server-api/#get_matrixfederationv1querydirectory
//
// Remote servers asking about our users' profiles and our room aliases.
import type { Request, RequestHandler } from "express";
import { invalidParam, missingParam, notFound } from "../../server/errors/matrix-error.ts";
import type { RouteTable } from "../../server/http/route-table.ts";
import { isValidRoomAlias, isValidUserId, serverNameOf } from "../../server/protocol/identifiers.ts";
import type { JsonObject } from "../../server/protocol/json.ts";
import { getProfile } from "../../server/storage/accounts.ts";
import { getAlias } from "../../server/storage/aliases.ts";
import { joinedServers } from "../../server/storage/dag.ts";
import type { Database } from "../../server/storage/database.ts";

export interface QueryDeps {
  db: Database;
  serverName: string;
  auth: RequestHandler[];
}

function requiredQuery(req: Request, name: string): string {
  const value = req.query[name];
  if (value === undefined) throw missingParam(`${name} is required`);
  if (typeof value !== "string") throw invalidParam(`${name} must be given once`);
  return value;
}

export function registerFederationQueries(table: RouteTable, deps: QueryDeps): void {
  const { db, serverName, auth } = deps;

  table.add("GET", "/_matrix/federation/v1/query/profile", ...auth, async (req, res) => {
    const userId = requiredQuery(req, "user_id");
    if (!isValidUserId(userId)) throw invalidParam(`${userId} is not a valid user ID`);
    const field = req.query.field;
    if (field !== undefined && typeof field !== "string") throw invalidParam("field must be given once");
    const profile = serverNameOf(userId) === serverName ? await getProfile(db, userId) : undefined;
    if (!profile) throw notFound("Profile was not found");
    const out: JsonObject = {};
    // Unset fields are left out, as the spec allows; an unknown field does not exist here.
    if (field === undefined || field === "displayname") {
      if (profile.displayname !== null) out.displayname = profile.displayname;
    }
    if (field === undefined || field === "avatar_url") {
      if (profile.avatarUrl !== null) out.avatar_url = profile.avatarUrl;
    }
    if (field !== undefined && field !== "displayname" && field !== "avatar_url") throw notFound(`Profile has no ${field}`);
    res.json(out);
  });

  table.add("GET", "/_matrix/federation/v1/query/directory", ...auth, async (req, res) => {
    const alias = requiredQuery(req, "room_alias");
    if (!isValidRoomAlias(alias)) throw invalidParam(`${alias} is not a valid room alias`);
    const found = serverNameOf(alias) === serverName ? await getAlias(db, alias) : undefined;
    if (!found) throw notFound("Room alias not found.");
    // Until rooms are joined over federation, only this server is in a local room.
    // Servers in the room that can help a joining server, ours first (Synapse's order).
    const servers = [serverName, ...(await joinedServers(db, found.roomId)).filter((s) => s !== serverName)];
    res.json({ room_id: found.roomId, servers });
  });
}
