// Registers every client-API endpoint group on the client listener's route table.
import type { RequestHandler } from "express";
import type { Redis } from "ioredis";
import { requireAuth } from "../auth/authenticate.ts";
import { createUia } from "../auth/uia.ts";
import type { HomeserverConfig } from "../config/schema.ts";
import { byRequesterOrAddress, createRateLimiter } from "../http/rate-limit.ts";
import type { RouteTable } from "../http/route-table.ts";
import type { Database } from "../storage/database.ts";
import { registerAccount } from "./account.ts";
import { registerAdminRegistration } from "./admin-register.ts";
import { registerLogin } from "./login.ts";
import { registerRegistration } from "./register.ts";

export interface ClientApiDeps {
  config: HomeserverConfig;
  db: Database;
  redis: Redis;
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
}
