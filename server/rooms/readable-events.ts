// Which events of a room a user may read, given their access to the room
// (server/rooms/room-state.ts roomAccess): events in the timeline, not after
// a former member's departure, and allowed by history visibility. Shared by
// the endpoints that serve single events or pages outside /messages.
import type { Queryable } from "../storage/database.ts";
import { getEventsByIds, type StoredEvent } from "../storage/events.ts";
import type { RoomAccess } from "./room-state.ts";
import { filterVisibleEvents } from "./visibility.ts";

/** Former members see nothing after their membership ended. */
export function beyondAccess(event: StoredEvent, access: RoomAccess): boolean {
  return access.kind === "former" && (event.streamOrdering ?? 0) > access.membershipEvent.streamOrdering!;
}

export async function readableEvents(q: Queryable, userId: string, access: RoomAccess, events: readonly StoredEvent[]): Promise<StoredEvent[]> {
  const inRange = events.filter((e) => e.streamOrdering !== null && !beyondAccess(e, access));
  return filterVisibleEvents(q, userId, inRange, access.kind === "joined");
}

/** The event if it is in `roomId` and `userId` may read it; undefined otherwise (callers answer 404 either way). */
export async function readableEvent(q: Queryable, userId: string, access: RoomAccess, roomId: string, eventId: string): Promise<StoredEvent | undefined> {
  const event = (await getEventsByIds(q, [eventId])).get(eventId);
  if (!event || event.roomId !== roomId) return undefined;
  return (await readableEvents(q, userId, access, [event]))[0];
}
