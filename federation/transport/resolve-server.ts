// Server discovery: where to connect for a server name, which name its
// certificate must carry, and what Host header to send.
// https://spec.matrix.org/v1.19/server-server-api/#resolving-server-names
//
//   1. IP literal                → that IP, its port or 8448; cert for the IP; Host = server name
//   2. host name + explicit port → that host and port; cert and Host = server name's host (+port in Host)
//   3. /.well-known/matrix/server gives <delegated>[:<port>]:
//      3.1 IP literal            → as 1, with the delegated values
//      3.2 explicit port         → as 2, with the delegated values
//      3.3 SRV _matrix-fed._tcp.<delegated>, 3.4 SRV _matrix._tcp.<delegated> (deprecated)
//      3.5 <delegated>:8448
//      Host and certificate name are <delegated> (+port in Host where one was given)
//   4. SRV _matrix-fed._tcp.<host>, 5. SRV _matrix._tcp.<host> (deprecated)
//   6. <host>:8448
//   Host and certificate name are the server name's host in 4–6.
import { parseServerName } from "../../server/protocol/identifiers.ts";
import type { DnsResolver } from "../../server/net/dns.ts";
import type { WellKnownLookup } from "./well-known.ts";

export const DEFAULT_FEDERATION_PORT = 8448;
/** How long a complete resolution is reused; well-known answers have their own, longer cache. */
const RESOLUTION_CACHE_MS = 5 * 60_000;
const MAX_ENTRIES = 10_000;

export type DiscoveryStep =
  | "ip-literal"
  | "explicit-port"
  | "well-known-ip-literal"
  | "well-known-explicit-port"
  | "well-known-srv"
  | "well-known-legacy-srv"
  | "well-known-default-port"
  | "srv"
  | "legacy-srv"
  | "default-port";

export interface ServerAddress {
  /** Where to connect: an IP literal without brackets, or a host name to resolve with A/AAAA. */
  host: string;
  port: number;
  /** The name the TLS certificate must be valid for (IPs without brackets). */
  tlsName: string;
  hostHeader: string;
  step: DiscoveryStep;
}

export interface ServerResolver {
  /** Throws when the name is not a valid server name. */
  resolve(serverName: string): Promise<ServerAddress>;
}

const unbracket = (host: string) => host.replace(/^\[|\]$/g, "");

export function createServerResolver(deps: { dns: DnsResolver; wellKnown: WellKnownLookup; now?: () => number }): ServerResolver {
  const now = deps.now ?? Date.now;
  const cache = new Map<string, { address: ServerAddress; until: number }>();

  /** Steps 3.3–3.5 and 4–6: SRV records for `host`, then `host`:8448. */
  async function bySrv(host: string, delegated: boolean): Promise<ServerAddress> {
    const fallback = { tlsName: host, hostHeader: host };
    for (const [service, step] of [
      ["_matrix-fed._tcp", delegated ? "well-known-srv" : "srv"],
      ["_matrix._tcp", delegated ? "well-known-legacy-srv" : "legacy-srv"],
    ] as const) {
      const records = await deps.dns.resolveSrv(`${service}.${host}`).catch(() => []);
      const best = records[0];
      if (best) return { host: best.name.replace(/\.$/, ""), port: best.port, ...fallback, step };
    }
    return { host, port: DEFAULT_FEDERATION_PORT, ...fallback, step: delegated ? "well-known-default-port" : "default-port" };
  }

  async function discover(serverName: string): Promise<ServerAddress> {
    const parts = parseServerName(serverName);
    if (!parts) throw new Error(`${JSON.stringify(serverName)} is not a valid server name`);
    if (parts.kind !== "dns") {
      const ip = unbracket(parts.host);
      return { host: ip, port: parts.port ?? DEFAULT_FEDERATION_PORT, tlsName: ip, hostHeader: serverName, step: "ip-literal" };
    }
    if (parts.port !== undefined) {
      return { host: parts.host, port: parts.port, tlsName: parts.host, hostHeader: serverName, step: "explicit-port" };
    }
    const wellKnown = await deps.wellKnown.lookup(parts.host);
    if ("server" in wellKnown) {
      const delegated = parseServerName(wellKnown.server)!;
      if (delegated.kind !== "dns") {
        const ip = unbracket(delegated.host);
        return { host: ip, port: delegated.port ?? DEFAULT_FEDERATION_PORT, tlsName: ip, hostHeader: wellKnown.server, step: "well-known-ip-literal" };
      }
      if (delegated.port !== undefined) {
        return { host: delegated.host, port: delegated.port, tlsName: delegated.host, hostHeader: wellKnown.server, step: "well-known-explicit-port" };
      }
      return bySrv(delegated.host, true);
    }
    return bySrv(parts.host, false);
  }

  return {
    async resolve(serverName) {
      const cached = cache.get(serverName);
      if (cached && cached.until > now()) return cached.address;
      const address = await discover(serverName);
      cache.delete(serverName);
      if (cache.size >= MAX_ENTRIES) cache.delete(cache.keys().next().value!);
      cache.set(serverName, { address, until: now() + RESOLUTION_CACHE_MS });
      return address;
    },
  };
}
