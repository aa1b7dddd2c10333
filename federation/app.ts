// The express application behind the federation listener (port 8448, TLS).
import express, { type Express } from "express";
import type { Redis } from "ioredis";
import type { HomeserverConfig } from "../server/config/schema.ts";
import { jsonBody } from "../server/http/json-body.ts";
import { errorHandler, requestLogging, unrecognizedRequest } from "../server/http/middleware.ts";
import { byRequesterOrAddress, createRateLimiter } from "../server/http/rate-limit.ts";
import { RouteTable } from "../server/http/route-table.ts";
import type { Logger } from "../server/observability/logger.ts";
import type { Metrics } from "../server/observability/metrics.ts";
import type { SigningKey } from "../server/protocol/signing.ts";
import type { Database } from "../server/storage/database.ts";
import { requireServerAuth } from "./auth/require-server-auth.ts";
import type { Keyring } from "./keys/keyring.ts";
import { registerKeyQuery } from "./routes/key-query.ts";
import { registerKeyServer } from "./routes/key-server.ts";
import { registerFederationQueries } from "./routes/query.ts";
import { registerFederationVersion } from "./routes/version.ts";

export interface FederationAppDeps {
  config: HomeserverConfig;
  log: Logger;
  metrics: Metrics;
  signingKey: SigningKey;
  db: Database;
  redis: Redis;
  keyring: Keyring;
}

export function createFederationApp(deps: FederationAppDeps): Express {
  const { config } = deps;
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);
  const router = express.Router();
  const table = new RouteTable(router);
  app.use(requestLogging(deps.log.child({ listener: "federation" }), deps.metrics));
  const keys = { serverName: config.server_name, signingKey: deps.signingKey, oldKeys: config.old_signing_keys };
  const limit = config.federation.rate_limit;
  const auth = requireServerAuth({
    serverName: config.server_name,
    keyring: deps.keyring,
    maxBodyBytes: config.federation.max_request_body_bytes,
    perOrigin: createRateLimiter(deps.redis, "federation", limit, (_req, res) => `origin:${res.locals.origin}`),
  });
  registerFederationVersion(table);
  registerKeyServer(table, keys);
  registerKeyQuery(table, {
    keys,
    keyring: deps.keyring,
    body: jsonBody({ maxBytes: config.limits.max_json_body_bytes }),
    rateLimit: createRateLimiter(deps.redis, "key_query", limit, byRequesterOrAddress),
  });
  registerFederationQueries(table, { db: deps.db, serverName: config.server_name, auth });
  app.use(router);
  app.use(unrecognizedRequest(table));
  app.use(errorHandler());
  return app;
}
