// GET /.well-known/matrix/client  https://spec.matrix.org/v1.19/client-server-api/#getwell-knownmatrixclient
// GET /.well-known/matrix/server  https://spec.matrix.org/v1.19/server-server-api/#getwell-knownmatrixserver
import { clientBaseUrl, federationServerTarget } from "../config/derived.ts";
import type { HomeserverConfig } from "../config/schema.ts";
import type { RouteTable } from "../http/route-table.ts";

export function registerWellKnown(table: RouteTable, config: HomeserverConfig): void {
  table.add("GET", "/.well-known/matrix/client", (_req, res) => {
    res.json({ "m.homeserver": { base_url: clientBaseUrl(config) } });
  });
  table.add("GET", "/.well-known/matrix/server", (_req, res) => {
    res.json({ "m.server": federationServerTarget(config) });
  });
}
