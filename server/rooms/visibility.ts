// History visibility (spec: "History visibility"): which events of a room a
// user may see, decided per event from the state before it. One batched
// query per page, never a walk over the room's history.
import type { Queryable } from "../storage/database.ts";
import { getEventsByNids, type StoredEvent } from "../storage/events.ts";
import { stateAtGroups, stateKeysAtGroupsOfRoom } from "../storage/state.ts";
import { pduOf } from "./stored-event.ts";

function contentField(event: StoredEvent | undefined, field: string): unknown {
  if (!event) return undefined;
  return (pduOf(event).content as Record<string, unknown> | undefined)?.[field];
}

const MEMBERSHIP_PRIORITY = ["join", "invite", "knock", "leave", "ban"];

function better(a: string | undefined, b: string | undefined): string | undefined {
  const rank = (m: string | undefined) => (m === undefined || !MEMBERSHIP_PRIORITY.includes(m) ? MEMBERSHIP_PRIORITY.indexOf("leave") : MEMBERSHIP_PRIORITY.indexOf(m));
  return rank(a) <= rank(b) ? a : b;
}

/**
 * Keeps the events `userId` may see. `currentlyJoined` makes `shared`
 * history visible, as in Synapse: a member sees the room's past.
 */
export async function filterVisibleEvents(q: Queryable, userId: string, events: readonly StoredEvent[], currentlyJoined: boolean): Promise<StoredEvent[]> {
  const groups = [...new Set(events.map((e) => e.stateGroupBefore).filter((g): g is number => g !== null))];
  const keys = [["m.room.history_visibility", ""], ["m.room.member", userId]] as const;
  // The events of one room (every caller's case) can use its current state for the current snapshot.
  const roomId = events[0]?.roomId;
  const states = roomId !== undefined && events.every((e) => e.roomId === roomId) ? await stateKeysAtGroupsOfRoom(q, roomId, groups, keys) : await stateAtGroups(q, groups, keys);
  const nids = [...states.values()].flat().map((e) => e.eventNid);
  const stateEvents = await getEventsByNids(q, nids);
  return events.filter((event) => {
    const entries = event.stateGroupBefore === null ? [] : (states.get(event.stateGroupBefore) ?? []);
    const find = (type: string) => {
      const entry = entries.find((e) => e.type === type);
      return entry ? stateEvents.get(entry.eventNid) : undefined;
    };
    const visibility = (contentField(find("m.room.history_visibility"), "history_visibility") as string | undefined) ?? "shared";
    const before = contentField(find("m.room.member"), "membership") as string | undefined;
    // A user's own membership event counts with the better of the memberships
    // before and after it (as Synapse does), so users see their own departure.
    const membership =
      event.type === "m.room.member" && event.stateKey === userId ? better(before, contentField(event, "membership") as string | undefined) : before;
    if (visibility === "world_readable") return true;
    if (membership === "join") return true;
    if (visibility === "shared" && currentlyJoined) return true;
    if (visibility === "invited" && membership === "invite") return true;
    return false;
  });
}
