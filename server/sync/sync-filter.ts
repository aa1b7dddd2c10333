// The parts of a sync Filter (spec: "Filtering") the sync engine applies.
import { badJson } from "../errors/matrix-error.ts";
import { isJsonObject, type JsonValue } from "../protocol/json.ts";
import { parseRoomEventFilter, type RoomEventFilter } from "./event-filter.ts";

export interface SyncFilter {
  timeline: RoomEventFilter;
  state: RoomEventFilter;
  rooms?: string[];
  notRooms: string[];
  includeLeave: boolean;
  /** The top-level `presence` EventFilter (types, senders, limit). */
  presence: RoomEventFilter;
}

/** Synapse's default timeline limit. */
export const DEFAULT_TIMELINE_LIMIT = 10;

export function parseSyncFilter(value: JsonValue | undefined): SyncFilter {
  if (value !== undefined && value !== null && !isJsonObject(value)) throw badJson("filter must be an object");
  const room = isJsonObject(value) && value.room !== undefined ? value.room : undefined;
  if (room !== undefined && !isJsonObject(room)) throw badJson("filter.room must be an object");
  const list = (v: JsonValue | undefined, name: string) => {
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) throw badJson(`${name} must be a list of strings`);
    return v as string[];
  };
  const rooms = list(room?.rooms, "rooms");
  return {
    timeline: parseRoomEventFilter(room?.timeline),
    state: parseRoomEventFilter(room?.state),
    ...(rooms ? { rooms } : {}),
    notRooms: list(room?.not_rooms, "not_rooms") ?? [],
    includeLeave: room?.include_leave === true,
    presence: parseRoomEventFilter(isJsonObject(value) ? value.presence : undefined),
  };
}
