// Registers every client-API endpoint group on the client listener's route table.
import type { RequestHandler } from "express";
import type { Redis } from "ioredis";
import { requireAuth } from "../auth/authenticate.ts";
import { createUia } from "../auth/uia.ts";
import type { HomeserverConfig } from "../config/schema.ts";
import { byRequesterOrAddress, createRateLimiter } from "../http/rate-limit.ts";
import type { RouteTable } from "../http/route-table.ts";
import type { Signer } from "../rooms/append-event.ts";
import { leaveAllRooms } from "../rooms/leave-all.ts";
import { createRoomService } from "../rooms/room-service.ts";
import type { Database } from "../storage/database.ts";
import type { Notifier } from "../sync/notifier.ts";
import { createSyncEngine } from "../sync/sync-engine.ts";
import { createStreamWriter } from "../sync/stream-writer.ts";
import { createTyping } from "../sync/typing.ts";
import { registerAccountData } from "./account-data.ts";
import { registerReceiptsAndTyping } from "./rooms/receipts-typing.ts";
import { registerDirectory } from "./directory.ts";
import { registerCreateRoom } from "./rooms/create-room.ts";
import { registerMembership } from "./rooms/membership.ts";
import { registerRoomReads } from "./rooms/read.ts";
import { registerSend } from "./rooms/send.ts";
import { registerSync } from "./sync.ts";
import { registerAccount } from "./account.ts";
import { registerAdminRegistration } from "./admin-register.ts";
import { registerLogin } from "./login.ts";
import { registerRegistration } from "./register.ts";
import { registerRefresh } from "./refresh.ts";
import { registerDevices } from "./devices.ts";
import { registerPassword } from "./password.ts";
import { registerCapabilities } from "./capabilities.ts";
import { registerLoginToken } from "./login-token.ts";

export interface ClientApiDeps {
  config: HomeserverConfig;
  db: Database;
  redis: Redis;
  signer: Signer;
  notifier: Notifier;
}

export function registerClientApi(table: RouteTable, body: RequestHandler, deps: ClientApiDeps): void {
  const { config, db, redis } = deps;
  const policy = { refreshableAccessTokenLifetimeMs: config.auth.refreshable_access_token_lifetime_ms };
  const auth = requireAuth(db);
  const limit = (name: keyof HomeserverConfig["rate_limits"]) => createRateLimiter(redis, name, config.rate_limits[name], byRequesterOrAddress);
  const uia = createUia(redis);

  registerLogin(table, body, { db, serverName: config.server_name, policy, rateLimit: limit("login") });
  registerRegistration(table, body, { db, uia, serverName: config.server_name, policy, registration: config.registration, rateLimit: limit("registration") });
  registerAccount(table, body, { db, auth });
  registerAdminRegistration(table, body, { db, redis, serverName: config.server_name, sharedSecret: config.registration_shared_secret, policy });
  registerRefresh(table, body, { db, policy });
  registerDevices(table, body, { db, uia, serverName: config.server_name, auth, rateLimit: limit("login") });
  const rooms = createRoomService({ db, signer: deps.signer, notifier: deps.notifier });
  registerPassword(table, body, {
    db,
    uia,
    serverName: config.server_name,
    auth,
    rateLimit: limit("login"),
    onDeactivated: async (userId) => {
      await leaveAllRooms(db, rooms, userId);
    },
  });
  registerCapabilities(table, { auth });
  registerLoginToken(table, body, { db, uia, serverName: config.server_name, auth, rateLimit: limit("login") });

  registerCreateRoom(table, body, { db, signer: deps.signer, rooms, auth });
  registerMembership(table, body, { db, rooms, auth, joinRateLimit: limit("joins") });
  registerSend(table, body, { rooms, auth, messageRateLimit: limit("message") });
  registerRoomReads(table, { db, rooms, auth });
  registerDirectory(table, body, { db, serverName: config.server_name, auth });
  const streams = createStreamWriter(db, deps.notifier);
  const typing = createTyping(redis, streams);
  registerReceiptsAndTyping(table, body, { db, streams, typing, auth });
  registerAccountData(table, body, { db, streams, auth });
  registerSync(table, body, { db, engine: createSyncEngine({ db, rooms, notifier: deps.notifier, typing }), auth });
}
