// Older history from other servers (spec "Backfilling and retrieving missing
// events"): when a client pages back past the oldest event we hold, ask a
// server in the room for the events before our backward extremities. Each
// one goes through the usual checks (oldest first, so each finds its
// parents), is stored with a falling negative stream position, and never
// shows up in /sync as new.
import type { Logger } from "../../server/observability/logger.ts";
import type { RoomEvent } from "../../server/protocol/events.ts";
import { isJsonObject } from "../../server/protocol/json.ts";
import type { RoomService } from "../../server/rooms/room-service.ts";
import { joinedServers } from "../../server/storage/dag.ts";
import type { Database } from "../../server/storage/database.ts";
import { getBackwardExtremities } from "../../server/storage/events.ts";
import type { FederationClient } from "../transport/federation-client.ts";
import { PduRefused, type PduReceiver } from "./receive-pdu.ts";

/** Backward extremities named in one request; Synapse sends a handful too. */
const MAX_FROM = 5;
const MAX_LIMIT = 100;

export interface BackfillDeps {
  db: Database;
  rooms: Pick<RoomService, "roomVersion">;
  client: Pick<FederationClient, "request">;
  pdus: Pick<PduReceiver, "receive" | "verified">;
  serverName: string;
  log: Logger;
}

export function createBackfill(deps: BackfillDeps) {
  const { db, log } = deps;

  /** Fetches up to `limit` events before what we hold of `roomId`; returns how many were stored. */
  async function backfill(roomId: string, limit: number): Promise<number> {
    const from = (await getBackwardExtremities(db, roomId)).slice(0, MAX_FROM);
    if (from.length === 0) return 0;
    const version = await deps.rooms.roomVersion(db, roomId);
    for (const server of await joinedServers(db, roomId)) {
      if (server === deps.serverName) continue;
      try {
        const answer = await deps.client.request(server, "GET", `/_matrix/federation/v1/backfill/${encodeURIComponent(roomId)}`, {
          query: { v: from, limit: Math.min(limit, MAX_LIMIT) },
        });
        const pdus = isJsonObject(answer) && Array.isArray(answer.pdus) ? answer.pdus : [];
        const events: RoomEvent[] = [];
        for (const pdu of pdus) {
          try {
            events.push(await deps.pdus.verified(pdu, version, roomId));
          } catch (err) {
            if (!(err instanceof PduRefused)) throw err;
            log.info({ roomId, server, reason: err.message }, "dropping a backfilled event that failed verification");
          }
        }
        let stored = 0;
        for (const event of events.sort((a, b) => a.depth - b.depth)) {
          try {
            await deps.pdus.receive(server, version, roomId, event.pdu, { fillGaps: false, backfilled: true });
            stored += 1;
          } catch (err) {
            if (!(err instanceof PduRefused)) throw err;
            log.info({ roomId, server, eventId: event.eventId, reason: err.message }, "backfilled event refused");
          }
        }
        if (stored > 0) return stored;
      } catch (err) {
        log.info({ roomId, server, err: (err as Error).message }, "backfill from server failed");
      }
    }
    return 0;
  }

  return { backfill };
}

export type Backfill = ReturnType<typeof createBackfill>;
