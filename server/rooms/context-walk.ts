// Walking away from one event through a room's history in topological
// order, keeping what the user may read: the events around a /context
// target, and around each POST /search result (event_context).
import type { Queryable } from "../storage/database.ts";
import { roomEventsTopological, type StoredEvent } from "../storage/events.ts";
import { eventPassesFilter, type RoomEventFilter } from "../sync/event-filter.ts";
import { readableEvents } from "./readable-events.ts";
import type { RoomAccess } from "./room-state.ts";
import type { TopologicalToken } from "./tokens.ts";

export const positionOf = (e: StoredEvent): TopologicalToken => ({ depth: e.depth, stream: e.streamOrdering! });

/**
 * Up to `limit` readable events passing `filter`, walking away from `from`
 * in `dir`. Returns them nearest first and the position reached, which is
 * the token to continue from with /messages.
 */
export async function walkReadable(
  q: Queryable,
  roomId: string,
  userId: string,
  access: RoomAccess,
  from: TopologicalToken,
  dir: "b" | "f",
  limit: number,
  filter: RoomEventFilter,
): Promise<{ events: StoredEvent[]; reached: TopologicalToken }> {
  const events: StoredEvent[] = [];
  let cursor = from;
  if (limit <= 0) return { events, reached: cursor };
  // A former member's forward walk stops at their departure instead of reading on to discard.
  const ceiling = dir === "f" && access.kind === "former" ? positionOf(access.membershipEvent) : undefined;
  while (events.length < limit) {
    const batch = await roomEventsTopological(q, roomId, cursor, dir, Math.max(limit * 2, 20), ceiling);
    if (batch.length === 0) break;
    const passing = await readableEvents(q, userId, access, batch.filter((e) => eventPassesFilter(filter, e)));
    const kept = new Set(passing.map((e) => e.eventId));
    for (const e of batch) {
      cursor = positionOf(e);
      if (kept.has(e.eventId)) events.push(e);
      if (events.length >= limit) break;
    }
  }
  return { events, reached: cursor };
}
