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
import type { RoomService } from "../server/rooms/room-service.ts";
import type { E2eeServices } from "../server/e2ee/services.ts";
import type { Database } from "../server/storage/database.ts";
import { requireServerAuth } from "./auth/require-server-auth.ts";
import { registerFederationHierarchy } from "./routes/hierarchy.ts";
import { registerFederationMedia } from "./routes/media.ts";
import type { MediaRepository } from "../server/media/media-repository.ts";
import { registerHistoryRoutes } from "./routes/history.ts";
import { registerInviteRoutes } from "./routes/invites.ts";
import { registerKeyQuery } from "./routes/key-query.ts";
import { registerKeyServer } from "./routes/key-server.ts";
import { registerMembershipRoutes } from "./routes/membership.ts";
import { registerOpenIdUserInfo } from "./routes/openid.ts";
import { registerFederationPublicRooms } from "./routes/public-rooms.ts";
import { registerFederationQueries } from "./routes/query.ts";
import { registerRoomStateRoutes } from "./routes/room-state.ts";
import { registerSendTransaction } from "./routes/send.ts";
import { registerFederationTimestampToEvent } from "./routes/timestamp-to-event.ts";
import { registerUserKeyRoutes } from "./routes/user-keys.ts";
import { registerFederationVersion } from "./routes/version.ts";
import type { FederationServices } from "./services.ts";

export interface FederationAppDeps {
  config: HomeserverConfig;
  log: Logger;
  metrics: Metrics;
  signingKey: SigningKey;
  db: Database;
  redis: Redis;
  federation: FederationServices;
  rooms: RoomService;
  e2ee: Pick<E2eeServices, "keys">;
  media: Pick<MediaRepository, "find" | "open" | "thumbnail">;
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
    keyring: deps.federation.keyring,
    // A server that reaches us is up: whatever we owe it goes now, not after its backoff.
    onOrigin: (origin) => void deps.federation.sender.onOriginSeen(origin),
    maxBodyBytes: config.federation.max_request_body_bytes,
    perOrigin: createRateLimiter(deps.redis, "federation", limit, (_req, res) => `origin:${res.locals.origin}`),
  });
  registerFederationVersion(table);
  registerKeyServer(table, keys);
  registerKeyQuery(table, {
    keys,
    keyring: deps.federation.keyring,
    body: jsonBody({ maxBytes: config.limits.max_json_body_bytes }),
    rateLimit: createRateLimiter(deps.redis, "key_query", limit, byRequesterOrAddress),
  });
  registerFederationQueries(table, { db: deps.db, serverName: config.server_name, auth });
  const signer = { serverName: config.server_name, key: deps.signingKey };
  const reads = { db: deps.db, rooms: deps.rooms, serverName: config.server_name, auth };
  registerSendTransaction(table, { transactions: deps.federation.transactions, auth });
  registerRoomStateRoutes(table, reads);
  registerHistoryRoutes(table, reads);
  registerMembershipRoutes(table, { db: deps.db, resident: deps.federation.resident, serverName: config.server_name, auth });
  registerInviteRoutes(table, { db: deps.db, rooms: deps.rooms, signer, keyring: deps.federation.keyring, auth });
  registerFederationPublicRooms(table, { db: deps.db, auth });
  registerFederationHierarchy(table, { db: deps.db, auth });
  registerFederationTimestampToEvent(table, { db: deps.db, rooms: deps.rooms, auth });
  registerOpenIdUserInfo(table, { db: deps.db });
  registerUserKeyRoutes(table, { db: deps.db, keys: deps.e2ee.keys, serverName: config.server_name, auth });
  registerFederationMedia(table, { repository: deps.media, serverName: config.server_name, auth });
  app.use(router);
  app.use(unrecognizedRequest(table));
  app.use(errorHandler());
  return app;
}
