// Renders stored events for a client in one batch: redacted events carry the
// redaction in unsigned.redacted_because, the sending device sees its
// transaction_id, state events show the content they replaced, and other
// events carry their bundled aggregations (server/rooms/aggregations.ts).
import type { JsonObject } from "../protocol/json.ts";
import type { RoomVersion } from "../protocol/room-versions.ts";
import type { Queryable } from "../storage/database.ts";
import { getEventsByIds, txnIdsForEvents, type StoredEvent } from "../storage/events.ts";
import { stateEntriesAtGroups } from "../storage/state.ts";
import { getEventsByNids } from "../storage/events.ts";
import { bundleAggregations } from "./aggregations.ts";
import { toClientEvent } from "./client-event.ts";
import { pduOf } from "./stored-event.ts";

export interface Viewer {
  userId: string;
  deviceId: string;
}

export async function renderEvents(
  q: Queryable,
  events: readonly StoredEvent[],
  version: RoomVersion,
  viewer: Viewer,
  options: { includeRoomId: boolean },
): Promise<JsonObject[]> {
  const now = Date.now();
  const redactionIds = events.map((e) => e.redactedBy).filter((id): id is string => id !== null);
  const redactions = await getEventsByIds(q, redactionIds);
  const own = events.filter((e) => e.sender === viewer.userId).map((e) => e.eventId);
  const txnIds = await txnIdsForEvents(q, viewer.userId, viewer.deviceId, own);

  // prev_content: the state each state event replaced, from its snapshot.
  const stateEvents = events.filter((e) => e.stateKey !== null && e.stateGroupBefore !== null);
  const prevContent = new Map<string, JsonObject>();
  if (stateEvents.length > 0) {
    // Each state event's own key at its own snapshot, nothing more.
    const priorNids = await stateEntriesAtGroups(q, stateEvents.map((e) => [e.stateGroupBefore!, e.type, e.stateKey!] as const));
    const previous = await getEventsByNids(q, priorNids.filter((nid): nid is number => nid !== undefined));
    for (const [i, event] of stateEvents.entries()) {
      const nid = priorNids[i];
      const prior = nid !== undefined ? previous.get(nid) : undefined;
      if (prior && prior.redactedBy === null) prevContent.set(event.eventId, (pduOf(prior).content ?? {}) as JsonObject);
    }
  }

  const rendered = events.map((event) => {
    const redaction = event.redactedBy ? redactions.get(event.redactedBy) : undefined;
    const prior = prevContent.get(event.eventId);
    const txnId = txnIds.get(event.eventId);
    return toClientEvent(event, version, {
      includeRoomId: options.includeRoomId,
      now,
      ...(redaction ? { redactedBecause: toClientEvent(redaction, version, { includeRoomId: true, now }) } : {}),
      ...(txnId !== undefined ? { transactionId: txnId } : {}),
      ...(prior ? { prevContent: prior } : {}),
    });
  });
  // unsigned["m.relations"]: edits, thread summaries, references (one query per page).
  await bundleAggregations(q, events, rendered, viewer.userId, (children) => renderEvents(q, children, version, viewer, options));
  return rendered;
}
