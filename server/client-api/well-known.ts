// GET /.well-known/matrix/client  https://spec.matrix.org/v1.19/client-server-api/#getwell-knownmatrixclient
// GET /.well-known/matrix/server  https://spec.matrix.org/v1.19/server-server-api/#getwell-knownmatrixserver
import type { HomeserverConfig } from "../config/schema.ts";
import type { RouteTable } from "../http/route-table.ts";

export function clientBaseUrl(config: HomeserverConfig): string {
  const explicit = config.well_known.client_base_url ?? config.public_baseurl;
  if (explicit) return explicit.replace(/\/+$/, "");
  return `http://${config.server_name}:${config.listeners.client.port}`;
}

export function registerWellKnown(table: RouteTable, config: HomeserverConfig): void {
  table.add("GET", "/.well-known/matrix/client", (_req, res) => {
    res.json({ "m.homeserver": { base_url: clientBaseUrl(config) } });
  });
  table.add("GET", "/.well-known/matrix/server", (_req, res) => {
    res.json({ "m.server": config.well_known.server ?? `${config.server_name}:${config.listeners.federation.port}` });
  });
}
