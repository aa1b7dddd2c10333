// The express application behind the federation listener (port 8448, TLS).
import express, { type Express } from "express";
import type { HomeserverConfig } from "../server/config/schema.ts";
import { errorHandler, requestLogging, unrecognizedRequest } from "../server/http/middleware.ts";
import { RouteTable } from "../server/http/route-table.ts";
import type { Logger } from "../server/observability/logger.ts";
import type { Metrics } from "../server/observability/metrics.ts";
import type { SigningKey } from "../server/protocol/signing.ts";
import { registerKeyServer } from "./routes/key-server.ts";
import { registerFederationVersion } from "./routes/version.ts";

export interface FederationAppDeps {
  config: HomeserverConfig;
  log: Logger;
  metrics: Metrics;
  signingKey: SigningKey;
}

export function createFederationApp(deps: FederationAppDeps): Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);
  const router = express.Router();
  const table = new RouteTable(router);
  app.use(requestLogging(deps.log.child({ listener: "federation" }), deps.metrics));
  registerFederationVersion(table);
  registerKeyServer(table, deps.config.server_name, deps.signingKey);
  app.use(router);
  app.use(unrecognizedRequest(table));
  app.use(errorHandler());
  return app;
}
