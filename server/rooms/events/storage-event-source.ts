// State resolution's EventSource backed by our events table: every event we
// hold (outliers too, since auth chains are stored as outliers), with the
// rejected ones reported so the iterative auth checks can skip them.
import type { EventSource } from "../../protocol/state-res/index.ts";
import type { RoomEvent } from "../../protocol/events.ts";
import type { Queryable } from "../../storage/database.ts";
import { getEventsByIds, rejectedEventIds } from "../../storage/events.ts";
import { toRoomEvent } from "../stored-event.ts";

export function storageEventSource(q: Queryable): EventSource {
  return {
    async getEvents(ids) {
      const stored = await getEventsByIds(q, ids);
      const out = new Map<string, RoomEvent>();
      for (const [id, row] of stored) out.set(id, toRoomEvent(row));
      return out;
    },
    getRejectedIds: (ids) => rejectedEventIds(q, ids),
  };
}
