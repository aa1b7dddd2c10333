// A room as the directory, the space hierarchy and the room summary describe
// it (spec: "PublishedRoomsChunk", "RoomSummary"), and who may see that
// description without being in the room: the rules the spec lists for
// GET /hierarchy, which Synapse also applies to the room summary.
import { isJsonObject, type JsonObject } from "../protocol/json.ts";
import { getRoomVersion } from "../protocol/room-versions.ts";
import type { Queryable } from "../storage/database.ts";
import type { RoomStats } from "../storage/public-rooms.ts";
import { membershipOf } from "../storage/state.ts";

/** The PublishedRoomsChunk fields, leaving out values the schema would reject. */
export function publishedRoomChunk(stats: RoomStats): JsonObject {
  const chunk: JsonObject = {
    room_id: stats.roomId,
    num_joined_members: stats.joinedMembers,
    world_readable: stats.historyVisibility === "world_readable",
    guest_can_join: stats.guestAccess === "can_join",
  };
  if (stats.name !== null) chunk.name = stats.name;
  if (stats.topic !== null) chunk.topic = stats.topic;
  if (stats.canonicalAlias !== null && stats.canonicalAlias.startsWith("#")) chunk.canonical_alias = stats.canonicalAlias;
  if (stats.avatarUrl !== null && stats.avatarUrl.startsWith("mxc://")) chunk.avatar_url = stats.avatarUrl;
  if (stats.joinRule !== null) chunk.join_rule = stats.joinRule;
  if (stats.roomType !== null) chunk.room_type = stats.roomType;
  return chunk;
}

/** Rooms whose membership lets a user join a restricted room (`allow` entries of type m.room_membership). */
export function allowedRoomIds(stats: RoomStats): string[] {
  const version = getRoomVersion(stats.roomVersion);
  const restricted =
    (stats.joinRule === "restricted" && version?.restrictedJoins === true) || (stats.joinRule === "knock_restricted" && version?.knockRestricted === true);
  if (!restricted || !Array.isArray(stats.joinRuleAllow)) return [];
  return stats.joinRuleAllow.filter((a): a is JsonObject => isJsonObject(a) && a.type === "m.room_membership" && typeof a.room_id === "string").map((a) => a.room_id as string);
}

/** The RoomSummary fields: the chunk plus room version, encryption and the rooms a restricted join rule names. */
export function roomSummaryEntry(stats: RoomStats): JsonObject {
  const entry = publishedRoomChunk(stats);
  entry.room_version = stats.roomVersion;
  if (stats.encryption === "m.megolm.v1.aes-sha2") entry.encryption = stats.encryption;
  const allowed = allowedRoomIds(stats);
  if (allowed.length > 0) entry.allowed_room_ids = allowed;
  return entry;
}

/**
 * Whether `userId` (undefined: an unauthenticated client) may see the room's
 * summary: joined or invited; or the room is world-readable, public,
 * knockable, or restricted to a room the user is in. A banned user sees
 * nothing, the way the spec describes the hierarchy's 403.
 */
export async function maySeeRoomSummary(q: Queryable, stats: RoomStats, userId: string | undefined): Promise<boolean> {
  const membership = userId === undefined ? undefined : (await membershipOf(q, stats.roomId, userId))?.membership;
  if (membership === "ban") return false;
  if (membership === "join" || membership === "invite") return true;
  if (stats.historyVisibility === "world_readable") return true;
  const version = getRoomVersion(stats.roomVersion);
  if (stats.joinRule === "public") return true;
  if (stats.joinRule === "knock" && version?.knocking) return true;
  if (stats.joinRule === "knock_restricted" && version?.knockRestricted) return true;
  if (userId === undefined) return false;
  for (const roomId of allowedRoomIds(stats)) {
    if ((await membershipOf(q, roomId, userId))?.membership === "join") return true;
  }
  return false;
}
