// Streaming outbound requests behind the SSRF guard: plain HTTP (an
// http.Agent with the same guarded lookup and post-connect check as
// GuardedHttpsAgent) and HTTPS, a response handed over as a stream once its
// headers arrive, and `guardedGet` following redirects itself so that every
// hop's address is checked (the agents check the address actually connected
// to, so a name that re-resolves to 127.0.0.1, DNS rebinding, is refused at
// connect time). Used for URL previews, Location redirects of federation media
// and the streamed federation media requests.
import { Agent as HttpAgent, request as httpRequest, type ClientRequestArgs, type IncomingHttpHeaders, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { connect as netConnect, isIP, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import { checkServerIdentity, type PeerCertificate } from "node:tls";
import type { DnsResolver } from "./dns.ts";
import { BlockedAddressError, createGuardedLookup, guardedConnect, type GuardedHttpsAgent } from "./guarded-agent.ts";
import { TransportError } from "./https-request.ts";
import type { AddressPolicy } from "./ip-range.ts";

export class GuardedHttpAgent extends HttpAgent {
  readonly #policy: AddressPolicy;

  constructor(options: { policy: AddressPolicy; dns: DnsResolver; keepAlive?: boolean }) {
    super({ keepAlive: options.keepAlive ?? false, lookup: createGuardedLookup(options.dns, options.policy) } as ConstructorParameters<typeof HttpAgent>[0]);
    this.#policy = options.policy;
  }

  override createConnection(options: ClientRequestArgs, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    return guardedConnect<Socket>(this.#policy, options, callback, () => netConnect(options as Parameters<typeof netConnect>[0]));
  }
}

export interface StreamRequest {
  agent: HttpAgent;
  protocol: "http:" | "https:";
  host: string;
  port: number;
  method: string;
  path: string;
  headers: Record<string, string>;
  /** HTTPS only: the name the certificate must be valid for. */
  tlsName?: string;
  verifyCertificate?: boolean;
  /** Until the response headers arrive. */
  headersTimeoutMs: number;
  /** The body fails when no byte arrives for this long. */
  idleTimeoutMs: number;
}

export interface StreamResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: IncomingMessage;
}

function transportError(err: unknown, target: string): TransportError {
  if (err instanceof TransportError) return err;
  if (err instanceof BlockedAddressError) return new TransportError("blocked", err.message, { cause: err });
  const code = (err as NodeJS.ErrnoException).code ?? "";
  if (code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "ENODATA") return new TransportError("dns", `cannot resolve ${target}: ${code}`, { cause: err });
  return new TransportError("connect", `cannot reach ${target}: ${code || (err as Error).message}`, { cause: err });
}

/** Sends a request and resolves when the status and headers are in; the body is the caller's to read or destroy. */
export function openStream(options: StreamRequest): Promise<StreamResponse> {
  const target = `${options.host}:${options.port}`;
  return new Promise<StreamResponse>((resolve, reject) => {
    const tlsName = options.tlsName ?? options.host;
    const common = { agent: options.agent, host: options.host, port: options.port, method: options.method, path: options.path, headers: options.headers };
    const req =
      options.protocol === "https:"
        ? httpsRequest({
            ...common,
            agent: options.agent as GuardedHttpsAgent,
            servername: isIP(tlsName) ? "" : tlsName,
            rejectUnauthorized: options.verifyCertificate ?? true,
            checkServerIdentity: (_host: string, cert: PeerCertificate) => ((options.verifyCertificate ?? true) ? checkServerIdentity(tlsName, cert) : undefined),
          })
        : httpRequest(common);
    const timer = setTimeout(() => req.destroy(new TransportError("timeout", `${target} sent no answer within ${options.headersTimeoutMs} ms`)), options.headersTimeoutMs);
    req.once("error", (err) => {
      clearTimeout(timer);
      reject(transportError(err, target));
    });
    req.once("response", (res) => {
      clearTimeout(timer);
      res.setTimeout(options.idleTimeoutMs, () => res.destroy(new TransportError("timeout", `${target} stalled for ${options.idleTimeoutMs} ms`)));
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res });
    });
    req.end();
  });
}

export interface GuardedGetOptions {
  httpAgent: GuardedHttpAgent;
  httpsAgent: GuardedHttpsAgent;
  maxRedirects: number;
  headersTimeoutMs: number;
  idleTimeoutMs: number;
  headers?: Record<string, string>;
}

export interface GuardedGetResponse extends StreamResponse {
  /** The URL that answered (after redirects). */
  url: URL;
}

/** GET `url` through the guarded agents, following up to `maxRedirects` redirects (each hop checked the same way). */
export async function guardedGet(url: URL, options: GuardedGetOptions): Promise<GuardedGetResponse> {
  let current = url;
  for (let hop = 0; ; hop += 1) {
    if (current.protocol !== "http:" && current.protocol !== "https:") throw new TransportError("blocked", `refusing to fetch a ${current.protocol} URL`);
    const host = current.hostname.replace(/^\[(.*)\]$/, "$1");
    const https = current.protocol === "https:";
    const response = await openStream({
      agent: https ? options.httpsAgent : options.httpAgent,
      protocol: current.protocol,
      host,
      port: current.port ? Number(current.port) : https ? 443 : 80,
      method: "GET",
      path: `${current.pathname}${current.search}`,
      headers: { Host: current.host, ...options.headers },
      tlsName: host,
      headersTimeoutMs: options.headersTimeoutMs,
      idleTimeoutMs: options.idleTimeoutMs,
    });
    const location = response.headers.location;
    if (response.status >= 300 && response.status < 400 && location) {
      response.body.destroy();
      if (hop >= options.maxRedirects) throw new TransportError("protocol", `more than ${options.maxRedirects} redirects`);
      current = new URL(location, current);
      continue;
    }
    return { ...response, url: current };
  }
}
