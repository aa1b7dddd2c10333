// m.room.power_levels: parsing with the spec's defaults, the room creators, a
// user's effective level and the level an event type requires.
// https://spec.matrix.org/v1.19/client-server-api/#mroompower_levels and the
// "stringy"/"floaty" power level notes of room versions 1–9.
import type { RoomEvent } from "./events.ts";
import { isJsonObject, type JsonObject, type JsonValue } from "./json.ts";
import type { RoomVersion } from "./room-versions.ts";

/** The seven top-level integer properties the auth rules compare one by one. */
export const POWER_LEVEL_SCALAR_KEYS = [
  "users_default",
  "events_default",
  "state_default",
  "ban",
  "redact",
  "kick",
  "invite",
] as const;
export type PowerLevelScalarKey = (typeof POWER_LEVEL_SCALAR_KEYS)[number];

/** Defaults when a property (or the whole event) is absent. state_default is 50 even without an event (spec PR #1479). */
export const POWER_LEVEL_DEFAULTS: Readonly<Record<PowerLevelScalarKey, number>> = {
  users_default: 0,
  events_default: 0,
  state_default: 50,
  ban: 50,
  redact: 50,
  kick: 50,
  invite: 0,
};

/** Level a room creator has in v1–v11 rooms that have no m.room.power_levels event. */
export const CREATOR_DEFAULT_LEVEL = 100;

export interface PowerLevels {
  /** False when the room has no m.room.power_levels event: only defaults apply. */
  readonly present: boolean;
  readonly users: ReadonlyMap<string, number>;
  readonly usersDefault: number;
  readonly events: ReadonlyMap<string, number>;
  readonly eventsDefault: number;
  readonly stateDefault: number;
  readonly ban: number;
  readonly kick: number;
  readonly redact: number;
  readonly invite: number;
  readonly notifications: ReadonlyMap<string, number>;
}

// Room versions 1–9 accept integers written as strings: optional surrounding
// whitespace, one optional sign, base-10 digits (leading zeroes allowed).
const STRINGY_INTEGER = /^\s*[+-]?[0-9]+\s*$/;

/**
 * One power level value as the room version reads it, or null when the value
 * is not a power level at all. v10+ accepts only JSON integers; earlier
 * versions also accept integer strings, and floats are truncated (the "floaty"
 * rule; from v6 canonical JSON keeps floats out of events before this point).
 */
export function parsePowerLevelValue(value: JsonValue | undefined, version: RoomVersion): number | null {
  if (typeof value === "number") {
    if (!Number.isFinite(value)) return null;
    if (version.integerPowerLevels) return Number.isSafeInteger(value) ? value : null;
    return normaliseZero(Math.trunc(value));
  }
  if (typeof value === "string" && !version.integerPowerLevels && STRINGY_INTEGER.test(value)) {
    return normaliseZero(Number.parseInt(value.trim(), 10));
  }
  return null;
}

function normaliseZero(n: number): number {
  return n === 0 ? 0 : n; // "-0" and -0.5 would otherwise yield -0
}

/** Reads `content[key]` as a level: undefined when absent or unreadable. */
export function readLevel(content: JsonObject, key: string, version: RoomVersion): number | undefined {
  if (!Object.hasOwn(content, key)) return undefined;
  return parsePowerLevelValue(content[key], version) ?? undefined;
}

/** Reads a map property (`users`, `events`, `notifications`), skipping unreadable entries. */
export function readLevelMap(content: JsonObject, key: string, version: RoomVersion): Map<string, number> {
  const out = new Map<string, number>();
  const raw = Object.hasOwn(content, key) ? content[key] : undefined;
  if (!isJsonObject(raw)) return out;
  for (const [name, value] of Object.entries(raw)) {
    const level = parsePowerLevelValue(value, version);
    if (level !== null) out.set(name, level);
  }
  return out;
}

/**
 * The effective power levels given the content of the m.room.power_levels event
 * in force (undefined when there is none). Lenient: a value the version cannot
 * read falls back to its default, so state that slipped in never breaks reads;
 * the auth rules are what keep such values out of new events.
 */
export function parsePowerLevels(content: JsonObject | undefined, version: RoomVersion): PowerLevels {
  const c = content ?? {};
  const scalar = (key: PowerLevelScalarKey): number => readLevel(c, key, version) ?? POWER_LEVEL_DEFAULTS[key];
  return {
    present: content !== undefined,
    users: readLevelMap(c, "users", version),
    usersDefault: scalar("users_default"),
    events: readLevelMap(c, "events", version),
    eventsDefault: scalar("events_default"),
    stateDefault: scalar("state_default"),
    ban: scalar("ban"),
    kick: scalar("kick"),
    redact: scalar("redact"),
    invite: scalar("invite"),
    notifications: readLevelMap(c, "notifications", version),
  };
}

/**
 * The room creators: v12 the create event's sender plus its valid-looking
 * `additional_creators`; v11 the sender; v1–v10 `content.creator`.
 */
export function roomCreators(createEvent: RoomEvent | undefined, version: RoomVersion): ReadonlySet<string> {
  const creators = new Set<string>();
  if (createEvent === undefined) return creators;
  if (version.implicitRoomCreator) {
    creators.add(createEvent.sender);
  } else if (typeof createEvent.content.creator === "string") {
    creators.add(createEvent.content.creator);
  }
  if (version.privilegedCreators) {
    const extra = createEvent.content.additional_creators;
    if (Array.isArray(extra)) for (const id of extra) if (typeof id === "string") creators.add(id);
  }
  return creators;
}

/**
 * A user's power level. v12 creators are infinitely powerful whatever the power
 * levels say; before v12 the creator only gets 100 while the room has no
 * m.room.power_levels event.
 */
export function userPowerLevel(
  userId: string,
  pl: PowerLevels,
  createEvent: RoomEvent | undefined,
  version: RoomVersion,
): number {
  const creators = roomCreators(createEvent, version);
  if (version.privilegedCreators && creators.has(userId)) return Infinity;
  if (pl.present) return pl.users.get(userId) ?? pl.usersDefault;
  return creators.has(userId) ? CREATOR_DEFAULT_LEVEL : 0;
}

/** The "required power level" of the spec: `events[type]`, else state_default or events_default. */
export function requiredPowerForEvent(type: string, stateKey: string | undefined, pl: PowerLevels): number {
  return pl.events.get(type) ?? (stateKey !== undefined ? pl.stateDefault : pl.eventsDefault);
}
