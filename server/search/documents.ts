// Which events are searchable and with what text. Searchable: m.room.message
// (content.body), m.room.name (content.name), m.room.topic (content.topic),
// the spec's three keys and what Synapse indexes. Never m.room.encrypted: the
// server cannot read it (clients search encrypted rooms themselves).
//
// Edits (m.replace): unlike Synapse, which indexes the edit event itself
// ("* new text") beside the original, we index the original under its own
// ID with the latest valid edit's m.new_content text. A search then finds the
// message once, as clients show it, and the old wording stops matching.
import type { JsonObject } from "../protocol/json.ts";
import type { StoredEvent } from "../storage/events.ts";
import { pduOf } from "../rooms/stored-event.ts";
import type { SearchDocument, SearchKey } from "./backend.ts";

const FIELD_OF_TYPE: Record<string, { key: SearchKey; field: string }> = {
  "m.room.message": { key: "content.body", field: "body" },
  "m.room.name": { key: "content.name", field: "name" },
  "m.room.topic": { key: "content.topic", field: "topic" },
};

export const isSearchableType = (type: string): boolean => type in FIELD_OF_TYPE;

export function contentOf(event: StoredEvent): JsonObject {
  const content = pduOf(event).content;
  return content && typeof content === "object" && !Array.isArray(content) ? (content as JsonObject) : {};
}

/** The event an m.replace edit replaces, if `event` is one. */
export function replacedEventId(event: StoredEvent): string | undefined {
  const relation = contentOf(event)["m.relates_to"] as JsonObject | undefined;
  if (!relation || typeof relation !== "object" || relation.rel_type !== "m.replace") return undefined;
  return typeof relation.event_id === "string" ? relation.event_id : undefined;
}

/** An event in the timeline that counts: accepted, not soft-failed, positioned. */
export const isLiveEvent = (event: StoredEvent): boolean => event.streamOrdering !== null && event.rejectedReason === null && !event.softFailed;

/**
 * The document of an original event, or undefined when it must not be in
 * the index (redacted, not searchable, an edit itself, no text). `edit` is
 * its latest valid edit, whose m.new_content supplies the text.
 */
export function documentOf(event: StoredEvent, edit: StoredEvent | undefined): SearchDocument | undefined {
  const spec = FIELD_OF_TYPE[event.type];
  if (!spec || !isLiveEvent(event) || event.redactedBy !== null || replacedEventId(event) !== undefined) return undefined;
  if (event.type !== "m.room.message" && event.stateKey !== "") return undefined;
  const replacement = edit ? (contentOf(edit)["m.new_content"] as JsonObject | undefined) : undefined;
  const text = (replacement && typeof replacement === "object" ? replacement[spec.field] : undefined) ?? contentOf(event)[spec.field];
  if (typeof text !== "string" || text.trim() === "") return undefined;
  return { eventId: event.eventId, roomId: event.roomId, sender: event.sender, key: spec.key, body: text, originServerTs: event.originServerTs, streamOrdering: event.streamOrdering! };
}
