// The RoomEventFilter subset applied by /messages and /sync timelines (spec:
// "Filtering"): types / not_types with '*' wildcards, senders / not_senders,
// limit and lazy_load_members.
import { badJson } from "../errors/matrix-error.ts";
import { isJsonObject, type JsonValue } from "../protocol/json.ts";

export interface RoomEventFilter {
  types?: string[];
  notTypes: string[];
  senders?: string[];
  notSenders: string[];
  limit?: number;
  lazyLoadMembers: boolean;
  includeRedundantMembers: boolean;
  /** /sync only: per-thread notification counts (unread_thread_notifications). */
  unreadThreadNotifications: boolean;
}

function stringList(value: JsonValue | undefined, name: string): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) throw badJson(`${name} must be a list of strings`);
  return value as string[];
}

export function parseRoomEventFilter(value: JsonValue | undefined): RoomEventFilter {
  if (value === undefined || value === null) return { notTypes: [], notSenders: [], lazyLoadMembers: false, includeRedundantMembers: false, unreadThreadNotifications: false };
  if (!isJsonObject(value)) throw badJson("filter must be an object");
  const limit = value.limit;
  if (limit !== undefined && (typeof limit !== "number" || !Number.isInteger(limit) || limit < 0)) throw badJson("filter limit must be a non-negative integer");
  const types = stringList(value.types, "types");
  const senders = stringList(value.senders, "senders");
  return {
    ...(types ? { types } : {}),
    notTypes: stringList(value.not_types, "not_types") ?? [],
    ...(senders ? { senders } : {}),
    notSenders: stringList(value.not_senders, "not_senders") ?? [],
    ...(typeof limit === "number" ? { limit } : {}),
    lazyLoadMembers: value.lazy_load_members === true,
    includeRedundantMembers: value.include_redundant_members === true,
    unreadThreadNotifications: value.unread_thread_notifications === true,
  };
}

function typeMatches(pattern: string, type: string): boolean {
  if (!pattern.includes("*")) return pattern === type;
  const regex = new RegExp(`^${pattern.split("*").map((p) => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`);
  return regex.test(type);
}

export function eventPassesFilter(filter: RoomEventFilter, event: { type: string; sender: string }): boolean {
  if (filter.notTypes.some((p) => typeMatches(p, event.type))) return false;
  if (filter.types && !filter.types.some((p) => typeMatches(p, event.type))) return false;
  if (filter.notSenders.includes(event.sender)) return false;
  if (filter.senders && !filter.senders.includes(event.sender)) return false;
  return true;
}

/** Parses the `filter` query parameter of /messages (JSON text). */
export function filterFromQuery(raw: string | undefined): RoomEventFilter {
  if (raw === undefined) return parseRoomEventFilter(undefined);
  let parsed: JsonValue;
  try {
    parsed = JSON.parse(raw) as JsonValue;
  } catch {
    throw badJson("filter is not valid JSON");
  }
  return parseRoomEventFilter(parsed);
}
