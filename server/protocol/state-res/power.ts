// What state resolution needs to know about power: which events are "power
// events", an event's m.room.power_levels auth event, and the power level of
// an event's sender as its own auth events grant it.
import type { RoomEvent } from "../events.ts";
import type { PowerLevels } from "../power-levels.ts";
import { parsePowerLevels, userPowerLevel } from "../power-levels.ts";
import type { RoomVersion } from "../room-versions.ts";

export const CREATE = "m.room.create";
export const POWER_LEVELS = "m.room.power_levels";
export const JOIN_RULES = "m.room.join_rules";
export const MEMBER = "m.room.member";

/** Anything that can look an event up by id synchronously (the loaded auth graph). */
export interface EventLookup {
  get(id: string): RoomEvent | undefined;
}

/**
 * Power levels, join rules, and kicks/bans (a leave or ban sent by someone
 * other than its target): events that can take an ability away. The create
 * event is included too, as Synapse and Ruma do; it only ever shows up in a
 * conflict in a broken room.
 */
export function isPowerEvent(event: RoomEvent): boolean {
  if (event.stateKey === "" && (event.type === POWER_LEVELS || event.type === JOIN_RULES || event.type === CREATE)) {
    return true;
  }
  if (event.type === MEMBER && event.stateKey !== undefined) {
    const membership = event.content["membership"];
    return (membership === "leave" || membership === "ban") && event.sender !== event.stateKey;
  }
  return false;
}

function findAuthEvent(event: RoomEvent, type: string, events: EventLookup): RoomEvent | undefined {
  for (const id of event.authEventIds) {
    const candidate = events.get(id);
    if (candidate !== undefined && candidate.type === type && candidate.stateKey === "") return candidate;
  }
  return undefined;
}

/** The m.room.power_levels event among `event`'s auth events, if it cites one. */
export function powerLevelsAuthEvent(event: RoomEvent, events: EventLookup): RoomEvent | undefined {
  return findAuthEvent(event, POWER_LEVELS, events);
}

/**
 * The sender's power level according to the event's own auth events, used to
 * order power events. `roomCreate` is the room's create event, which v12
 * events no longer cite (v12 creators rank above every number). Parsed power
 * levels are memoised in `parsed` per event id, since many events cite the
 * same power levels event and its users map can be large.
 */
export function senderPowerLevel(
  event: RoomEvent,
  events: EventLookup,
  version: RoomVersion,
  roomCreate: RoomEvent | undefined,
  parsed: Map<string, PowerLevels> = new Map(),
): number {
  const create = version.roomIdFromCreateEvent ? roomCreate : findAuthEvent(event, CREATE, events);
  const powerLevelsEvent = powerLevelsAuthEvent(event, events);
  if (powerLevelsEvent === undefined) return userPowerLevel(event.sender, parsePowerLevels(undefined, version), create, version);
  let levels = parsed.get(powerLevelsEvent.eventId);
  if (levels === undefined) {
    levels = parsePowerLevels(powerLevelsEvent.content, version);
    parsed.set(powerLevelsEvent.eventId, levels);
  }
  return userPowerLevel(event.sender, levels, create, version);
}

