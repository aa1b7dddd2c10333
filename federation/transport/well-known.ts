// GET https://<hostname>/.well-known/matrix/server, cached.
// https://spec.matrix.org/v1.19/server-server-api/#get_well-knownmatrixserver
//
// Cached for the response's Cache-Control max-age (or Expires), 24 hours when
// it gives none, clamped to [5 minutes, 48 hours] (the spec's recommendation
// and upper bound, Synapse's lower bound). Failures (no answer, non-200, bad
// JSON, no valid m.server) are cached for an hour, as the spec recommends, so
// a host without delegation is not asked on every request. Redirects are
// followed up to MAX_REDIRECTS, HTTPS only; bodies are bounded.
import type { IncomingHttpHeaders } from "node:http";
import type { GuardedHttpsAgent } from "../../server/net/guarded-agent.ts";
import { sendHttps, TransportError } from "../../server/net/https-request.ts";
import { parseServerName } from "../../server/protocol/identifiers.ts";

export const WELL_KNOWN_DEFAULT_CACHE_MS = 24 * 3600_000;
export const WELL_KNOWN_MIN_CACHE_MS = 5 * 60_000;
export const WELL_KNOWN_MAX_CACHE_MS = 48 * 3600_000;
export const WELL_KNOWN_FAILURE_CACHE_MS = 3600_000;
export const WELL_KNOWN_MAX_BYTES = 50 * 1024;
export const MAX_REDIRECTS = 5;
const MAX_ENTRIES = 10_000;

export type WellKnownResult = { server: string } | { failure: string };

export interface WellKnownDeps {
  agent: GuardedHttpsAgent;
  verifyCertificates: boolean;
  connectTimeoutMs: number;
  /** Well-known answers should be quick; a slow one only delays falling back to SRV. */
  timeoutMs: number;
  now?: () => number;
}

export interface WellKnownLookup {
  lookup(hostname: string): Promise<WellKnownResult>;
}

/** The cache lifetime a response asks for (ms), or undefined when it gives none. */
export function requestedCacheMs(headers: IncomingHttpHeaders, now: number): number | undefined {
  const control = String(headers["cache-control"] ?? "").toLowerCase();
  if (/(^|[\s,])(no-store|no-cache)([\s,=]|$)/.test(control)) return 0;
  const maxAge = /(?:^|[\s,])max-age\s*=\s*"?(\d+)"?/.exec(control);
  if (maxAge) return Number(maxAge[1]) * 1000;
  const expires = headers.expires;
  if (expires !== undefined) {
    const at = Date.parse(expires);
    return Number.isNaN(at) ? 0 : Math.max(0, at - now);
  }
  return undefined;
}

function clampCache(ms: number | undefined): number {
  return Math.min(WELL_KNOWN_MAX_CACHE_MS, Math.max(WELL_KNOWN_MIN_CACHE_MS, ms ?? WELL_KNOWN_DEFAULT_CACHE_MS));
}

export function createWellKnownLookup(deps: WellKnownDeps): WellKnownLookup {
  const now = deps.now ?? Date.now;
  const cache = new Map<string, { result: WellKnownResult; until: number }>();
  const inFlight = new Map<string, Promise<WellKnownResult>>();

  function remember(hostname: string, result: WellKnownResult, ms: number): WellKnownResult {
    cache.delete(hostname);
    if (cache.size >= MAX_ENTRIES) cache.delete(cache.keys().next().value!);
    cache.set(hostname, { result, until: now() + ms });
    return result;
  }

  async function fetchOnce(hostname: string): Promise<WellKnownResult> {
    let url = new URL(`https://${hostname}/.well-known/matrix/server`);
    for (let hop = 0; ; hop += 1) {
      let response;
      try {
        response = await sendHttps({
          agent: deps.agent,
          host: url.hostname.replace(/^\[|\]$/g, ""),
          port: url.port === "" ? 443 : Number(url.port),
          tlsName: url.hostname.replace(/^\[|\]$/g, ""),
          verifyCertificate: deps.verifyCertificates,
          hostHeader: url.host,
          method: "GET",
          path: `${url.pathname}${url.search}`,
          headers: { Accept: "application/json" },
          connectTimeoutMs: deps.connectTimeoutMs,
          totalTimeoutMs: deps.timeoutMs,
          maxResponseBytes: WELL_KNOWN_MAX_BYTES,
        });
      } catch (err) {
        const reason = err instanceof TransportError ? err.message : String(err);
        return remember(hostname, { failure: reason }, WELL_KNOWN_FAILURE_CACHE_MS);
      }
      if ([301, 302, 303, 307, 308].includes(response.status)) {
        const location = response.headers.location;
        if (hop >= MAX_REDIRECTS || location === undefined) {
          return remember(hostname, { failure: `too many redirects (or one without Location) from ${url.host}` }, WELL_KNOWN_FAILURE_CACHE_MS);
        }
        const next = new URL(location, url);
        if (next.protocol !== "https:") return remember(hostname, { failure: `redirect to a non-HTTPS URL` }, WELL_KNOWN_FAILURE_CACHE_MS);
        url = next;
        continue;
      }
      if (response.status !== 200) return remember(hostname, { failure: `status ${response.status}` }, WELL_KNOWN_FAILURE_CACHE_MS);
      let body: unknown;
      try {
        body = JSON.parse(response.body.toString("utf8"));
      } catch {
        return remember(hostname, { failure: "body is not JSON" }, WELL_KNOWN_FAILURE_CACHE_MS);
      }
      const server = (body as Record<string, unknown> | null)?.["m.server"];
      if (typeof body !== "object" || body === null || typeof server !== "string" || parseServerName(server) === undefined) {
        return remember(hostname, { failure: "m.server is missing or not a server name" }, WELL_KNOWN_FAILURE_CACHE_MS);
      }
      return remember(hostname, { server }, clampCache(requestedCacheMs(response.headers, now())));
    }
  }

  return {
    lookup(hostname) {
      const key = hostname.toLowerCase();
      const cached = cache.get(key);
      if (cached && cached.until > now()) return Promise.resolve(cached.result);
      let pending = inFlight.get(key);
      if (!pending) {
        pending = fetchOnce(key).finally(() => inFlight.delete(key));
        inFlight.set(key, pending);
      }
      return pending;
    },
  };
}
