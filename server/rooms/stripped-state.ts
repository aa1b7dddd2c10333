// Stripped state (spec "Stripped state"): the few state events that let an
// invitee or knocker see what a room is before joining, reduced to type,
// state_key, sender and content.
import { isJsonObject, type JsonObject } from "../protocol/json.ts";

/** The state events shown to invitees and knockers. */
export const STRIPPED_STATE_TYPES = ["m.room.create", "m.room.join_rules", "m.room.name", "m.room.avatar", "m.room.canonical_alias", "m.room.encryption", "m.room.topic"];

export function strip(event: JsonObject): JsonObject {
  return { type: event.type ?? "", state_key: event.state_key ?? "", sender: event.sender ?? "", content: isJsonObject(event.content) ? event.content : {} };
}
