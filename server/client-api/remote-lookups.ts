// What the client API needs from federation to answer about other servers'
// users and aliases (federation/remote-queries.ts provides it). Errors are
// already the Matrix errors a client should see.
import type { JsonObject } from "../protocol/json.ts";
export interface RemoteLookups {
  profile(userId: string, field?: "displayname" | "avatar_url"): Promise<{ displayname: string | null; avatarUrl: string | null }>;
  directory(alias: string): Promise<{ roomId: string; servers: string[] }>;
  /** Another server's published room directory: a POST /publicRooms body, answered as it answers. */
  publicRooms(server: string, request: JsonObject): Promise<JsonObject>;
}
