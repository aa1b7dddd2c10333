// GET /_matrix/client/v3/thirdparty/protocols              https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3thirdpartyprotocols
// GET /_matrix/client/v3/thirdparty/protocol/{protocol}    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3thirdpartyprotocolprotocol
// GET /_matrix/client/v3/thirdparty/location/{protocol}    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3thirdpartylocationprotocol
// GET /_matrix/client/v3/thirdparty/user/{protocol}        https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3thirdpartyuserprotocol
// GET /_matrix/client/v3/thirdparty/location               https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3thirdpartylocation
// GET /_matrix/client/v3/thirdparty/user                   https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3thirdpartyuser
//
// Third-party networks are bridged by application services, which declare
// their protocols. None are registered on this server yet (the application
// service issue), so there are no protocols and lookups find nothing, which
// is what Synapse answers without appservices.
import type { RequestHandler } from "express";
import { missingParam, notFound } from "../errors/matrix-error.ts";
import type { RouteTable } from "../http/route-table.ts";
import { queryString } from "./rooms/params.ts";

export function registerThirdPartyLookups(table: RouteTable, deps: { auth: RequestHandler }): void {
  const { auth } = deps;
  for (const prefix of ["/_matrix/client/v3", "/_matrix/client/r0"]) {
    table.add("GET", `${prefix}/thirdparty/protocols`, auth, (_req, res) => {
      res.json({});
    });
    for (const kind of ["protocol", "location", "user"]) {
      table.add("GET", `${prefix}/thirdparty/${kind}/:protocol`, auth, () => {
        throw notFound("No such protocol");
      });
    }
    table.add("GET", `${prefix}/thirdparty/location`, auth, (req, res) => {
      if (queryString(req, "alias") === undefined) throw missingParam("alias is required");
      res.json([]);
    });
    table.add("GET", `${prefix}/thirdparty/user`, auth, (req, res) => {
      if (queryString(req, "userid") === undefined) throw missingParam("userid is required");
      res.json([]);
    });
  }
}
