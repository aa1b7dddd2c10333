// The express application behind the client listener (port 8008).
import express, { type Express, type RequestHandler } from "express";
import { registerVersions } from "../client-api/versions.ts";
import { registerWellKnown } from "../client-api/well-known.ts";
import type { HomeserverConfig } from "../config/schema.ts";
import type { Logger } from "../observability/logger.ts";
import type { Metrics } from "../observability/metrics.ts";
import { registerHealth, type ReadinessProbes } from "./health.ts";
import { registerMetrics } from "./metrics-route.ts";
import { jsonBody } from "./json-body.ts";
import { clientCors, errorHandler, requestLogging, unrecognizedRequest } from "./middleware.ts";
import { RouteTable } from "./route-table.ts";

export interface ClientAppDeps {
  config: HomeserverConfig;
  log: Logger;
  metrics: Metrics;
  probes: ReadinessProbes;
  isDraining: () => boolean;
  /** Endpoint groups added by later layers (accounts, rooms, sync...). */
  registerRoutes?: (table: RouteTable, body: RequestHandler) => void;
}

export function createClientApp(deps: ClientAppDeps): Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);
  app.set("query parser", "simple");
  const router = express.Router();
  const table = new RouteTable(router);
  const body = jsonBody({ maxBytes: deps.config.limits.max_json_body_bytes });

  app.use(requestLogging(deps.log, deps.metrics));
  app.use(clientCors());
  registerHealth(table, deps.probes, deps.isDraining);
  if (deps.config.metrics.enabled) registerMetrics(table, deps.metrics, deps.config.metrics.allow_from);
  registerVersions(table);
  registerWellKnown(table, deps.config);
  deps.registerRoutes?.(table, body);
  app.use(router);
  app.use(unrecognizedRequest(table));
  app.use(errorHandler());
  return app;
}
