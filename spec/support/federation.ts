// Federation test helpers: homeserver processes named `127.0.0.1:<port>`
// (the port picked before start), each with its own database and Redis
// prefix, TLS from the run's test CA (verification stays on), and raw HTTPS
// requests for probing a federation listener the way a remote server would.
import { request } from "node:https";
import { dropDatabase } from "./admin-db.ts";
import { freePort } from "./ports.ts";
import { startServer, type RunningServer } from "./server-process.ts";
import { testCertificates } from "./test-ca.ts";
import { databaseUrl, testDatabaseName, testRedisPrefix } from "./test-env.ts";

export interface FederatedServer extends RunningServer {
  serverName: string;
  federationPort: number;
  databaseName: string;
  /** Stops the process and drops its database. */
  destroy(): Promise<void>;
}

let serial = 0;

export interface FederatedOptions {
  /** Merged over the federation defaults (deep merge, arrays replaced). */
  config?: Record<string, unknown>;
  serverName?: string;
  federationPort?: number;
  bindAddress?: string;
  /** Reuse a database (to restart a server with its data). */
  databaseName?: string;
}

export async function startFederatedServer(options: FederatedOptions = {}): Promise<FederatedServer> {
  const certs = await testCertificates();
  const bind = options.bindAddress ?? "127.0.0.1";
  const federationPort = options.federationPort ?? (await freePort(bind));
  const serverName = options.serverName ?? `127.0.0.1:${federationPort}`;
  serial += 1;
  const databaseName = options.databaseName ?? `${testDatabaseName}_fed${serial}`;
  const base = {
    server_name: serverName,
    redis: { key_prefix: `${testRedisPrefix}fed${serial}:` },
    listeners: {
      federation: { enabled: true, port: federationPort, bind_addresses: [bind], tls_certificate_path: certs.certPath, tls_private_key_path: certs.keyPath },
    },
    federation: { ca_bundle_path: certs.caPath, ip_range_allowlist: ["127.0.0.1"] },
  };
  const server = await startServer({ federation: true, config: deepMerge(base, options.config ?? {}), env: { DATABASE_URL: databaseUrl(databaseName) } });
  return Object.assign(server, {
    serverName,
    federationPort,
    databaseName,
    async destroy() {
      await server.stop();
      if (!options.databaseName) await dropDatabase(databaseName);
    },
  });
}

function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const prior = out[key];
    const bothObjects = (v: unknown) => v !== null && typeof v === "object" && !Array.isArray(v);
    out[key] = bothObjects(value) && bothObjects(prior) ? deepMerge(prior as Record<string, unknown>, value as Record<string, unknown>) : value;
  }
  return out;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: any;
}

/** One HTTPS request to a federation listener, trusting the test CA. */
export async function federationRequest(
  baseUrl: string,
  method: string,
  path: string,
  options: { headers?: Record<string, string>; json?: unknown; hostHeader?: string } = {},
): Promise<RawResponse> {
  const { caPem } = await testCertificates();
  const url = new URL(path, baseUrl);
  const body = options.json === undefined ? undefined : Buffer.from(JSON.stringify(options.json));
  return new Promise<RawResponse>((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        method,
        path: `${url.pathname}${url.search}`,
        ca: caPem,
        headers: {
          ...(options.hostHeader ? { Host: options.hostHeader } : {}),
          ...(body ? { "Content-Type": "application/json", "Content-Length": String(body.length) } : {}),
          ...options.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            // not JSON
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed });
        });
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** The first log line matching `match`, waiting for it (a server logs a request after answering it). */
export async function waitForLog(server: RunningServer, match: (line: Record<string, unknown>) => boolean, timeoutMs = 5000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = server.logs().find(match);
    if (found) return found;
    if (Date.now() > deadline) throw new Error("no matching log line");
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
