// Calls to identity servers for /account/3pid/bind and /unbind: HTTPS only,
// through the federation's SSRF-guarded agent (its address policy, DNS and
// CAs), and only to servers named in `identity_servers`. Bind forwards the
// user's id_access_token (Identity Service API v2 `/3pid/bind`); unbind is
// signed with our server key (X-Matrix), which the identity server checks.
// Remote error text never reaches our clients: callers get an outcome.
import { TransportError, sendHttps } from "../../server/net/https-request.ts";
import type { GuardedHttpsAgent } from "../../server/net/guarded-agent.ts";
import type { SigningKey } from "../../server/protocol/signing.ts";
import type { JsonObject } from "../../server/protocol/json.ts";
import { authorizationHeader } from "./federation-client.ts";

export type BindOutcome = { outcome: "bound"; medium: string; address: string } | { outcome: "refused" | "unreachable" };

export interface IdentityServerClient {
  /** Whether `idServer` (host[:port]) may be called. */
  trusts(idServer: string): boolean;
  /** True when none is configured: binding is refused outright. */
  readonly none: boolean;
  bind(idServer: string, request: { idAccessToken: string; sid: string; clientSecret: string; mxid: string }): Promise<BindOutcome>;
  /** True when the identity server confirmed the unbinding. */
  unbind(idServer: string, request: { mxid: string; medium: string; address: string }): Promise<boolean>;
}

export interface IdentityClientDeps {
  trusted: readonly string[];
  agent: GuardedHttpsAgent;
  verifyCertificates: boolean;
  serverName: string;
  signingKey: SigningKey;
  connectTimeoutMs: number;
  requestTimeoutMs: number;
}

/** Identity responses are small JSON objects. */
const MAX_RESPONSE_BYTES = 65_536;

export function createIdentityServerClient(deps: IdentityClientDeps): IdentityServerClient {
  const trusted = new Set(deps.trusted.map((s) => s.toLowerCase()));

  async function post(idServer: string, path: string, body: JsonObject, headers: Record<string, string>): Promise<{ status: number; body: Buffer } | "unreachable"> {
    const url = new URL(`https://${idServer}`);
    const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
    try {
      const res = await sendHttps({
        agent: deps.agent,
        host,
        port: url.port ? Number(url.port) : 443,
        tlsName: host,
        verifyCertificate: deps.verifyCertificates,
        hostHeader: url.host,
        method: "POST",
        path,
        headers,
        body: Buffer.from(JSON.stringify(body)),
        connectTimeoutMs: deps.connectTimeoutMs,
        totalTimeoutMs: deps.requestTimeoutMs,
        maxResponseBytes: MAX_RESPONSE_BYTES,
      });
      return res;
    } catch (err) {
      if (err instanceof TransportError) return "unreachable";
      throw err;
    }
  }

  return {
    none: trusted.size === 0,
    trusts: (idServer) => trusted.has(idServer.toLowerCase()),
    async bind(idServer, request) {
      const res = await post(
        idServer,
        "/_matrix/identity/v2/3pid/bind",
        { sid: request.sid, client_secret: request.clientSecret, mxid: request.mxid },
        { Authorization: `Bearer ${request.idAccessToken}` },
      );
      if (res === "unreachable" || res.status >= 500) return { outcome: "unreachable" };
      if (res.status < 200 || res.status >= 300) return { outcome: "refused" };
      // The association it signed says which identifier is now bound.
      let association: { medium?: unknown; address?: unknown; mxid?: unknown };
      try {
        association = JSON.parse(res.body.toString("utf8")) as typeof association;
      } catch {
        return { outcome: "unreachable" };
      }
      if (typeof association.medium !== "string" || typeof association.address !== "string" || association.mxid !== request.mxid) return { outcome: "unreachable" };
      return { outcome: "bound", medium: association.medium, address: association.address };
    },
    async unbind(idServer, request) {
      const path = "/_matrix/identity/v2/3pid/unbind";
      const body: JsonObject = { mxid: request.mxid, threepid: { medium: request.medium, address: request.address } };
      const res = await post(idServer, path, body, { Authorization: authorizationHeader(deps.serverName, idServer, deps.signingKey, "POST", path, body) });
      return res !== "unreachable" && res.status >= 200 && res.status < 300;
    },
  };
}
