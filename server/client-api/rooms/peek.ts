// GET /_matrix/client/v3/rooms/{roomId}/initialSync  https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3roomsroomidinitialsync
// GET /_matrix/client/v3/events                      https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3events
//
// The spec's peeking API: a snapshot of one room, then its new events, for a
// member or anyone when the room is world_readable (roomAccess decides, the
// same rule /messages and /state follow). Without `room_id`, /events streams
// the user's joined rooms, as the older endpoint of the same path did.
import type { RequestHandler } from "express";
import { requester } from "../../auth/authenticate.ts";
import type { RouteTable } from "../../http/route-table.ts";
import type { JsonObject } from "../../protocol/json.ts";
import { beyondAccess } from "../../rooms/readable-events.ts";
import { renderEvents } from "../../rooms/render.ts";
import { currentStateEvents, roomAccess, stateEventsAfter } from "../../rooms/room-state.ts";
import type { RoomService } from "../../rooms/room-service.ts";
import { parseSyncToken, syncToken, topologicalToken } from "../../rooms/tokens.ts";
import { filterVisibleEvents } from "../../rooms/visibility.ts";
import { roomAccountData } from "../../storage/account-data.ts";
import type { Database } from "../../storage/database.ts";
import { currentStreamPosition, roomEventsAfter, roomEventsTopological, type StoredEvent } from "../../storage/events.ts";
import { isRoomPublished } from "../../storage/public-rooms.ts";
import { membershipOf, membershipsOfUser } from "../../storage/state.ts";
import type { Notifier } from "../../sync/notifier.ts";
import { queryInt, queryString, roomIdParam } from "./params.ts";
import { MatrixError } from "../../errors/matrix-error.ts";

export interface PeekDeps {
  db: Database;
  rooms: RoomService;
  notifier: Notifier;
  auth: RequestHandler;
}

/** Synapse's cap on how long /events waits. */
const MAX_TIMEOUT_MS = 60_000;
const MAX_EVENTS = 100;
const MAX_ROUNDS = 10;

export function registerPeeking(table: RouteTable, deps: PeekDeps): void {
  const { db, rooms, auth } = deps;

  for (const prefix of ["/_matrix/client/v3", "/_matrix/client/r0"]) {
    table.add("GET", `${prefix}/rooms/:roomId/initialSync`, auth, async (req, res) => {
      const me = requester(res.locals);
      const viewer = { userId: me.userId, deviceId: me.deviceId };
      const roomId = roomIdParam(req);
      const limit = queryInt(req, "limit", 10, MAX_EVENTS);
      const access = await roomAccess(db, roomId, me.userId);
      const version = await rooms.roomVersion(db, roomId);

      const state = access.kind === "former" ? await stateEventsAfter(db, access.membershipEvent) : await currentStateEvents(db, roomId);
      const newest = access.kind === "former" ? { depth: access.membershipEvent.depth, stream: access.membershipEvent.streamOrdering! + 1 } : { depth: Number.MAX_SAFE_INTEGER, stream: Number.MAX_SAFE_INTEGER };
      const page: StoredEvent[] = [];
      let cursor = newest;
      // A bounded look back: history the viewer may not see ends the page early rather than being read to its start.
      for (let round = 0; round < MAX_ROUNDS; round += 1) {
        const batch = await roomEventsTopological(db, roomId, cursor, "b", Math.max(limit * 2, 20));
        if (batch.length === 0) break;
        cursor = { depth: batch[batch.length - 1]!.depth, stream: batch[batch.length - 1]!.streamOrdering! };
        const visible = await filterVisibleEvents(db, me.userId, batch.filter((e) => !beyondAccess(e, access)), access.kind === "joined");
        page.push(...visible.slice(0, limit - page.length));
        if (page.length >= limit) break;
      }
      const oldest = page[page.length - 1];
      const chronological = page.reverse();
      const end = access.kind === "former" ? access.membershipEvent : chronological[chronological.length - 1];

      const body: JsonObject = {
        room_id: roomId,
        messages: {
          chunk: await renderEvents(db, chronological, version, viewer, { includeRoomId: true }),
          start: oldest ? topologicalToken({ depth: oldest.depth, stream: oldest.streamOrdering! }) : topologicalToken({ depth: 0, stream: 0 }),
          end: end ? topologicalToken({ depth: end.depth, stream: end.streamOrdering! + 1 }) : topologicalToken({ depth: 0, stream: 0 }),
        },
        state: await renderEvents(db, state, version, viewer, { includeRoomId: true }),
        presence: [],
        account_data: (await roomAccountData(db, me.userId, roomId)).map((a) => ({ type: a.type, content: a.content })) as JsonObject[],
      };
      const membership = (await membershipOf(db, roomId, me.userId))?.membership;
      if (membership) body.membership = membership;
      const isPublic = await isRoomPublished(db, roomId);
      if (isPublic !== undefined) body.visibility = isPublic ? "public" : "private";
      res.json(body);
    });

    table.add("GET", `${prefix}/events`, auth, async (req, res) => {
      const me = requester(res.locals);
      const viewer = { userId: me.userId, deviceId: me.deviceId };
      const roomId = queryString(req, "room_id");
      const timeout = queryInt(req, "timeout", 30_000, MAX_TIMEOUT_MS);
      const fromToken = queryString(req, "from");
      let from: number;
      try {
        from = fromToken === undefined ? await currentStreamPosition(db) : parseSyncToken(fromToken);
      } catch (err) {
        if (err instanceof MatrixError) throw new MatrixError(400, "M_INVALID_PARAM", "Bad pagination from parameter");
        throw err;
      }
      // Checked once: a peeker who loses access later sees nothing new through visibility filtering.
      const roomIds = roomId !== undefined ? (await roomAccess(db, roomId, me.userId), [roomId]) : (await membershipsOfUser(db, me.userId)).filter((m) => m.membership === "join").map((m) => m.roomId);
      const watched = new Set(roomIds);
      const abort = new AbortController();
      res.on("close", () => abort.abort());
      const deadline = Date.now() + timeout;
      let events: StoredEvent[];
      for (;;) {
        events = await roomEventsAfter(db, roomIds, from, MAX_EVENTS);
        const left = deadline - Date.now();
        if (events.length > 0 || left <= 0 || abort.signal.aborted) break;
        await deps.notifier.wait(me.userId, watched, from, left, abort.signal);
      }
      const last = events[events.length - 1]?.streamOrdering ?? from;
      const chunk: JsonObject[] = [];
      for (const id of roomIds) {
        const ofRoom = events.filter((e) => e.roomId === id);
        if (ofRoom.length === 0) continue;
        const visible = await filterVisibleEvents(db, me.userId, ofRoom, (await membershipOf(db, id, me.userId))?.membership === "join");
        chunk.push(...(await renderEvents(db, visible, await rooms.roomVersion(db, id), viewer, { includeRoomId: true })));
      }
      const order = new Map(events.map((e, i) => [e.eventId, i]));
      chunk.sort((a, b) => order.get(String(a.event_id))! - order.get(String(b.event_id))!);
      res.json({ start: syncToken(from), end: syncToken(last), chunk });
    });
  }
}
