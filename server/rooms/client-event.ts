// The client-server view of an event (spec: "ClientEvent"), with the
// redacted form for redacted events and the unsigned data clients expect.
import { redactEvent } from "../protocol/redaction.ts";
import type { JsonObject } from "../protocol/json.ts";
import type { RoomVersion } from "../protocol/room-versions.ts";
import type { StoredEvent } from "../storage/events.ts";
import { pduOf } from "./stored-event.ts";

export interface ClientEventOptions {
  /** /sync timelines omit room_id (it is the key of the room); other APIs include it. */
  includeRoomId: boolean;
  now: number;
  /** The redaction event, when this event was redacted. */
  redactedBecause?: JsonObject;
  /** The transaction ID, shown only to the device that sent it. */
  transactionId?: string;
  /** Content of the state this state event replaced. */
  prevContent?: JsonObject;
}

export function toClientEvent(stored: StoredEvent, version: RoomVersion, options: ClientEventOptions): JsonObject {
  let pdu = pduOf(stored);
  if (stored.redactedBy !== null) pdu = redactEvent(pdu, version);
  const event: JsonObject = {
    event_id: stored.eventId,
    type: stored.type,
    sender: stored.sender,
    origin_server_ts: stored.originServerTs,
    content: (pdu.content ?? {}) as JsonObject,
  };
  if (options.includeRoomId) event.room_id = stored.roomId;
  if (stored.stateKey !== null) event.state_key = stored.stateKey;
  // Clients read `redacts` from either place depending on their age: serve
  // both for every room version (spec, room v11 "Moving the redacts property").
  if (stored.type === "m.room.redaction") {
    const content = event.content as JsonObject;
    const target = typeof pdu.redacts === "string" ? pdu.redacts : typeof content.redacts === "string" ? content.redacts : undefined;
    if (target !== undefined) {
      event.redacts = target;
      if (content.redacts === undefined) event.content = { ...content, redacts: target };
    }
  }
  const unsigned: JsonObject = { age: Math.max(0, options.now - stored.originServerTs) };
  if (options.redactedBecause) unsigned.redacted_because = options.redactedBecause;
  if (options.transactionId !== undefined) unsigned.transaction_id = options.transactionId;
  if (options.prevContent) unsigned.prev_content = options.prevContent;
  event.unsigned = unsigned;
  return event;
}
