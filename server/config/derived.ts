// Values derived from the config that more than one place needs, built once
// here so the start-up check and the endpoints agree.
import { parseServerName, type ServerNameParts } from "../protocol/identifiers.ts";
import { ConfigError } from "./config-error.ts";
import type { HomeserverConfig } from "./schema.ts";

/** server_name split into host and port; start-up has already refused an invalid one. */
export function serverNameParts(config: Pick<HomeserverConfig, "server_name">): ServerNameParts {
  const parts = parseServerName(config.server_name);
  if (!parts) throw new ConfigError(`server_name "${config.server_name}" is not a valid Matrix server name (host, IPv4, [IPv6], optionally :port)`);
  return parts;
}

/**
 * The client API's public URL for .well-known/matrix/client: explicit
 * config, else the server_name's host (its own port, if any, belongs to
 * federation) on the client listener's port.
 */
export function clientBaseUrl(config: HomeserverConfig): string {
  const explicit = config.well_known.client_base_url ?? config.public_baseurl;
  if (explicit) return explicit.replace(/\/+$/, "");
  return `http://${serverNameParts(config).host}:${config.listeners.client.port}`;
}

/** The delegation target for .well-known/matrix/server. */
export function federationServerTarget(config: HomeserverConfig): string {
  return config.well_known.server ?? `${serverNameParts(config).host}:${config.listeners.federation.port}`;
}

/** Checks what the schema cannot: names and URLs that must parse. */
export function checkDerivedConfig(config: HomeserverConfig): void {
  serverNameParts(config);
  const base = clientBaseUrl(config);
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    throw new ConfigError(`the client base URL "${base}" is not a valid URL; set well_known.client_base_url or public_baseurl`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new ConfigError(`the client base URL "${base}" must be http or https`);
  const search = config.search;
  if (search.backend === "elasticsearch" && !search.elasticsearch) throw new ConfigError(`search.backend is elasticsearch but search.elasticsearch.node is not set`);
  const es = search.elasticsearch;
  if (es && (es.username === undefined) !== (es.password === undefined)) throw new ConfigError(`search.elasticsearch.username and password must be given together`);
  if (es?.api_key !== undefined && es.username !== undefined) throw new ConfigError(`search.elasticsearch: give api_key or username/password, not both`);
  // The spec requires at least one way to reach each support contact.
  const contacts = config.well_known.support?.contacts ?? [];
  const unreachable = contacts.findIndex((c) => c.matrix_id === undefined && c.email_address === undefined);
  if (unreachable >= 0) throw new ConfigError(`well_known.support.contacts.${unreachable} needs matrix_id or email_address`);
  const { voip } = config;
  if (voip.turn_shared_secret !== undefined && (voip.turn_username !== undefined || voip.turn_password !== undefined)) {
    throw new ConfigError("voip.turn_shared_secret and voip.turn_username/turn_password are exclusive: pick time-limited or static TURN credentials");
  }
  if ((voip.turn_username === undefined) !== (voip.turn_password === undefined)) throw new ConfigError("voip.turn_username and voip.turn_password go together");
}
