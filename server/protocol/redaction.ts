// The redaction algorithm (rooms/vN "Redactions"): which keys of an event
// survive. It shapes signatures and reference hashes as well as what clients
// see of a redacted event, so each room version's keep-list must be exact.
//   v1: rooms 1–5    v6: rooms 6–7 (m.room.aliases no longer special)
//   v8: room 8 (join_rules.allow)    v9: rooms 9–10 (member.join_authorised_via_users_server)
//   v11: rooms 11–12 (top-level origin/membership/prev_state dropped; create keeps all
//        content; power_levels.invite; redaction.redacts; member.third_party_invite.signed)
// Room 12 reuses v11's algorithm ("Unchanged from v11: Redactions" in rooms/v12).
import { isJsonObject } from "./json.ts";
import type { JsonObject } from "./json.ts";
import type { RoomVersion } from "./room-versions.ts";

type RedactionRules = RoomVersion["redactionRules"];

const TOP_LEVEL_ALWAYS = [
  "event_id",
  "type",
  "room_id",
  "sender",
  "state_key",
  "content",
  "hashes",
  "signatures",
  "depth",
  "prev_events",
  "auth_events",
  "origin_server_ts",
] as const;
/** Protected before v11 only. */
const TOP_LEVEL_BEFORE_V11 = ["prev_state", "origin", "membership"] as const;

const ORDER: readonly RedactionRules[] = ["v1", "v6", "v8", "v9", "v11"];

const POWER_LEVEL_KEYS = ["ban", "events", "events_default", "kick", "redact", "state_default", "users", "users_default"];

export function topLevelKeysKept(rules: RedactionRules): readonly string[] {
  return rules === "v11" ? TOP_LEVEL_ALWAYS : [...TOP_LEVEL_ALWAYS, ...TOP_LEVEL_BEFORE_V11];
}

/**
 * Content keys kept for an event type: a list, "all" (v11 m.room.create), or
 * an empty list for every other type. `third_party_invite` (v11 members) is
 * handled separately because only its `signed` part survives.
 */
export function contentKeysKept(type: string, rules: RedactionRules): readonly string[] | "all" {
  const atLeast = (floor: RedactionRules): boolean => ORDER.indexOf(rules) >= ORDER.indexOf(floor);
  switch (type) {
    case "m.room.member":
      return atLeast("v9") ? ["membership", "join_authorised_via_users_server"] : ["membership"];
    case "m.room.create":
      return atLeast("v11") ? "all" : ["creator"];
    case "m.room.join_rules":
      return atLeast("v8") ? ["join_rule", "allow"] : ["join_rule"];
    case "m.room.power_levels":
      return atLeast("v11") ? [...POWER_LEVEL_KEYS, "invite"] : POWER_LEVEL_KEYS;
    case "m.room.aliases":
      return atLeast("v6") ? [] : ["aliases"];
    case "m.room.history_visibility":
      return ["history_visibility"];
    case "m.room.redaction":
      return atLeast("v11") ? ["redacts"] : [];
    default:
      return [];
  }
}

function pick(source: JsonObject, keys: readonly string[]): JsonObject {
  const out: JsonObject = {};
  for (const key of keys) {
    const value = source[key];
    if (value !== undefined && Object.hasOwn(source, key)) out[key] = value;
  }
  return out;
}

function redactContent(type: string, content: JsonObject, rules: RedactionRules): JsonObject {
  const kept = contentKeysKept(type, rules);
  if (kept === "all") return { ...content };
  const out = pick(content, kept);
  if (type === "m.room.member" && rules === "v11" && isJsonObject(content.third_party_invite)) {
    // Like Synapse, an object without `signed` leaves an empty object behind:
    // the spec keeps third_party_invite, "but will only contain the signed key".
    out.third_party_invite = pick(content.third_party_invite, ["signed"]);
  }
  return out;
}

/**
 * The redacted form of a PDU for the given room version. `unsigned` is dropped
 * (callers that serve redacted events add redacted_because themselves).
 * `content` is always present in the result, `{}` if the event had none or a
 * non-object (as Synapse does, so hashes agree). Nested values are shared with
 * the input, which callers must treat as immutable.
 */
export function redactEvent(pdu: JsonObject, version: Pick<RoomVersion, "redactionRules">): JsonObject {
  const rules = version.redactionRules;
  const out = pick(pdu, topLevelKeysKept(rules));
  const type = typeof pdu.type === "string" ? pdu.type : "";
  out.content = isJsonObject(pdu.content) ? redactContent(type, pdu.content, rules) : {};
  return out;
}
