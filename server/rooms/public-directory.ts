// The published room directory (spec "Listing rooms"), one implementation for
// the client API (GET/POST /publicRooms) and federation
// (/_matrix/federation/v1/publicRooms): request parsing, pages and tokens.
import { badJson, invalidParam } from "../errors/matrix-error.ts";
import { isJsonObject } from "../protocol/json.ts";
import type { Queryable } from "../storage/database.ts";
import { publishedRoomsPage, type DirectoryQuery } from "../storage/public-rooms.ts";
import { publishedRoomChunk } from "./room-summary.ts";

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 500;

export type DirectoryFilter = Omit<DirectoryQuery, "limit" | "offset">;

export interface DirectoryRequest {
  filter: DirectoryFilter;
  limit: number;
  offset: number;
  /** A network of an application service: none are bridged here, so its list is empty. */
  thirdPartyInstance: boolean;
}

/**
 * `since` tokens are offsets into the ordered list ("o<offset>"). Rooms that
 * gain or lose members between pages can shift by a place, so a client may see
 * a room twice or miss one; the directory is a browsing aid and Synapse's
 * keyset tokens have the same exposure to reordering.
 */
export function parseSince(since: string | undefined): number {
  if (since === undefined || since === "") return 0;
  const match = /^o(\d{1,9})$/.exec(since);
  if (!match) throw invalidParam("Invalid since token");
  return Number(match[1]);
}

/** 0 or absent means "server default", as in Synapse. */
export function normaliseLimit(limit: number | undefined): number {
  if (limit === undefined || limit === 0) return DEFAULT_LIMIT;
  return Math.min(limit, MAX_LIMIT);
}

/** A limit given as query text (GET), validated. */
export function limitFromQuery(raw: string | undefined): number {
  if (raw !== undefined && !/^\d{1,9}$/.test(raw)) throw invalidParam("limit must be a non-negative integer");
  return normaliseLimit(raw === undefined ? undefined : Number(raw));
}

/** The body of POST /publicRooms (client or federation), validated. */
export function directoryRequestFromBody(params: Record<string, unknown>): DirectoryRequest {
  const rawLimit = params.limit;
  if (rawLimit !== undefined && (typeof rawLimit !== "number" || !Number.isSafeInteger(rawLimit) || rawLimit < 0)) {
    throw badJson("limit must be a non-negative integer");
  }
  const filter: DirectoryFilter = {};
  if (params.filter !== undefined && params.filter !== null) {
    if (!isJsonObject(params.filter)) throw badJson("filter must be an object");
    const term = params.filter.generic_search_term;
    if (term !== undefined && term !== null && typeof term !== "string") throw badJson("generic_search_term must be a string");
    if (typeof term === "string" && term.trim() !== "") filter.searchTerm = term.trim();
    const types = params.filter.room_types;
    if (types !== undefined && types !== null) {
      if (!Array.isArray(types) || !types.every((t) => t === null || typeof t === "string")) {
        throw badJson("filter.room_types must be an array of strings and nulls");
      }
      filter.roomTypes = types as Array<string | null>;
    }
  }
  const since = params.since;
  if (since !== undefined && since !== null && typeof since !== "string") throw badJson("since must be a string");
  return {
    filter,
    limit: normaliseLimit(rawLimit as number | undefined),
    offset: parseSince(since ?? undefined),
    thirdPartyInstance: params.third_party_instance_id !== undefined && params.third_party_instance_id !== null,
  };
}

/** One page of the directory, with the spec's tokens and count. */
export async function directoryPage(q: Queryable, request: DirectoryRequest): Promise<Record<string, unknown>> {
  if (request.thirdPartyInstance) return { chunk: [] };
  const { limit, offset } = request;
  const { rooms, total } = await publishedRoomsPage(q, { ...request.filter, limit: limit + 1, offset });
  const response: Record<string, unknown> = { chunk: rooms.slice(0, limit).map(publishedRoomChunk) };
  if (rooms.length > limit) response.next_batch = `o${offset + limit}`;
  if (offset > 0) response.prev_batch = `o${Math.max(0, offset - limit)}`;
  if (rooms.length > 0) response.total_room_count_estimate = total;
  return response;
}
