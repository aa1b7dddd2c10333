// Registers every client-API endpoint group on the client listener's route table.
import type { RequestHandler } from "express";
import type { Redis } from "ioredis";
import { requireAuth } from "../auth/authenticate.ts";
import { createUia } from "../auth/uia.ts";
import type { HomeserverConfig } from "../config/schema.ts";
import { jsonBody } from "../http/json-body.ts";
import { byRequesterOrAddress, createKeyedLimiter, createRateLimiter } from "../http/rate-limit.ts";
import { createEmailValidation, type EmailJobs } from "../auth/email-validation.ts";
import { registerThreepids, unbindAllThreepids, type IdentityServers } from "./threepid.ts";
import type { RouteTable } from "../http/route-table.ts";
import type { CacheRegistry } from "../lib/bounded-cache.ts";
import type { Signer } from "../rooms/events/build-local.ts";
import { leaveAllRooms } from "../rooms/leave-all.ts";
import { listDevices } from "../storage/accounts.ts";
import type { RoomServices } from "../services.ts";
import type { Database } from "../storage/database.ts";
import type { Notifier } from "../sync/notifier.ts";
import { registerAccountData } from "./account-data.ts";
import { registerNotifications } from "./notifications.ts";
import { registerPushRules } from "./push-rules.ts";
import { registerReceiptsAndTyping } from "./rooms/receipts-typing.ts";
import { registerDirectory } from "./directory.ts";
import { registerPublicRooms } from "./public-rooms.ts";
import { registerRoomSummary } from "./room-summary.ts";
import { registerHierarchy } from "./rooms/hierarchy.ts";
import { registerUpgrade } from "./rooms/upgrade.ts";
import { registerAdminRegistrationTokens } from "./admin-registration-tokens.ts";
import { registerRegistrationTokenValidity } from "./registration-token-validity.ts";
import { registerCreateRoom } from "./rooms/create-room.ts";
import { registerMembership } from "./rooms/membership.ts";
import { registerRoomReads } from "./rooms/read.ts";
import { registerContext } from "./rooms/context.ts";
import { registerRelations } from "./rooms/relations.ts";
import { registerReports } from "./rooms/report.ts";
import { registerTimestampToEvent } from "./rooms/timestamp-to-event.ts";
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
import { registerOpenId } from "./openid.ts";
import { registerLoginToken } from "./login-token.ts";
import { registerProfile } from "./profile.ts";
import type { RemoteLookups } from "./remote-lookups.ts";
import type { RemoteMembershipPort } from "./remote-membership.ts";
import { registerUserDirectory } from "./user-directory.ts";
import { registerPresence } from "./presence.ts";
import { registerKeys } from "./keys.ts";
import { registerCrossSigning } from "./cross-signing.ts";
import { registerToDevice } from "./to-device.ts";
import { registerKeyBackup } from "./key-backup.ts";
import { registerDehydratedDevices } from "./dehydrated-devices.ts";
import { registerMedia } from "./media.ts";
import type { MediaRepository } from "../media/media-repository.ts";
import type { SearchService } from "../search/search-service.ts";
import { registerSearch } from "./search.ts";
import { registerVoip } from "./voip.ts";
import { registerAdminUsers } from "./admin-users.ts";
import { registerMutualRooms } from "./mutual-rooms.ts";
import { registerPeeking } from "./rooms/peek.ts";
import { registerMsisdn } from "./msisdn.ts";
import { registerThirdPartyLookups } from "./thirdparty.ts";

export interface ClientApiDeps {
  config: HomeserverConfig;
  db: Database;
  redis: Redis;
  signer: Signer;
  notifier: Notifier;
  services: RoomServices;
  /** Profiles and aliases of other servers, asked over federation. */
  remote?: RemoteLookups;
  /** Memberships in rooms on other servers, and invites of their users. */
  remoteMembership?: RemoteMembershipPort;
  /** Older history of a room from other servers. */
  remoteHistory?: { backfill(roomId: string, limit: number): Promise<number> };
  caches: CacheRegistry;
  /** The content repository (server/media/services.ts). */
  media: { repository: MediaRepository; requestPreview(url: string, userId: string): Promise<void> };
  /** POST /search (server/search/search-service.ts). */
  search: SearchService;
  /** The email worker's queue (workers/email/queue.ts); with config.email, e-mail identifiers are served. */
  emailJobs?: EmailJobs;
  /** The trusted identity servers, for /account/3pid/bind and /unbind. */
  identity?: IdentityServers;
}

export function registerClientApi(table: RouteTable, body: RequestHandler, deps: ClientApiDeps): void {
  const { config, db, redis } = deps;
  const policy = { refreshableAccessTokenLifetimeMs: config.auth.refreshable_access_token_lifetime_ms };
  const auth = requireAuth(db, deps.caches.create("device_last_seen", config.caches.device_last_seen));
  const limit = (name: keyof HomeserverConfig["rate_limits"]) => createRateLimiter(redis, name, config.rate_limits[name], byRequesterOrAddress);
  const uia = createUia(redis);
  const limitMail = createKeyedLimiter(redis, "threepid_validation", config.rate_limits.threepid_validation);
  const validation =
    config.email && deps.emailJobs ? createEmailValidation({ db, email: config.email, jobs: deps.emailJobs, limitMail: (address) => limitMail(`email:${address}`) }) : undefined;
  const withEmail = validation ? { validation } : {};

  registerLogin(table, body, { db, serverName: config.server_name, policy, rateLimit: limit("login") });
  registerRegistration(table, body, { db, uia, serverName: config.server_name, policy, registration: config.registration, rateLimit: limit("registration"), ...withEmail });
  const { e2ee } = deps.services;
  // Logged-out devices lose their open streams in every process, and their keys leave the user's device list.
  const onDevicesRemoved = async (userId: string, deviceIds: string[]) => {
    if (deviceIds.length === 0) return;
    void deps.notifier.revoke(userId, deviceIds);
    await e2ee.deviceLists.markChanged({ userId, deviceIds, deleted: true });
  };
  registerAccount(table, body, { db, auth, onDevicesRemoved });
  registerAdminRegistration(table, body, { db, redis, serverName: config.server_name, sharedSecret: config.registration_shared_secret, policy });
  registerRefresh(table, body, { db, policy });
  // What endpoints that re-authenticate with m.login.password share.
  const reauth = { db, uia, serverName: config.server_name, auth, rateLimit: limit("login"), onDevicesRemoved };
  registerDevices(table, body, {
    ...reauth,
    // The display name is part of what /keys/query shows.
    onDeviceRenamed: async (userId, deviceId) => {
      await e2ee.deviceLists.markChanged({ userId, deviceIds: [deviceId] });
    },
  });
  const { rooms, streams, markers, syncEngine } = deps.services;
  registerPassword(table, body, {
    ...reauth,
    ...withEmail,
    unbindAll: (userId, idServer) => unbindAllThreepids(db, deps.identity, userId, idServer),
    onDeactivated: async (userId) => {
      await leaveAllRooms(db, rooms, userId);
    },
  });
  registerCapabilities(table, { auth, threepidChanges: validation !== undefined });
  registerThreepids(table, body, { ...reauth, registrationEnabled: config.registration.enabled, ...withEmail, ...(deps.identity ? { identity: deps.identity } : {}) });
  registerOpenId(table, body, { db, serverName: config.server_name, auth, lifetimeMs: config.auth.openid_token_lifetime_ms });
  registerLoginToken(table, body, { db, uia, serverName: config.server_name, auth, rateLimit: limit("login") });

  registerCreateRoom(table, body, { db, signer: deps.signer, rooms, auth, ...(deps.remoteMembership ? { remote: deps.remoteMembership } : {}) });
  registerMembership(table, body, {
    db,
    rooms,
    serverName: config.server_name,
    auth,
    joinRateLimit: limit("joins"),
    ...(deps.remoteMembership ? { remote: deps.remoteMembership } : {}),
    ...(deps.remote ? { lookups: deps.remote } : {}),
  });
  registerSend(table, body, { db, rooms, auth, messageRateLimit: limit("message") });
  registerRoomReads(table, { db, rooms, auth, ...(deps.remoteHistory ? { history: deps.remoteHistory } : {}) });
  registerContext(table, { db, rooms, auth });
  registerSearch(table, body, { search: deps.search, auth });
  registerRelations(table, { db, rooms, auth });
  registerTimestampToEvent(table, { db, auth });
  registerReports(table, body, { db, serverName: config.server_name, auth });
  registerPeeking(table, { db, rooms, notifier: deps.notifier, auth });
  registerMutualRooms(table, { db, auth, batchSize: config.limits.mutual_rooms_batch });
  registerAdminUsers(table, body, {
    db,
    serverName: config.server_name,
    auth,
    onLocked: async (userId) => {
      const deviceIds = (await listDevices(db, userId)).map((d) => d.deviceId);
      if (deviceIds.length > 0) await deps.notifier.revoke(userId, deviceIds);
    },
  });
  registerVoip(table, { voip: config.voip, auth });
  registerMsisdn(table, body);
  registerThirdPartyLookups(table, { auth });
  registerDirectory(table, body, { db, serverName: config.server_name, auth, ...(deps.remote ? { remote: deps.remote } : {}) });
  registerPublicRooms(table, body, { db, serverName: config.server_name, auth, ...(deps.remote ? { remote: deps.remote } : {}) });
  registerRoomSummary(table, { db, auth });
  registerHierarchy(table, { db, redis, auth });
  registerUpgrade(table, body, { db, signer: deps.signer, rooms, auth });
  registerAdminRegistrationTokens(table, body, { db, auth });
  registerRegistrationTokenValidity(table, { db, registration: config.registration, rateLimit: limit("registration") });
  registerReceiptsAndTyping(table, body, { markers, auth });
  registerAccountData(table, body, { db, streams, auth });
  registerPushRules(table, body, { db, streams, auth });
  registerNotifications(table, { db, rooms, auth });
  registerSync(table, body, { db, engine: syncEngine, auth });
  registerProfile(table, body, { db, rooms, serverName: config.server_name, auth, rateLimit: limit("message"), ...(deps.remote ? { remote: deps.remote } : {}) });
  registerUserDirectory(table, body, { db, auth });
  registerPresence(table, body, { db, presence: deps.services.presence, auth });

  const bulkBody = jsonBody({ maxBytes: config.limits.max_bulk_json_body_bytes });
  registerKeys(table, { keys: e2ee.keys, deviceLists: e2ee.deviceLists, auth, bulkBody });
  registerCrossSigning(table, body, { ...reauth, crossSigning: e2ee.crossSigning, bulkBody });
  registerKeyBackup(table, body, { keyBackup: e2ee.keyBackup, auth, bulkBody });
  registerDehydratedDevices(table, body, { dehydratedDevices: e2ee.dehydratedDevices, auth, bulkBody });
  registerToDevice(table, { toDevice: e2ee.toDevice, auth, rateLimit: limit("to_device"), bulkBody });
  registerMedia(table, {
    db,
    config,
    repository: deps.media.repository,
    auth,
    uploadRateLimit: createRateLimiter(redis, "media_upload", config.media.upload_rate_limit, byRequesterOrAddress),
    requestPreview: deps.media.requestPreview,
  });
}
