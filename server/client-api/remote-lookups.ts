// What the client API needs from federation to answer about other servers'
// users and aliases (federation/remote-queries.ts provides it). Errors are
// already the Matrix errors a client should see.
export interface RemoteLookups {
  profile(userId: string, field?: "displayname" | "avatar_url"): Promise<{ displayname: string | null; avatarUrl: string | null }>;
  directory(alias: string): Promise<{ roomId: string; servers: string[] }>;
}
