// Turning stored rows back into protocol objects. Events in our store were
// validated when they were persisted, so they are trusted here and not
// re-hashed on every read.
import type { RoomEvent } from "../protocol/events.ts";
import type { JsonObject } from "../protocol/json.ts";
import type { StoredEvent } from "../storage/events.ts";

const parsed = new WeakMap<StoredEvent, JsonObject>();

export function pduOf(stored: StoredEvent): JsonObject {
  let pdu = parsed.get(stored);
  if (!pdu) {
    pdu = JSON.parse(stored.pdu) as JsonObject;
    parsed.set(stored, pdu);
  }
  return pdu;
}

export function toRoomEvent(stored: StoredEvent): RoomEvent {
  const pdu = pduOf(stored);
  const ids = (list: unknown): string[] => (Array.isArray(list) ? list.map((e) => (Array.isArray(e) ? String(e[0]) : String(e))) : []);
  const content = (pdu.content ?? {}) as JsonObject;
  const redacts = stored.type === "m.room.redaction" ? ((typeof pdu.redacts === "string" ? pdu.redacts : undefined) ?? (typeof content.redacts === "string" ? content.redacts : undefined)) : undefined;
  return {
    eventId: stored.eventId,
    roomId: stored.roomId,
    type: stored.type,
    stateKey: stored.stateKey ?? undefined,
    sender: stored.sender,
    content,
    originServerTs: stored.originServerTs,
    depth: stored.depth,
    prevEventIds: ids(pdu.prev_events),
    authEventIds: ids(pdu.auth_events),
    redacts,
    pdu,
  };
}
