// POST /search for room events: the rooms to search, the backend's
// candidates page by page, and only what the user may read. A user searches
// the rooms they are joined to now (as Synapse: left rooms are not
// searched), and each candidate passes the history visibility at its own
// event (server/rooms/visibility.ts), so a member of a "joined" room does not
// find what was said before they joined. The backend never sees a user.
import { invalidParam } from "../errors/matrix-error.ts";
import type { JsonObject } from "../protocol/json.ts";
import { positionOf, walkReadable } from "../rooms/context-walk.ts";
import { renderEvents, type Viewer } from "../rooms/render.ts";
import { currentStateEvents, stateEventsAtGroup } from "../rooms/room-state.ts";
import type { RoomService } from "../rooms/room-service.ts";
import { pduOf } from "../rooms/stored-event.ts";
import { topologicalToken } from "../rooms/tokens.ts";
import { filterVisibleEvents } from "../rooms/visibility.ts";
import type { Database } from "../storage/database.ts";
import { getEventsByIds, type StoredEvent } from "../storage/events.ts";
import { membershipsOfUser } from "../storage/state.ts";
import { eventPassesFilter, parseRoomEventFilter, type RoomEventFilter } from "../sync/event-filter.ts";
import type { SearchBackend, SearchCursor, SearchHit, SearchKey } from "./backend.ts";

export interface RoomEventsCriteria {
  term: string;
  keys: SearchKey[];
  filter: RoomEventFilter & { rooms?: string[]; notRooms: string[] };
  order: "rank" | "recent";
  context?: { before: number; after: number; includeProfile: boolean };
  includeState: boolean;
  groupBy: Array<"room_id" | "sender">;
}

/** next_batch: the order it belongs to, where the page ended, and a group's room or sender. */
interface BatchToken {
  o: "rank" | "recent";
  c: SearchCursor;
  r?: string;
  u?: string;
}

const encodeToken = (token: BatchToken): string => Buffer.from(JSON.stringify(token)).toString("base64url");

export function decodeToken(raw: string): BatchToken {
  try {
    const token = JSON.parse(Buffer.from(raw, "base64url").toString("utf8")) as BatchToken;
    if ((token.o === "rank" || token.o === "recent") && typeof token.c?.stream === "number" && (token.c.rank === undefined || typeof token.c.rank === "number")) return token;
  } catch {
    // answered below
  }
  throw invalidParam("Invalid next_batch token");
}

/** Synapse's default page; the cap bounds one request's work. */
const DEFAULT_LIMIT = 10;
const MAX_LIMIT = 100;
/** Candidate pages read per request before answering with what was found (and a next_batch). */
const MAX_ROUNDS = 5;

export function parseSearchFilter(value: unknown): RoomEventsCriteria["filter"] {
  const base = parseRoomEventFilter(value as never);
  const obj = (value ?? {}) as Record<string, unknown>;
  const list = (name: string): string[] | undefined => {
    const v = obj[name];
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) throw invalidParam(`filter.${name} must be a list of strings`);
    return v as string[];
  };
  const rooms = list("rooms");
  return { ...base, ...(rooms ? { rooms } : {}), notRooms: list("not_rooms") ?? [] };
}

export function createSearchService(deps: { db: Database; backend: SearchBackend; rooms: Pick<RoomService, "roomVersion"> }) {
  const { db, backend } = deps;

  async function render(viewer: Viewer, events: readonly StoredEvent[]): Promise<JsonObject[]> {
    const out = new Map<string, JsonObject>();
    const byRoom = new Map<string, StoredEvent[]>();
    for (const e of events) byRoom.set(e.roomId, [...(byRoom.get(e.roomId) ?? []), e]);
    for (const [roomId, list] of byRoom) {
      const rendered = await renderEvents(db, list, await deps.rooms.roomVersion(db, roomId), viewer, { includeRoomId: true });
      list.forEach((e, i) => out.set(e.eventId, rendered[i]!));
    }
    return events.map((e) => out.get(e.eventId)!);
  }

  /** The senders' display names and avatars as of the result (its room state before it). */
  async function profilesAt(event: StoredEvent, senders: ReadonlySet<string>): Promise<JsonObject> {
    const members = await stateEventsAtGroup(db, event.stateGroupBefore, [...senders].map((s) => ["m.room.member", s] as const));
    const profiles: JsonObject = {};
    for (const m of members) {
      if (m.redactedBy !== null) continue;
      const content = (pduOf(m).content ?? {}) as JsonObject;
      const profile: JsonObject = {};
      if (typeof content.displayname === "string") profile.displayname = content.displayname;
      if (typeof content.avatar_url === "string" && content.avatar_url.startsWith("mxc://")) profile.avatar_url = content.avatar_url;
      profiles[m.stateKey!] = profile;
    }
    return profiles;
  }

  async function search(viewer: Viewer, criteria: RoomEventsCriteria, nextBatch: string | undefined): Promise<JsonObject> {
    const token = nextBatch !== undefined ? decodeToken(nextBatch) : undefined;
    if (token && token.o !== criteria.order) throw invalidParam("next_batch belongs to another order_by");
    const { filter } = criteria;
    const limit = Math.min(filter.limit ?? DEFAULT_LIMIT, MAX_LIMIT);

    // Rooms joined now, narrowed by the filter (and by a group's token).
    const joined = (await membershipsOfUser(db, viewer.userId)).filter((m) => m.membership === "join").map((m) => m.roomId);
    const roomIds = joined.filter((r) => (!filter.rooms || filter.rooms.includes(r)) && !filter.notRooms.includes(r) && (!token?.r || token.r === r));
    const senders = token?.u ? [token.u] : filter.senders;
    if (senders && token?.u && filter.senders && !filter.senders.includes(token.u)) senders.length = 0;

    const results: Array<{ hit: SearchHit; event: StoredEvent }> = [];
    let count = 0;
    let cursor = token?.c;
    let more = false;
    const pageSize = Math.min(Math.max(limit * 2, 20), 200);
    if (roomIds.length > 0 && (!senders || senders.length > 0) && limit > 0) {
      for (let round = 0; round < MAX_ROUNDS && results.length < limit; round++) {
        const page = await backend.search({
          term: criteria.term,
          roomIds,
          keys: criteria.keys,
          ...(senders ? { senders } : {}),
          notSenders: filter.notSenders,
          order: criteria.order,
          ...(cursor ? { after: cursor } : {}),
          limit: pageSize,
        });
        if (round === 0) count = page.count;
        const stored = await getEventsByIds(db, page.hits.map((h) => h.eventId));
        // The index may lag a redaction by a moment: PostgreSQL has the last word.
        const candidates = page.hits.map((h) => stored.get(h.eventId)).filter((e): e is StoredEvent => e !== undefined && e.redactedBy === null && eventPassesFilter(filter, e));
        const visible = new Set((await filterVisibleEvents(db, viewer.userId, candidates, true)).map((e) => e.eventId));
        more = page.hits.length === pageSize;
        for (const [i, hit] of page.hits.entries()) {
          cursor = criteria.order === "rank" ? { rank: hit.rank, stream: hit.streamOrdering } : { stream: hit.streamOrdering };
          if (visible.has(hit.eventId)) results.push({ hit, event: stored.get(hit.eventId)! });
          if (results.length >= limit) {
            more ||= i < page.hits.length - 1;
            break;
          }
        }
        if (!more) break;
      }
    }

    const events = results.map((r) => r.event);
    const rendered = await render(viewer, events);
    const body: JsonObject = {
      count,
      highlights: [...new Set(results.flatMap((r) => r.hit.highlights))],
      results: [],
    };
    const list: JsonObject[] = [];
    for (const [i, { hit, event }] of results.entries()) {
      const entry: JsonObject = { rank: hit.rank, result: rendered[i]! };
      if (criteria.context) {
        const noFilter = parseRoomEventFilter(undefined);
        const access = { kind: "joined" } as const;
        const before = await walkReadable(db, event.roomId, viewer.userId, access, positionOf(event), "b", criteria.context.before, noFilter);
        const after = await walkReadable(db, event.roomId, viewer.userId, access, positionOf(event), "f", criteria.context.after, noFilter);
        const context: JsonObject = {
          start: topologicalToken(before.reached),
          end: topologicalToken(after.reached),
          events_before: await render(viewer, before.events),
          events_after: await render(viewer, after.events),
        };
        if (criteria.context.includeProfile) {
          context.profile_info = await profilesAt(event, new Set([event, ...before.events, ...after.events].map((e) => e.sender)));
        }
        entry.context = context;
      }
      list.push(entry);
    }
    body.results = list;
    const next = more && cursor ? encodeToken({ o: criteria.order, c: cursor }) : undefined;
    if (next) body.next_batch = next;

    if (criteria.includeState) {
      const state: JsonObject = {};
      for (const roomId of new Set(events.map((e) => e.roomId))) state[roomId] = await render(viewer, await currentStateEvents(db, roomId));
      body.state = state;
    }
    if (criteria.groupBy.length > 0) {
      const groups: JsonObject = {};
      for (const key of criteria.groupBy) {
        const byValue: Record<string, JsonObject> = {};
        for (const { event } of results) {
          const value = key === "room_id" ? event.roomId : event.sender;
          const group = (byValue[value] ??= { order: Object.keys(byValue).length + 1, results: [] });
          (group.results as string[]).push(event.eventId);
        }
        if (next && cursor) {
          for (const [value, group] of Object.entries(byValue)) group.next_batch = encodeToken({ o: criteria.order, c: cursor, ...(key === "room_id" ? { r: value } : { u: value }) });
        }
        groups[key] = byValue;
      }
      body.groups = groups;
    }
    return { search_categories: { room_events: body } };
  }

  return { search };
}

export type SearchService = ReturnType<typeof createSearchService>;
