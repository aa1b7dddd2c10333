// Outbound federation requests: discovery, X-Matrix signing, a keep-alive
// agent per destination behind the SSRF guard, timeouts, bounded and parsed
// JSON responses. A failure is a FederationError: what went wrong (for our
// logic and logs), never text for a client; callers turn it into their own
// Matrix error.
import type { DnsResolver } from "../../server/net/dns.ts";
import { GuardedHttpsAgent } from "../../server/net/guarded-agent.ts";
import { openStream, type StreamResponse } from "../../server/net/guarded-fetch.ts";
import { sendHttps, TransportError, type TransportFailure } from "../../server/net/https-request.ts";
import type { AddressPolicy } from "../../server/net/ip-range.ts";
import type { Logger } from "../../server/observability/logger.ts";
import type { JsonValue } from "../../server/protocol/json.ts";
import { signJson, getSignature, type SigningKey } from "../../server/protocol/signing.ts";
import { formatXMatrix, signedRequestObject } from "../../server/protocol/x-matrix.ts";
import type { ServerResolver } from "./resolve-server.ts";

export type FederationFailure = TransportFailure | "resolve" | "http" | "bad_response";

export class FederationError extends Error {
  readonly destination: string;
  readonly failure: FederationFailure;
  /** The remote's HTTP status, for failure "http". */
  readonly status?: number;
  /** The remote's errcode, if its error body had one. For decisions only: never shown to a client as ours. */
  readonly errcode?: string;

  constructor(destination: string, failure: FederationFailure, message: string, extra: { status?: number; errcode?: string; cause?: unknown } = {}) {
    super(message, { cause: extra.cause });
    this.name = "FederationError";
    this.destination = destination;
    this.failure = failure;
    if (extra.status !== undefined) this.status = extra.status;
    if (extra.errcode !== undefined) this.errcode = extra.errcode;
  }
}

export type Query = Record<string, string | number | boolean | readonly string[] | undefined>;

export interface FederationRequestOptions {
  query?: Query;
  body?: JsonValue;
  timeoutMs?: number;
  maxResponseBytes?: number;
  /** Key fetches go unsigned (the remote may not know us yet); everything else is signed. */
  signed?: boolean;
}

export interface FederationClient {
  request(destination: string, method: "GET" | "POST" | "PUT" | "DELETE", path: string, options?: FederationRequestOptions): Promise<JsonValue>;
  /**
   * A signed GET whose answer is handed over as a stream once its headers
   * arrive (federation media). Any status is returned; the caller reads or
   * destroys the body.
   */
  stream(destination: string, path: string, options?: { query?: Query; timeoutMs?: number; idleTimeoutMs?: number }): Promise<StreamResponse>;
  close(): void;
}

export interface FederationClientDeps {
  serverName: string;
  signingKey: SigningKey;
  resolver: ServerResolver;
  dns: DnsResolver;
  policy: AddressPolicy;
  /** Extra trusted CAs (PEM), added to the system's. */
  ca?: Buffer[];
  verifyCertificates: boolean;
  connectTimeoutMs: number;
  requestTimeoutMs: number;
  maxResponseBytes: number;
  log: Logger;
}

const MAX_AGENTS = 1000;
const SOCKETS_PER_DESTINATION = 10;

/** `?a=1&b=2` with every name and value percent-encoded (the same text is signed and sent). */
export function encodeQuery(query: Query | undefined): string {
  if (!query) return "";
  const pairs: string[] = [];
  for (const [name, value] of Object.entries(query)) {
    if (value === undefined) continue;
    for (const one of Array.isArray(value) ? value : [value]) pairs.push(`${encodeURIComponent(name)}=${encodeURIComponent(String(one))}`);
  }
  return pairs.length === 0 ? "" : `?${pairs.join("&")}`;
}

/** The Authorization header value for a request we send. */
export function authorizationHeader(origin: string, destination: string, key: SigningKey, method: string, uri: string, content: JsonValue | undefined): string {
  const signed = signJson(signedRequestObject({ method, uri, origin, destination, ...(content === undefined ? {} : { content }) }), origin, key);
  return formatXMatrix({ origin, destination, key: key.keyId, sig: getSignature(signed, origin, key.keyId)! });
}

export function createFederationClient(deps: FederationClientDeps): FederationClient {
  const agents = new Map<string, GuardedHttpsAgent>();

  function agentFor(destination: string): GuardedHttpsAgent {
    let agent = agents.get(destination);
    if (agent) return agent;
    if (agents.size >= MAX_AGENTS) {
      const [oldest, evicted] = agents.entries().next().value!;
      agents.delete(oldest);
      evicted.destroy();
    }
    agent = new GuardedHttpsAgent({
      policy: deps.policy,
      dns: deps.dns,
      keepAlive: true,
      maxSockets: SOCKETS_PER_DESTINATION,
      rejectUnauthorized: deps.verifyCertificates,
      ...(deps.ca ? { ca: deps.ca } : {}),
    });
    agents.set(destination, agent);
    return agent;
  }

  async function resolve(destination: string) {
    try {
      return await deps.resolver.resolve(destination);
    } catch (err) {
      throw new FederationError(destination, "resolve", `cannot resolve ${destination}: ${(err as Error).message}`, { cause: err });
    }
  }

  async function request(destination: string, method: "GET" | "POST" | "PUT" | "DELETE", path: string, options: FederationRequestOptions = {}): Promise<JsonValue> {
    const started = Date.now();
    const address = await resolve(destination);
    const uri = `${path}${encodeQuery(options.query)}`;
    const headers: Record<string, string> = { Accept: "application/json" };
    if (options.signed ?? true) headers.Authorization = authorizationHeader(deps.serverName, destination, deps.signingKey, method, uri, options.body);
    let response;
    try {
      response = await sendHttps({
        agent: agentFor(destination),
        host: address.host,
        port: address.port,
        tlsName: address.tlsName,
        verifyCertificate: deps.verifyCertificates,
        hostHeader: address.hostHeader,
        method,
        path: uri,
        headers,
        ...(options.body === undefined ? {} : { body: Buffer.from(JSON.stringify(options.body)) }),
        connectTimeoutMs: deps.connectTimeoutMs,
        totalTimeoutMs: options.timeoutMs ?? deps.requestTimeoutMs,
        maxResponseBytes: options.maxResponseBytes ?? deps.maxResponseBytes,
      });
    } catch (err) {
      const failure = err instanceof TransportError ? err.failure : "connect";
      deps.log.debug({ destination, method, path, failure, durationMs: Date.now() - started }, "federation request failed");
      throw new FederationError(destination, failure, `${method} ${path} to ${destination}: ${(err as Error).message}`, { cause: err });
    }
    deps.log.debug({ destination, method, path, status: response.status, bytes: response.body.length, durationMs: Date.now() - started }, "federation request");
    let body: JsonValue | undefined;
    try {
      body = response.body.length === 0 ? undefined : (JSON.parse(response.body.toString("utf8")) as JsonValue);
    } catch {
      body = undefined;
    }
    if (response.status < 200 || response.status >= 300) {
      const errcode = body && typeof body === "object" && !Array.isArray(body) && typeof body.errcode === "string" ? body.errcode : undefined;
      throw new FederationError(destination, "http", `${method} ${path} to ${destination}: status ${response.status}${errcode ? ` ${errcode}` : ""}`, {
        status: response.status,
        ...(errcode ? { errcode } : {}),
      });
    }
    if (body === undefined) throw new FederationError(destination, "bad_response", `${method} ${path} to ${destination}: the response is not JSON`);
    return body;
  }

  async function stream(destination: string, path: string, options: { query?: Query; timeoutMs?: number; idleTimeoutMs?: number } = {}): Promise<StreamResponse> {
    const address = await resolve(destination);
    const uri = `${path}${encodeQuery(options.query)}`;
    try {
      const response = await openStream({
        agent: agentFor(destination),
        protocol: "https:",
        host: address.host,
        port: address.port,
        method: "GET",
        path: uri,
        headers: { Host: address.hostHeader, Authorization: authorizationHeader(deps.serverName, destination, deps.signingKey, "GET", uri, undefined) },
        tlsName: address.tlsName,
        verifyCertificate: deps.verifyCertificates,
        headersTimeoutMs: options.timeoutMs ?? deps.requestTimeoutMs,
        idleTimeoutMs: options.idleTimeoutMs ?? deps.requestTimeoutMs,
      });
      deps.log.debug({ destination, method: "GET", path, status: response.status }, "federation stream");
      return response;
    } catch (err) {
      const failure = err instanceof TransportError ? err.failure : "connect";
      throw new FederationError(destination, failure, `GET ${path} to ${destination}: ${(err as Error).message}`, { cause: err });
    }
  }

  return {
    request,
    stream,
    close() {
      for (const agent of agents.values()) agent.destroy();
      agents.clear();
    },
  };
}
