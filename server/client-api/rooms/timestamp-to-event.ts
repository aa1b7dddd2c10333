// GET /_matrix/client/v1/rooms/{roomId}/timestamp_to_event https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv1roomsroomidtimestamp_to_event
//
// The event closest to a timestamp in one direction, among those the user may
// read (an invisible event is skipped rather than revealed). No federation
// fallback yet: only history this server holds is searched.
import type { RequestHandler } from "express";
import { requester } from "../../auth/authenticate.ts";
import { invalidParam, missingParam, notFound } from "../../errors/matrix-error.ts";
import type { RouteTable } from "../../http/route-table.ts";
import { readableEvents } from "../../rooms/readable-events.ts";
import { roomAccess } from "../../rooms/room-state.ts";
import type { Database } from "../../storage/database.ts";
import { getEventsByNids, type StoredEvent } from "../../storage/events.ts";
import { eventsNearTimestamp, type TimestampPosition } from "../../storage/timestamps.ts";
import { queryString, roomIdParam } from "./params.ts";

export interface TimestampDeps {
  db: Database;
  auth: RequestHandler;
}

const BATCH = 50;
/** Candidates examined before answering 404: bounds the work when history is hidden. */
const MAX_BATCHES = 10;

export function registerTimestampToEvent(table: RouteTable, deps: TimestampDeps): void {
  const { db, auth } = deps;
  table.add("GET", "/_matrix/client/v1/rooms/:roomId/timestamp_to_event", auth, async (req, res) => {
    const me = requester(res.locals);
    const roomId = roomIdParam(req);
    const tsText = queryString(req, "ts");
    if (tsText === undefined) throw missingParam("ts is required");
    if (!/^\d{1,16}$/.test(tsText)) throw invalidParam("ts must be a timestamp in milliseconds");
    const ts = Number(tsText);
    const dir = queryString(req, "dir");
    if (dir === undefined) throw missingParam("dir is required");
    if (dir !== "f" && dir !== "b") throw invalidParam("dir must be f or b");
    const access = await roomAccess(db, roomId, me.userId);

    let after: TimestampPosition = dir === "f" ? { ts, depth: -1, stream: -1 } : { ts, depth: Number.MAX_SAFE_INTEGER, stream: Number.MAX_SAFE_INTEGER };
    for (let batch = 0; batch < MAX_BATCHES; batch++) {
      const candidates = await eventsNearTimestamp(db, roomId, dir, after, BATCH);
      if (candidates.length === 0) break;
      const stored = await getEventsByNids(db, candidates.map((c) => c.nid));
      const ordered = candidates.map((c) => stored.get(c.nid)).filter((e): e is StoredEvent => e !== undefined);
      const [found] = await readableEvents(db, me.userId, access, ordered);
      if (found) {
        res.json({ event_id: found.eventId, origin_server_ts: found.originServerTs });
        return;
      }
      after = candidates[candidates.length - 1]!;
    }
    throw notFound(`Unable to find event from ${ts} in ${dir === "f" ? "forward" : "backward"} direction`);
  });
}
