// GET /.well-known/matrix/client         https://spec.matrix.org/v1.19/client-server-api/#getwell-knownmatrixclient
// GET /.well-known/matrix/server         https://spec.matrix.org/v1.19/server-server-api/#getwell-knownmatrixserver
// GET /.well-known/matrix/support        https://spec.matrix.org/v1.19/client-server-api/#getwell-knownmatrixsupport
// GET /.well-known/matrix/policy_server  https://spec.matrix.org/v1.19/client-server-api/#getwell-knownmatrixpolicy_server
import { clientBaseUrl, federationServerTarget } from "../config/derived.ts";
import type { HomeserverConfig } from "../config/schema.ts";
import { notFound } from "../errors/matrix-error.ts";
import type { RouteTable } from "../http/route-table.ts";

export function registerWellKnown(table: RouteTable, config: HomeserverConfig): void {
  table.add("GET", "/.well-known/matrix/client", (_req, res) => {
    res.json({ "m.homeserver": { base_url: clientBaseUrl(config) } });
  });
  table.add("GET", "/.well-known/matrix/server", (_req, res) => {
    res.json({ "m.server": federationServerTarget(config) });
  });
  // Both answer 404 when not configured: the spec's "no support information" and "not a policy server".
  table.add("GET", "/.well-known/matrix/support", (_req, res) => {
    const support = config.well_known.support;
    if (!support) throw notFound("No support information is configured");
    res.json(support);
  });
  table.add("GET", "/.well-known/matrix/policy_server", (_req, res) => {
    const policy = config.well_known.policy_server;
    if (!policy) throw notFound("This server is not a policy server");
    res.json(policy);
  });
}
