// What the client API needs from federation for memberships in rooms this
// server is not in, and for invites of other servers' users
// (federation/membership/remote-membership.ts provides it). Errors are
// already the Matrix errors a client should see.
import type { RoomEvent } from "../protocol/events.ts";
import type { JsonObject } from "../protocol/json.ts";
import type { RoomVersion } from "../protocol/room-versions.ts";

export interface RemoteMembershipPort {
  join(roomId: string, userId: string, servers: readonly string[], content: JsonObject): Promise<void>;
  leave(roomId: string, userId: string, servers: readonly string[], content: JsonObject): Promise<void>;
  knock(roomId: string, userId: string, servers: readonly string[], content: JsonObject): Promise<void>;
  countersignInvite(version: RoomVersion, invite: RoomEvent): Promise<RoomEvent>;
}
