// POST /_matrix/client/v3/search https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3search
//
// Server-side search of room events (the only category the spec has). The
// request is checked here; server/search/search-service.ts does the search.
// Encrypted events are never indexed: clients search encrypted rooms
// themselves.
import type { RequestHandler } from "express";
import { requester } from "../auth/authenticate.ts";
import { badJson } from "../errors/matrix-error.ts";
import { requireJsonObject } from "../http/middleware.ts";
import type { RouteTable } from "../http/route-table.ts";
import { isJsonObject, type JsonValue } from "../protocol/json.ts";
import { SEARCH_KEYS, type SearchKey } from "../search/backend.ts";
import { parseSearchFilter, type RoomEventsCriteria, type SearchService } from "../search/search-service.ts";
import { queryString } from "./rooms/params.ts";

export interface SearchDeps {
  search: SearchService;
  auth: RequestHandler;
}

/** Synapse's defaults for event_context; the cap keeps a page of results bounded. */
const DEFAULT_CONTEXT = 5;
const MAX_CONTEXT = 20;

function contextLimit(value: JsonValue | undefined, name: string): number {
  if (value === undefined) return DEFAULT_CONTEXT;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0) throw badJson(`event_context.${name} must be a non-negative integer`);
  return Math.min(value, MAX_CONTEXT);
}

export function parseRoomEventsCriteria(value: JsonValue): RoomEventsCriteria {
  if (!isJsonObject(value)) throw badJson("room_events must be an object");
  const term = value.search_term;
  if (typeof term !== "string") throw badJson("room_events.search_term must be a string");
  let keys: SearchKey[] = [...SEARCH_KEYS];
  if (value.keys !== undefined) {
    if (!Array.isArray(value.keys) || !value.keys.every((k) => typeof k === "string" && (SEARCH_KEYS as readonly string[]).includes(k))) {
      throw badJson(`keys must be a list of ${SEARCH_KEYS.join(", ")}`);
    }
    keys = value.keys as SearchKey[];
  }
  const order = value.order_by ?? "rank";
  if (order !== "rank" && order !== "recent") throw badJson('order_by must be "rank" or "recent"');
  let context: RoomEventsCriteria["context"];
  if (value.event_context !== undefined) {
    const ec = value.event_context;
    if (!isJsonObject(ec)) throw badJson("event_context must be an object");
    if (ec.include_profile !== undefined && typeof ec.include_profile !== "boolean") throw badJson("event_context.include_profile must be a boolean");
    context = { before: contextLimit(ec.before_limit, "before_limit"), after: contextLimit(ec.after_limit, "after_limit"), includeProfile: ec.include_profile === true };
  }
  if (value.include_state !== undefined && typeof value.include_state !== "boolean") throw badJson("include_state must be a boolean");
  const groupBy: RoomEventsCriteria["groupBy"] = [];
  if (value.groupings !== undefined) {
    const groupings = value.groupings;
    if (!isJsonObject(groupings) || (groupings.group_by !== undefined && !Array.isArray(groupings.group_by))) throw badJson("groupings.group_by must be a list");
    for (const group of (groupings.group_by as JsonValue[] | undefined) ?? []) {
      const key = isJsonObject(group) ? group.key : undefined;
      if (key !== "room_id" && key !== "sender") throw badJson('a group key must be "room_id" or "sender"');
      if (!groupBy.includes(key)) groupBy.push(key);
    }
  }
  return {
    term,
    keys,
    filter: parseSearchFilter(value.filter),
    order,
    ...(context ? { context } : {}),
    includeState: value.include_state === true,
    groupBy,
  };
}

export function registerSearch(table: RouteTable, body: RequestHandler, deps: SearchDeps): void {
  const handler: RequestHandler = async (req, res) => {
    const me = requester(res.locals);
    const params = requireJsonObject(req);
    const categories = params.search_categories;
    if (!isJsonObject(categories)) throw badJson("search_categories must be an object");
    if (categories.room_events === undefined) {
      res.json({ search_categories: {} });
      return;
    }
    const criteria = parseRoomEventsCriteria(categories.room_events);
    res.json(await deps.search.search({ userId: me.userId, deviceId: me.deviceId }, criteria, queryString(req, "next_batch")));
  };
  for (const prefix of ["/_matrix/client/v3", "/_matrix/client/r0"]) table.add("POST", `${prefix}/search`, deps.auth, body, handler);
}
