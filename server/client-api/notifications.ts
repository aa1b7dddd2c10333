// GET /_matrix/client/v3/notifications   https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3notifications
//
// The events the user's push rules notified them about, newest first, from
// event_push_actions. Tokens are stream positions: `from` returns the
// notifications strictly before it, and `next_token` is the position of the
// last one returned, present only when more remain.
import type { RequestHandler } from "express";
import { requester } from "../auth/authenticate.ts";
import { invalidParam } from "../errors/matrix-error.ts";
import type { RouteTable } from "../http/route-table.ts";
import type { JsonObject } from "../protocol/json.ts";
import { renderEvents } from "../rooms/render.ts";
import type { RoomService } from "../rooms/room-service.ts";
import type { Database } from "../storage/database.ts";
import { getEventsByNids, type StoredEvent } from "../storage/events.ts";
import { notificationsPage } from "../storage/push-actions.ts";
import { queryInt, queryString } from "./rooms/params.ts";

export interface NotificationsDeps {
  db: Database;
  rooms: RoomService;
  auth: RequestHandler;
}

/** Synapse's default page size. */
const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 1000;

function fromToken(raw: string | undefined): number {
  if (raw === undefined) return Number.MAX_SAFE_INTEGER;
  if (!/^\d{1,15}$/.test(raw)) throw invalidParam("from is not a token returned by /notifications");
  return Number(raw);
}

export function registerNotifications(table: RouteTable, deps: NotificationsDeps): void {
  const { db, rooms, auth } = deps;
  for (const prefix of ["/_matrix/client/v3", "/_matrix/client/r0"]) {
    table.add("GET", `${prefix}/notifications`, auth, async (req, res) => {
      const me = requester(res.locals);
      const viewer = { userId: me.userId, deviceId: me.deviceId };
      const before = fromToken(queryString(req, "from"));
      const limit = queryInt(req, "limit", DEFAULT_LIMIT, MAX_LIMIT);
      const onlyHighlight = queryString(req, "only") === "highlight";
      // One row more than asked tells whether a next page exists.
      const rows = await notificationsPage(db, me.userId, { before, limit: limit + 1, onlyHighlight });
      const page = rows.slice(0, limit);

      const events = await getEventsByNids(db, page.map((r) => r.eventNid));
      const byRoom = new Map<string, StoredEvent[]>();
      for (const event of events.values()) byRoom.set(event.roomId, [...(byRoom.get(event.roomId) ?? []), event]);
      const rendered = new Map<number, JsonObject>();
      for (const [roomId, roomEvents] of byRoom) {
        const version = await rooms.roomVersion(db, roomId);
        const out = await renderEvents(db, roomEvents, version, viewer, { includeRoomId: false });
        roomEvents.forEach((e, i) => rendered.set(e.nid, out[i]!));
      }

      const notifications = page.flatMap((r) => {
        const event = rendered.get(r.eventNid);
        if (event === undefined) return [];
        return [{ actions: r.actions, event, read: r.read, room_id: r.roomId, ts: events.get(r.eventNid)!.originServerTs }];
      });
      const last = page[page.length - 1];
      res.json({ notifications, ...(rows.length > limit && last ? { next_token: String(last.streamOrdering) } : {}) });
    });
  }
}
