// The room and sync services one server process runs, built once and shared
// by the HTTP client API and the WebSocket stream (the composition root,
// server/main.ts, builds them; nothing here is a singleton).
import type { Redis } from "ioredis";
import type { CacheRegistry } from "./lib/bounded-cache.ts";
import type { RoomVersion } from "./protocol/room-versions.ts";
import type { E2eeFederation } from "./e2ee/federation-ports.ts";
import { createE2eeServices, type E2eeServices } from "./e2ee/services.ts";
import type { Signer } from "./rooms/events/build-local.ts";
import { createRoomService, membershipChangesOf, type CommittedRoom, type RoomService } from "./rooms/room-service.ts";
import type { Database } from "./storage/database.ts";
import type { Notifier } from "./sync/notifier.ts";
import { createOutboundEdus, type OutboundEdus } from "./sync/outbound-edus.ts";
import { serverNameOf } from "./protocol/identifiers.ts";
import { createPresence, type Presence } from "./sync/presence.ts";
import { createReadMarkers, type ReadMarkers } from "./sync/read-markers.ts";
import { createStreamWriter, type StreamWriter } from "./sync/stream-writer.ts";
import { createSyncEngine, type SyncEngine } from "./sync/sync-engine.ts";
import { createTyping, type Typing } from "./sync/typing.ts";

export interface RoomServices {
  rooms: RoomService;
  streams: StreamWriter;
  typing: Typing;
  markers: ReadMarkers;
  syncEngine: SyncEngine;
  presence: Presence;
  /** Our users' typing, receipts and presence, for the federation sender. */
  outboundEdus: OutboundEdus;
  e2ee: E2eeServices;
}

export interface RoomServicesDeps {
  db: Database;
  redis: Redis;
  notifier: Notifier;
  signer: Signer;
  presenceEnabled?: boolean;
  caches: CacheRegistry;
  /** Maximum entries of the room-version cache (config caches.room_versions). */
  roomVersionsCacheSize: number;
  /** Undelivered to-device messages per device (limits.to_device_inbox_per_device). */
  toDeviceInboxLimit: number;
  /** End-to-end encryption's federation ports (bound once federation is built). */
  e2eeFederation?: E2eeFederation;
  /** Told of every commit after the wake-ups are sent (search indexing); must not block. */
  onCommitted?: (committed: CommittedRoom) => void;
}

export function createRoomServices(deps: RoomServicesDeps): RoomServices {
  const { db, redis, notifier, signer } = deps;
  // After COMMIT: wake syncs and sockets in every process; membership changes also wake the affected users.
  const versions = deps.caches.create<string, RoomVersion>("room_versions", deps.roomVersionsCacheSize);
  const rooms = createRoomService({
    db,
    signer,
    versions,
    afterCommit: async (committed) => {
      const userIds = membershipChangesOf(committed);
      await notifier.notify({ position: committed.position, roomId: committed.roomId, ...(userIds.length > 0 ? { userIds } : {}) });
      if (committed.appended.length > 0) deps.onCommitted?.(committed);
    },
  });
  const streams = createStreamWriter(db, notifier);
  const typing = createTyping(redis, streams);
  const outboundEdus = createOutboundEdus();
  const isLocalUser = (userId: string) => serverNameOf(userId) === signer.serverName;
  const markers = createReadMarkers({ db, streams, typing, outbound: outboundEdus, isLocalUser });
  const presence = createPresence({ db, streams, notifier, enabled: deps.presenceEnabled ?? true, outbound: outboundEdus, isLocalUser });
  const e2ee = createE2eeServices({
    db,
    streams,
    notifier,
    serverName: signer.serverName,
    toDeviceInboxLimit: deps.toDeviceInboxLimit,
    ...(deps.e2eeFederation ? { federation: deps.e2eeFederation } : {}),
  });
  const syncEngine = createSyncEngine({ db, rooms, notifier, typing, presence, e2ee: e2ee.sync });
  return { rooms, streams, typing, markers, syncEngine, presence, outboundEdus, e2ee };
}
