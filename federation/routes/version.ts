// GET /_matrix/federation/v1/version
// https://spec.matrix.org/v1.19/server-server-api/#get_matrixfederationv1version
import type { RouteTable } from "../../server/http/route-table.ts";

export const SERVER_SOFTWARE = { name: "Myelin", version: "0.1.0" };

export function registerFederationVersion(table: RouteTable): void {
  table.add("GET", "/_matrix/federation/v1/version", (_req, res) => {
    res.json({ server: SERVER_SOFTWARE });
  });
}
