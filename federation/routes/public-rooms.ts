// GET  /_matrix/federation/v1/publicRooms  https://spec.matrix.org/v1.19/server-server-api/#get_matrixfederationv1publicrooms
// POST /_matrix/federation/v1/publicRooms  https://spec.matrix.org/v1.19/server-server-api/#post_matrixfederationv1publicrooms
//
// Our published room directory for other servers' users (the same list and
// pages as the client API: server/rooms/public-directory.ts).
import type { RequestHandler } from "express";
import { requireJsonObject } from "../../server/http/middleware.ts";
import type { RouteTable } from "../../server/http/route-table.ts";
import { directoryPage, directoryRequestFromBody, limitFromQuery, parseSince } from "../../server/rooms/public-directory.ts";
import type { Database } from "../../server/storage/database.ts";
import { queryString } from "./params.ts";

export function registerFederationPublicRooms(table: RouteTable, deps: { db: Database; auth: RequestHandler[] }): void {
  table.add("GET", "/_matrix/federation/v1/publicRooms", ...deps.auth, async (req, res) => {
    const thirdPartyInstance = queryString(req, "third_party_instance_id") !== undefined;
    res.json(await directoryPage(deps.db, { filter: {}, limit: limitFromQuery(queryString(req, "limit")), offset: parseSince(queryString(req, "since")), thirdPartyInstance }));
  });
  table.add("POST", "/_matrix/federation/v1/publicRooms", ...deps.auth, async (req, res) => {
    res.json(await directoryPage(deps.db, directoryRequestFromBody(requireJsonObject(req))));
  });
}
