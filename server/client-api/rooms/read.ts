// GET /_matrix/client/v3/rooms/{roomId}/state                      https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3roomsroomidstate
// GET /_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey} https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3roomsroomidstateeventtypestatekey
// GET /_matrix/client/v3/rooms/{roomId}/members                    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3roomsroomidmembers
// GET /_matrix/client/v3/rooms/{roomId}/joined_members             https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3roomsroomidjoined_members
// GET /_matrix/client/v3/rooms/{roomId}/event/{eventId}            https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3roomsroomideventeventid
// GET /_matrix/client/v3/rooms/{roomId}/messages                   https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3roomsroomidmessages
import type { Request, RequestHandler } from "express";
import { requester } from "../../auth/authenticate.ts";
import { MatrixError, notFound } from "../../errors/matrix-error.ts";
import type { RouteTable } from "../../http/route-table.ts";
import type { JsonObject } from "../../protocol/json.ts";
import { renderEvents } from "../../rooms/render.ts";
import { currentStateEvents, roomAccess, stateEventsAfter, type RoomAccess } from "../../rooms/room-state.ts";
import type { RoomService } from "../../rooms/room-service.ts";
import { pduOf } from "../../rooms/stored-event.ts";
import { parsePaginationToken, topologicalToken, type TopologicalToken } from "../../rooms/tokens.ts";
import { beyondAccess, readableEvent } from "../../rooms/readable-events.ts";
import { filterVisibleEvents } from "../../rooms/visibility.ts";
import type { Database } from "../../storage/database.ts";
import { roomEventAtOrBefore, roomEventsTopological, roomPositionAtStream, type StoredEvent } from "../../storage/events.ts";
import type { StateKeyFilter } from "../../storage/state.ts";
import { eventPassesFilter, filterFromQuery } from "../../sync/event-filter.ts";
import { hiddenByIgnore, ignoredUsersOf } from "../../sync/ignored-users.ts";
import { queryInt, queryString, roomIdParam } from "./params.ts";

export interface ReadDeps {
  db: Database;
  rooms: RoomService;
  auth: RequestHandler;
  /** Older history from other servers, when paging back past what we hold (federation/ingest/backfill.ts). */
  history?: { backfill(roomId: string, limit: number): Promise<number> };
}

/** Hard cap on a /messages page, as Synapse caps it. */
const MAX_PAGE = 1000;

export function registerRoomReads(table: RouteTable, deps: ReadDeps): void {
  const { db, rooms, auth } = deps;

  /** The state the requester may see: current while joined, as of their departure otherwise. */
  async function visibleState(roomId: string, access: RoomAccess, keys?: StateKeyFilter): Promise<StoredEvent[]> {
    if (access.kind === "former") return stateEventsAfter(db, access.membershipEvent, keys);
    return currentStateEvents(db, roomId, keys);
  }

  /**
   * The state after the room's last event at or before a sync or pagination
   * token (`members?at=`), never later than a former member's departure.
   */
  async function stateAtToken(roomId: string, access: RoomAccess, token: string): Promise<StoredEvent[]> {
    let stream = parsePaginationToken(token).stream;
    if (access.kind === "former") stream = Math.min(stream, access.membershipEvent.streamOrdering!);
    const event = await roomEventAtOrBefore(db, roomId, stream);
    return event ? stateEventsAfter(db, event) : [];
  }

  const viewerOf = (req: Request, locals: Parameters<typeof requester>[0]) => {
    void req;
    const me = requester(locals);
    return { userId: me.userId, deviceId: me.deviceId };
  };

  for (const prefix of ["/_matrix/client/v3", "/_matrix/client/r0"]) {
    table.add("GET", `${prefix}/rooms/:roomId/state`, auth, async (req, res) => {
      const viewer = viewerOf(req, res.locals);
      const roomId = roomIdParam(req);
      const access = await roomAccess(db, roomId, viewer.userId);
      const version = await rooms.roomVersion(db, roomId);
      res.json(await renderEvents(db, await visibleState(roomId, access), version, viewer, { includeRoomId: true }));
    });

    const getStateEvent: RequestHandler = async (req, res) => {
      const viewer = viewerOf(req, res.locals);
      const roomId = roomIdParam(req);
      const type = String(req.params.eventType);
      const stateKey = req.params.stateKey === undefined ? "" : String(req.params.stateKey);
      const access = await roomAccess(db, roomId, viewer.userId);
      const [event] = await visibleState(roomId, access, [[type, stateKey]]);
      if (!event) throw notFound(`Event not found`);
      const version = await rooms.roomVersion(db, roomId);
      const [rendered] = await renderEvents(db, [event], version, viewer, { includeRoomId: true });
      res.json(queryString(req, "format") === "event" ? rendered : rendered!.content);
    };
    table.add("GET", `${prefix}/rooms/:roomId/state/:eventType/:stateKey`, auth, getStateEvent);
    table.add("GET", `${prefix}/rooms/:roomId/state/:eventType`, auth, getStateEvent);

    table.add("GET", `${prefix}/rooms/:roomId/members`, auth, async (req, res) => {
      const viewer = viewerOf(req, res.locals);
      const roomId = roomIdParam(req);
      const access = await roomAccess(db, roomId, viewer.userId);
      const membership = queryString(req, "membership");
      const notMembership = queryString(req, "not_membership");
      const at = queryString(req, "at");
      const state = at === undefined ? await visibleState(roomId, access) : await stateAtToken(roomId, access, at);
      const members = state.filter((e) => {
        if (e.type !== "m.room.member") return false;
        const value = (pduOf(e).content as JsonObject | undefined)?.membership;
        return (membership === undefined || value === membership) && (notMembership === undefined || value !== notMembership);
      });
      const version = await rooms.roomVersion(db, roomId);
      res.json({ chunk: await renderEvents(db, members, version, viewer, { includeRoomId: true }) });
    });

    table.add("GET", `${prefix}/rooms/:roomId/joined_members`, auth, async (req, res) => {
      const viewer = viewerOf(req, res.locals);
      const roomId = roomIdParam(req);
      const access = await roomAccess(db, roomId, viewer.userId);
      if (access.kind === "former") throw new MatrixError(403, "M_FORBIDDEN", "User not in room");
      const joined: Record<string, JsonObject> = {};
      for (const event of await visibleState(roomId, access)) {
        const content = (pduOf(event).content ?? {}) as JsonObject;
        if (event.type !== "m.room.member" || content.membership !== "join") continue;
        const entry: JsonObject = {};
        if (typeof content.displayname === "string") entry.display_name = content.displayname;
        if (typeof content.avatar_url === "string") entry.avatar_url = content.avatar_url;
        joined[event.stateKey!] = entry;
      }
      res.json({ joined });
    });

    table.add("GET", `${prefix}/rooms/:roomId/event/:eventId`, auth, async (req, res) => {
      const viewer = viewerOf(req, res.locals);
      const roomId = roomIdParam(req);
      const access = await roomAccess(db, roomId, viewer.userId);
      const event = await readableEvent(db, viewer.userId, access, roomId, String(req.params.eventId));
      if (!event) throw notFound("Event not found");
      const version = await rooms.roomVersion(db, roomId);
      const [rendered] = await renderEvents(db, [event], version, viewer, { includeRoomId: true });
      res.json(rendered);
    });

    table.add("GET", `${prefix}/rooms/:roomId/messages`, auth, async (req, res) => {
      const viewer = viewerOf(req, res.locals);
      const roomId = roomIdParam(req);
      const dir = queryString(req, "dir") ?? "b";
      if (dir !== "b" && dir !== "f") throw new MatrixError(400, "M_INVALID_PARAM", "dir must be b or f");
      const filter = filterFromQuery(queryString(req, "filter"));
      const limit = Math.min(filter.limit ?? queryInt(req, "limit", 10, MAX_PAGE), MAX_PAGE);
      const access = await roomAccess(db, roomId, viewer.userId);
      const version = await rooms.roomVersion(db, roomId);

      const resolve = async (token: string | undefined, edge: "start" | "end"): Promise<TopologicalToken | undefined> => {
        if (token === undefined) return undefined;
        const parsed = parsePaginationToken(token);
        if ("depth" in parsed) return parsed;
        const at = await roomPositionAtStream(db, roomId, parsed.stream);
        // Just after the last event at or before the sync position.
        return at ? { depth: at.depth, stream: at.stream + (edge === "start" ? 1 : 0) } : { depth: 0, stream: 0 };
      };
      let from = await resolve(queryString(req, "from"), dir === "b" ? "start" : "end");
      if (!from) from = dir === "b" ? { depth: Number.MAX_SAFE_INTEGER, stream: Number.MAX_SAFE_INTEGER } : { depth: -1, stream: -1 };
      if (access.kind === "former" && dir === "b") {
        const leave = access.membershipEvent;
        const ceiling = { depth: leave.depth, stream: leave.streamOrdering! + 1 };
        if (from.depth > ceiling.depth || (from.depth === ceiling.depth && from.stream > ceiling.stream)) from = ceiling;
      }
      const to = await resolve(queryString(req, "to"), dir === "b" ? "end" : "start");
      const ignored = await ignoredUsersOf(db, viewer.userId);

      // Pages are filtered after reading; read a little more to fill the page.
      const collected: StoredEvent[] = [];
      let cursor = from;
      let exhausted = false;
      let backfilled = false;
      while (collected.length < limit && !exhausted) {
        const batch = await roomEventsTopological(db, roomId, cursor, dir, Math.max(limit * 2, 20), to);
        if (batch.length === 0) {
          // The start of what we hold: other servers of the room may hold more (once per request).
          if (dir === "b" && !backfilled && deps.history && access.kind !== "former") {
            backfilled = true;
            if ((await deps.history.backfill(roomId, Math.max(limit, 20))) > 0) continue;
          }
          exhausted = true;
          break;
        }
        cursor = { depth: batch[batch.length - 1]!.depth, stream: batch[batch.length - 1]!.streamOrdering! };
        const allowed = batch.filter((e) => !beyondAccess(e, access) && eventPassesFilter(filter, e) && !hiddenByIgnore(ignored, e));
        const visible = await filterVisibleEvents(db, viewer.userId, allowed, access.kind === "joined");
        for (const e of visible) {
          if (collected.length < limit) collected.push(e);
          else break;
        }
        if (collected.length >= limit) cursor = { depth: collected[collected.length - 1]!.depth, stream: collected[collected.length - 1]!.streamOrdering! };
      }

      const body: JsonObject = {
        chunk: await renderEvents(db, collected, version, viewer, { includeRoomId: true }),
        start: queryString(req, "from") ?? topologicalToken(from),
      };
      if (!exhausted || collected.length === limit) body.end = topologicalToken(cursor);
      if (collected.length === 0) delete body.end;
      if (filter.lazyLoadMembers) {
        const senders = [...new Set(collected.map((e) => e.sender))];
        const members = await visibleState(roomId, access, senders.map((s) => ["m.room.member", s] as const));
        body.state = await renderEvents(db, members, version, viewer, { includeRoomId: true });
      }
      res.json(body);
    });
  }
}
