// GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}                       https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv1roomsroomidrelationseventid
// GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}/{relType}             https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv1roomsroomidrelationseventidreltype
// GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}/{relType}/{eventType} https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv1roomsroomidrelationseventidreltypeeventtype
// GET /_matrix/client/v1/rooms/{roomId}/threads                                   https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv1roomsroomidthreads
import type { Request, RequestHandler } from "express";
import { requester } from "../../auth/authenticate.ts";
import { invalidParam, notFound } from "../../errors/matrix-error.ts";
import type { RouteTable } from "../../http/route-table.ts";
import type { JsonObject } from "../../protocol/json.ts";
import { readableEvent, readableEvents } from "../../rooms/readable-events.ts";
import { renderEvents } from "../../rooms/render.ts";
import { roomAccess } from "../../rooms/room-state.ts";
import type { RoomService } from "../../rooms/room-service.ts";
import { parsePaginationToken, topologicalToken, type TopologicalToken } from "../../rooms/tokens.ts";
import type { Database } from "../../storage/database.ts";
import { getEventsByIds, getEventsByNids, roomPositionAtStream, type StoredEvent } from "../../storage/events.ts";
import { childEventNids, threadsPage, threadsRepliedBy, type ThreadPosition } from "../../storage/relations.ts";
import { queryInt, queryString, roomIdParam } from "./params.ts";

export interface RelationsDeps {
  db: Database;
  rooms: RoomService;
  auth: RequestHandler;
}

/** Synapse's defaults: 5 per page; pages capped like /messages. */
const DEFAULT_LIMIT = 5;
const MAX_RELATIONS_PAGE = 1000;
const MAX_THREADS_PAGE = 100;
/** Levels followed with recurse=true (the spec asks for at least 3, as Synapse does). */
const RECURSION_DEPTH = 3;
/** Batches read per /threads request before answering with what was found and a next_batch. */
const MAX_THREAD_BATCHES = 5;

function booleanQuery(req: Request, name: string): boolean | undefined {
  const raw = queryString(req, name);
  if (raw === undefined) return undefined;
  if (raw !== "true" && raw !== "false") throw invalidParam(`${name} must be true or false`);
  return raw === "true";
}

/** /threads tokens: the latest-reply position of the last thread returned. */
function threadsToken(p: ThreadPosition): string {
  return `th${p.depth}_${p.nid}`;
}

function parseThreadsToken(token: string): ThreadPosition {
  const m = /^th(\d+)_(\d+)$/.exec(token);
  if (!m) throw invalidParam("Unknown pagination token");
  return { depth: Number(m[1]), nid: Number(m[2]) };
}

export function registerRelations(table: RouteTable, deps: RelationsDeps): void {
  const { db, rooms, auth } = deps;

  /** /relations accepts its own tokens and those of /messages and /sync (spec). */
  async function resolveToken(roomId: string, token: string | undefined, edge: "start" | "end"): Promise<TopologicalToken | undefined> {
    if (token === undefined) return undefined;
    const parsed = parsePaginationToken(token);
    if ("depth" in parsed) return parsed;
    const at = await roomPositionAtStream(db, roomId, parsed.stream);
    return at ? { depth: at.depth, stream: at.stream + (edge === "start" ? 1 : 0) } : { depth: 0, stream: 0 };
  }

  const relations: RequestHandler = async (req, res) => {
    const me = requester(res.locals);
    const viewer = { userId: me.userId, deviceId: me.deviceId };
    const roomId = roomIdParam(req);
    const parentId = String(req.params.eventId);
    const relType = req.params.relType === undefined ? undefined : String(req.params.relType);
    const eventType = req.params.eventType === undefined ? undefined : String(req.params.eventType);
    const dir = queryString(req, "dir") ?? "b";
    if (dir !== "b" && dir !== "f") throw invalidParam("dir must be b or f");
    const limit = queryInt(req, "limit", DEFAULT_LIMIT, MAX_RELATIONS_PAGE);
    const recurse = booleanQuery(req, "recurse") ?? booleanQuery(req, "org.matrix.msc3981.recurse");
    const fromText = queryString(req, "from");
    const from = await resolveToken(roomId, fromText, dir === "b" ? "start" : "end");
    const to = await resolveToken(roomId, queryString(req, "to"), dir === "b" ? "end" : "start");

    const access = await roomAccess(db, roomId, me.userId);
    if (!(await readableEvent(db, me.userId, access, roomId, parentId))) throw notFound("Event not found");

    // One row more than the page tells whether another page follows.
    const nids = await childEventNids(db, { roomId, parentId, relType, eventType, levels: recurse ? RECURSION_DEPTH : 1, dir, from, to, limit: limit + 1 });
    const stored = await getEventsByNids(db, nids.slice(0, limit));
    const page = nids.slice(0, limit).map((n) => stored.get(n)).filter((e): e is StoredEvent => e !== undefined);
    const visible = await readableEvents(db, me.userId, access, page);
    const version = await rooms.roomVersion(db, roomId);
    const body: JsonObject = { chunk: await renderEvents(db, visible, version, viewer, { includeRoomId: true }) };
    const last = page[page.length - 1];
    if (nids.length > limit && last) body.next_batch = topologicalToken({ depth: last.depth, stream: last.streamOrdering! });
    if (fromText !== undefined) body.prev_batch = fromText;
    // Mandatory whenever the client sent recurse: how many levels were followed.
    if (recurse !== undefined) body.recursion_depth = recurse ? RECURSION_DEPTH : 1;
    res.json(body);
  };

  table.add("GET", "/_matrix/client/v1/rooms/:roomId/relations/:eventId/:relType/:eventType", auth, relations);
  table.add("GET", "/_matrix/client/v1/rooms/:roomId/relations/:eventId/:relType", auth, relations);
  table.add("GET", "/_matrix/client/v1/rooms/:roomId/relations/:eventId", auth, relations);

  table.add("GET", "/_matrix/client/v1/rooms/:roomId/threads", auth, async (req, res) => {
    const me = requester(res.locals);
    const viewer = { userId: me.userId, deviceId: me.deviceId };
    const roomId = roomIdParam(req);
    const include = queryString(req, "include") ?? "all";
    if (include !== "all" && include !== "participated") throw invalidParam("include must be all or participated");
    if (queryString(req, "limit") === "0") throw invalidParam("limit must be greater than zero");
    const limit = queryInt(req, "limit", DEFAULT_LIMIT, MAX_THREADS_PAGE);
    const fromText = queryString(req, "from");
    let cursor = fromText === undefined ? undefined : parseThreadsToken(fromText);
    const access = await roomAccess(db, roomId, me.userId);

    // Roots are filtered after reading (participation, visibility), so read in
    // batches until the page is full; a bounded number of batches per request.
    const collected: StoredEvent[] = [];
    let exhausted = false;
    for (let batch = 0; batch < MAX_THREAD_BATCHES && collected.length < limit; batch++) {
      const size = Math.max(limit * 2, 20);
      const threads = await threadsPage(db, roomId, cursor, size);
      if (threads.length < size) exhausted = true;
      if (threads.length === 0) break;
      const roots = await getEventsByIds(db, threads.map((t) => t.threadId));
      const replied = include === "participated" ? await threadsRepliedBy(db, threads.map((t) => t.threadId), me.userId) : undefined;
      const candidates = threads
        .map((t) => roots.get(t.threadId))
        .filter((e): e is StoredEvent => e !== undefined && e.roomId === roomId && (!replied || e.sender === me.userId || replied.has(e.eventId)));
      const visible = new Set((await readableEvents(db, me.userId, access, candidates)).map((e) => e.eventId));
      for (const thread of threads) {
        cursor = thread.latest;
        const root = roots.get(thread.threadId);
        if (root && visible.has(root.eventId)) collected.push(root);
        if (collected.length >= limit) break;
      }
      if (collected.length >= limit && threads[threads.length - 1]!.latest !== cursor) exhausted = false;
      if (exhausted) break;
    }

    const version = await rooms.roomVersion(db, roomId);
    const body: JsonObject = { chunk: await renderEvents(db, collected, version, viewer, { includeRoomId: true }) };
    if (!exhausted && cursor) body.next_batch = threadsToken(cursor);
    res.json(body);
  });
}
