// Reading room state as stored events: current state, state at a snapshot,
// and what a user may read of a room (current state while joined; the state
// when they left otherwise; world_readable rooms to anyone).
import { forbidden } from "../errors/matrix-error.ts";
import type { Queryable } from "../storage/database.ts";
import { getEventsByNids, type StoredEvent } from "../storage/events.ts";
import { currentState, createStateGroup, membershipOf, stateAtGroups, type StateKeyFilter } from "../storage/state.ts";

export async function currentStateEvents(q: Queryable, roomId: string, keys?: StateKeyFilter): Promise<StoredEvent[]> {
  const entries = await currentState(q, roomId, keys);
  const events = await getEventsByNids(q, entries.map((e) => e.eventNid));
  return entries.map((e) => events.get(e.eventNid)).filter((e): e is StoredEvent => e !== undefined);
}

export async function stateEventsAtGroup(q: Queryable, group: number | null, keys?: StateKeyFilter): Promise<StoredEvent[]> {
  if (group === null) return [];
  const entries = (await stateAtGroups(q, [group], keys)).get(group) ?? [];
  const events = await getEventsByNids(q, entries.map((e) => e.eventNid));
  return entries.map((e) => events.get(e.eventNid)).filter((e): e is StoredEvent => e !== undefined);
}

/** State after an event: the state before it, with the event itself if it is a state event. */
export async function stateEventsAfter(q: Queryable, event: StoredEvent, keys?: StateKeyFilter): Promise<StoredEvent[]> {
  const before = await stateEventsAtGroup(q, event.stateGroupBefore, keys);
  if (event.stateKey === null) return before;
  const wanted = !keys || keys.some(([t, s]) => t === event.type && s === event.stateKey);
  const rest = before.filter((e) => !(e.type === event.type && e.stateKey === event.stateKey));
  return wanted ? [...rest, event] : rest;
}

export type RoomAccess =
  | { kind: "joined" }
  /** Left, kicked or banned: the user sees the room as it was when their membership ended. */
  | { kind: "former"; membershipEvent: StoredEvent }
  | { kind: "world_readable" };

/**
 * Whether `userId` may read `roomId` at all, and as of when. Unknown rooms
 * and rooms never joined answer 403 like Synapse, revealing nothing.
 */
export async function roomAccess(q: Queryable, roomId: string, userId: string): Promise<RoomAccess> {
  const membership = await membershipOf(q, roomId, userId);
  if (membership?.membership === "join") return { kind: "joined" };
  const visibility = await currentStateEvents(q, roomId, [["m.room.history_visibility", ""]]);
  const hv = visibility[0] ? (JSON.parse(visibility[0].pdu) as { content?: { history_visibility?: unknown } }).content?.history_visibility : undefined;
  if (hv === "world_readable") return { kind: "world_readable" };
  if (membership && (membership.membership === "leave" || membership.membership === "ban")) {
    const event = (await getEventsByNids(q, [membership.eventNid])).get(membership.eventNid);
    if (event) return { kind: "former", membershipEvent: event };
  }
  throw forbidden(`User ${userId} not in room ${roomId}`);
}

export { createStateGroup };
