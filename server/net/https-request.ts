// One outbound HTTPS request with the limits every caller needs: a connect
// timeout, a total timeout, a bound on the response body, and the TLS name
// checked separately from the address connected to (a federation server is
// reached at an address from SRV or .well-known but must present a
// certificate for the name it was asked by).
import type { IncomingHttpHeaders } from "node:http";
import { request } from "node:https";
import { isIP } from "node:net";
import { checkServerIdentity, type PeerCertificate } from "node:tls";
import { BlockedAddressError, type GuardedHttpsAgent } from "./guarded-agent.ts";

export interface HttpsRequest {
  agent: GuardedHttpsAgent;
  /** Where to connect: an IP literal or a host name (resolved through the agent's guarded lookup). */
  host: string;
  port: number;
  /** The name the certificate must be valid for (and the SNI name unless it is an IP). */
  tlsName: string;
  /** False only when certificate checks are switched off (federation.verify_certificates). */
  verifyCertificate: boolean;
  hostHeader: string;
  method: string;
  /** Path and query string, already encoded. */
  path: string;
  headers?: Record<string, string>;
  body?: Buffer;
  connectTimeoutMs: number;
  totalTimeoutMs: number;
  maxResponseBytes: number;
}

export interface HttpsResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export type TransportFailure = "blocked" | "dns" | "connect" | "tls" | "timeout" | "too_large" | "protocol";

/** The request did not produce a complete response. `message` is ours, for logs and operators. */
export class TransportError extends Error {
  readonly failure: TransportFailure;
  constructor(failure: TransportFailure, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "TransportError";
    this.failure = failure;
  }
}

const DNS_CODES = new Set(["ENOTFOUND", "ENODATA", "ESERVFAIL", "ETIMEOUT", "EREFUSED", "EAI_AGAIN"]);
const TLS_CODES = /^(ERR_TLS_|CERT_|UNABLE_TO_|DEPTH_ZERO|SELF_SIGNED|ERR_SSL_|HOSTNAME_MISMATCH)/;

function classify(err: unknown, target: string): TransportError {
  if (err instanceof TransportError) return err;
  if (err instanceof BlockedAddressError) return new TransportError("blocked", err.message, { cause: err });
  const code = (err as NodeJS.ErrnoException).code ?? "";
  if (DNS_CODES.has(code)) {
    return new TransportError("dns", `cannot resolve ${target}: ${code}`, { cause: err });
  }
  if (TLS_CODES.test(code)) return new TransportError("tls", `TLS failure talking to ${target}: ${code}`, { cause: err });
  if (code === "ECONNRESET" || code === "EPIPE" || code === "HPE_INVALID_CONSTANT" || code.startsWith("HPE_")) {
    return new TransportError("protocol", `${target} broke off the exchange: ${code}`, { cause: err });
  }
  return new TransportError("connect", `cannot connect to ${target}: ${code || (err as Error).message}`, { cause: err });
}

export function sendHttps(options: HttpsRequest): Promise<HttpsResponse> {
  const target = `${options.host}:${options.port}`;
  return new Promise<HttpsResponse>((resolve, reject) => {
    let settled = false;
    let connectTimer: NodeJS.Timeout | undefined;
    const finish = (err: unknown, response?: HttpsResponse) => {
      if (settled) return;
      settled = true;
      clearTimeout(totalTimer);
      clearTimeout(connectTimer);
      if (response) resolve(response);
      else reject(classify(err, target));
    };
    const tlsName = options.tlsName;
    const req = request({
      agent: options.agent,
      host: options.host,
      port: options.port,
      method: options.method,
      path: options.path,
      // SNI carries host names only (RFC 6066); an IP literal is sent none.
      servername: isIP(tlsName) ? "" : tlsName,
      rejectUnauthorized: options.verifyCertificate,
      checkServerIdentity: (_host: string, cert: PeerCertificate) => (options.verifyCertificate ? checkServerIdentity(tlsName, cert) : undefined),
      headers: {
        Host: options.hostHeader,
        ...(options.body ? { "Content-Type": "application/json", "Content-Length": String(options.body.length) } : {}),
        ...options.headers,
      },
    });
    const totalTimer = setTimeout(() => {
      const err = new TransportError("timeout", `${target} did not answer within ${options.totalTimeoutMs} ms`);
      finish(err);
      req.destroy(err);
    }, options.totalTimeoutMs);
    req.on("socket", (socket) => {
      if (options.agent.established.has(socket)) return;
      connectTimer = setTimeout(() => {
        const err = new TransportError("timeout", `connecting to ${target} took longer than ${options.connectTimeoutMs} ms`);
        finish(err);
        req.destroy(err);
      }, options.connectTimeoutMs);
      socket.once("secureConnect", () => clearTimeout(connectTimer));
    });
    req.on("error", (err) => finish(err));
    req.on("response", (res) => {
      const declared = Number(res.headers["content-length"] ?? "0");
      if (declared > options.maxResponseBytes) {
        const err = new TransportError("too_large", `${target} answered ${declared} bytes, over the limit of ${options.maxResponseBytes}`);
        finish(err);
        req.destroy(err);
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > options.maxResponseBytes) {
          const err = new TransportError("too_large", `${target} sent more than ${options.maxResponseBytes} bytes`);
          finish(err);
          req.destroy(err);
          return;
        }
        chunks.push(chunk);
      });
      res.on("end", () => finish(undefined, { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", (err) => finish(err));
      res.on("aborted", () => finish(new TransportError("protocol", `${target} closed the connection mid-response`)));
    });
    req.end(options.body);
  });
}
